"""Explicit catalogues: name -> "module:Attribute", imported on first use.

A catalogue is a plain dict written in one file (`pylib/models/catalogue.py` for models,
`pylib/features/catalogue.py` for stage-1 extractors); nothing registers itself by being imported.
A name that is not in the catalogue but has the form "package.module:Class" names a class of code
outside nnsp (`model: {name: mylab.models:MyVocoder}`), in a module the process has already
imported (an entry point's `--import MODULE`, or the user's own script): a config, which may come
from a model file, never makes nnsp import a module, so loading a file runs no code of its choice.
"""

import importlib
import sys

from pylib.errors import ConfigError


class Catalogue:
    """kind: "model" | "feature" (for messages); entries: {name: "module:Attribute"};
    where: the file that holds `entries` (named by the unknown-name error)."""

    def __init__(self, kind, entries, where, key="name"):
        self.kind, self.entries, self.where, self.key = kind, dict(entries), where, key
        for name, target in self.entries.items():
            if not isinstance(target, str) or target.count(":") != 1:
                raise ValueError(f"{where}: {kind} {name!r} -> {target!r} is not 'module:Attribute'")

    def names(self):
        return sorted(self.entries)

    def __contains__(self, name):
        return name in self.entries

    def get(self, name):
        """The object of `name` (a catalogue name or 'module:Attribute'); unknown names: ConfigError."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"a {self.kind} `{self.key}` must be a non-empty string, got {name!r}")
        target = self.entries.get(name)
        if target is not None:
            return load_target(target, f"{self.kind} {name!r}")
        if name.count(":") == 1:
            return self._outside(name)
        raise ConfigError(
            f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(self.names())}. "
            f"A new {self.kind} is added to {self.where} (a line name: \"module:Class\"), or "
            f"named as \"package.module:Class\" in the config (a module passed to --import)"
        )

    def _outside(self, name):
        """The class of "package.module:Class" from an already imported module (never imports one)."""
        module, _, attr = name.partition(":")
        mod = sys.modules.get(module)
        if mod is None:
            raise ConfigError(
                f"{self.kind} {name!r}: module {module!r} is not imported; nnsp never imports a module "
                f"that a config names: pass --import {module} (or import it before calling nnsp)"
            )
        cls = getattr(mod, attr, None)
        if not isinstance(cls, type):
            raise ConfigError(f"{self.kind} {name!r}: module {module!r} has no class {attr!r}")
        return cls


def load_target(target, what):
    """Import "module:Attribute" -> the attribute; a missing module or attribute is a ConfigError."""
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is None or not module.startswith(e.name):
            raise  # a module that exists but fails inside: its own error is the useful one
        raise ConfigError(f"{what}: no module {module!r} ({target}); check the name and PYTHONPATH") from None
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ConfigError(f"{what}: module {module!r} has no {attr!r} ({target})") from None
