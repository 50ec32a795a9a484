"""Every model nnsp ships: the `model: {name: ...}` of a recipe config -> its class.

To add a model: write its module under pylib/models/ (a class with a `Config` dataclass, built as
`cls(config, spec)`) and add one line below. A model file missing here fails
tests/test_layers.py, not a user's run. The modules are imported only when a model is asked for.

Code outside nnsp needs no line here: the entry points' `--import MODULE` adds the models of the
module's `CATALOGUE = {name: class}` dict, and a config may name a class of an imported module as
"package.module:Class".
"""

import importlib

from pylib.errors import ConfigError
from pylib.registry import Catalogue

CATALOGUE = Catalogue(
    "model",
    {
        # countermeasures
        "lcnn": "pylib.models.cm.lcnn:LcnnCM",
        "rawnet2": "pylib.models.cm.rawnet2:RawNet2CM",
        "ssl_cm": "pylib.models.cm.ssl_cm:SslCM",
        # vocoders: the NSF family
        "hn_sinc_nsf": "pylib.models.vocoder.nsf:HnSincNsf",
        "hn_nsf": "pylib.models.vocoder.nsf:HnNsf",
        "cyc_noise_nsf": "pylib.models.vocoder.nsf:CycNoiseNsf",
        "hn_sinc_nsf_hifigan": "pylib.models.vocoder.nsf_gan:HnSincNsfHifigan",
        # vocoders: HiFi-GAN
        "hifigan": "pylib.models.vocoder.hifigan:Hifigan",
        "nsf_hifigan": "pylib.models.vocoder.hifigan:NsfHifigan",
        # vocoders: flows (WaveGlow; WaveGlow-2 is coupling_net: legacy)
        "waveglow": "pylib.models.vocoder.waveglow:WaveGlow",
        # vocoders: autoregressive
        "wavenet": "pylib.models.vocoder.wavenet:WaveNet",
        "ilpcnet": "pylib.models.vocoder.ilpcnet:ILPCNet",
        # voice conversion: flows
        "blow": "pylib.models.vocoder.blow:Blow",
    },
    where="pylib/models/catalogue.py",
)

# Modules that declare seed (project-NN-Pytorch-scripts) architectures with
# `pylib.models.seed_import.register_seed_arch`; seed_import imports them all before detecting one.
SEED_ARCH_MODULES = (
    "pylib.models.cm.import_project_nn",
    "pylib.models.cm.rawnet2",
    "pylib.models.cm.ssl_cm_seed",
    "pylib.models.vocoder.seed_nsf",
    "pylib.models.vocoder.nsf_gan",
    "pylib.models.vocoder.seed_waveglow",
    "pylib.models.vocoder.seed_wavenet",
    "pylib.models.vocoder.seed_ilpcnet",
    "pylib.models.vocoder.seed_blow",
)


def get_model_class(name):
    """The class of model `name` (a catalogue name or "package.module:Class"); else a ConfigError
    listing the known names and saying where to add one."""
    return CATALOGUE.get(name)


def model_names():
    return CATALOGUE.names()


def model_lookup(imports=()):
    """name -> class over the catalogue plus the `CATALOGUE` dicts of the modules `imports` (what the
    entry points' `--import MODULE` names). The engine is handed this function: it never imports
    model code itself."""
    extra = {}
    for module in imports:
        mod = importlib.import_module(module)
        for name, cls in (getattr(mod, "CATALOGUE", None) or {}).items():
            if name in CATALOGUE or (name in extra and extra[name] is not cls):
                raise ConfigError(
                    f"--import {module}: its model {name!r} is already named elsewhere (known: "
                    f"{', '.join(model_names())}); give it another name"
                )
            extra[name] = cls
    if not extra:
        return get_model_class

    def lookup(name):
        if name in extra:
            return extra[name]
        try:
            return get_model_class(name)
        except ConfigError as e:
            raise ConfigError(f"{e} (models of --import: {', '.join(sorted(extra))})") from None

    return lookup
