"""Spoofing countermeasures: the LCNN family (`lcnn`), RawNet2 (`rawnet2`) and import of
project-NN-Pytorch-scripts models. Listed by name in `pylib.models.catalogue`."""
