"""Name -> implementation registries for models, features and losses.

Sits below both `models` and `engine`: the engine builds a model by name without importing
`pylib.models`; entry points import `pylib.models` so that its modules register themselves.
"""

from pylib.errors import ConfigError


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name):
        def deco(obj):
            if name in self._items and self._items[name] is not obj:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._items[name] = obj
            return obj

        return deco

    def get(self, name):
        if name not in self._items:
            known = ", ".join(sorted(self._items)) or "(none registered)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return self._items[name]

    def names(self):
        return sorted(self._items)

    def __contains__(self, name):
        return name in self._items


MODELS = Registry("model")
FEATURES = Registry("feature")
LOSSES = Registry("loss")


def register_model(name):
    """Class decorator: `@register_model("hn_sinc_nsf")`. The class has a `Config` dataclass."""
    return MODELS.register(name)


def register_feature(name):
    return FEATURES.register(name)


def register_loss(name):
    return LOSSES.register(name)
