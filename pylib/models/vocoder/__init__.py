"""Neural vocoders; importing this package registers them in pylib.registry.MODELS."""

from pylib.models.vocoder import (
    hifigan,  # noqa: F401
    nsf,  # noqa: F401
    seed_nsf,  # noqa: F401  (registers the seed NSF checkpoint layouts)
)
