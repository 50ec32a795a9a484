"""pylib.models: registers every model in pylib.registry.MODELS on import."""

import pylib.models.cm  # noqa: F401  (registers the countermeasures)
