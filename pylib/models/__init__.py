"""pylib.models: importing this package registers every model in pylib.registry.MODELS."""

import pylib.models.cm  # noqa: F401  (countermeasures)
import pylib.models.vocoder  # noqa: F401  (NSF family, HiFi-GAN)
