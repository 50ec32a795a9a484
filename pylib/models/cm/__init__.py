"""Spoofing countermeasures: the LCNN family (`lcnn`) and import of project-NN-Pytorch-scripts models."""

from pylib.models.cm import (
    import_project_nn,  # noqa: F401,E402  (registers seed architectures)
    lcnn,  # noqa: F401  (registers the model)
    rawnet2,  # noqa: F401  (registers rawnet2 and its seed architecture)
)
