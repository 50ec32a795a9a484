"""Locate and import the reference implementations in ../shared/peers (tests and bench only).

The seed's model files import `core_scripts`, `sandbox` and a module-level `config` (`prj_conf`);
`load_seed_model_module` puts the seed on sys.path, installs a stand-in `config` module with the
attributes given, and imports the model file under a unique name so that several seed projects
can be loaded side by side. Peer code is never edited: adapt around it here or in the test.
"""

import argparse
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT.parent / "shared" / "peers"
SEED_DIR = Path(os.environ.get("NNSP_SEED_DIR", PEERS / "project-NN-Pytorch-scripts"))
HIFIGAN_DIR = Path(os.environ.get("NNSP_HIFIGAN_DIR", PEERS / "hifi-gan"))


def have_seed():
    return (SEED_DIR / "core_scripts").is_dir() and (SEED_DIR / "project").is_dir()


def have_hifigan():
    return (HIFIGAN_DIR / "models.py").is_file()


def require_seed():
    """Skip the calling test, with a message, when the seed toolkit is not there."""
    if not have_seed():
        pytest.skip(f"seed toolkit not found at {SEED_DIR}: set NNSP_SEED_DIR to a checkout of "
                    f"project-NN-Pytorch-scripts to run the parity tests")


def require_hifigan():
    if not have_hifigan():
        pytest.skip(f"jik876/hifi-gan not found at {HIFIGAN_DIR}: set NNSP_HIFIGAN_DIR to a checkout "
                    f"to run the HiFi-GAN parity tests")


def _on_path(path):
    path = str(path)
    if path not in sys.path:
        sys.path.insert(0, path)


def stand_in_config(**attrs):
    """A `config` module (the seed's prj_conf) with the given attributes and the usual defaults."""
    mod = types.ModuleType("config")
    defaults = dict(optional_argument=[""], input_reso=[80, 80], wav_samp_rate=16000, input_dims=[80, 1],
                    output_dims=[1], input_norm=[True, True], output_norm=[False], truncate_seq=None,
                    minimum_len=None)
    for k, v in {**defaults, **attrs}.items():
        setattr(mod, k, v)
    return mod


def seed_args(**kw):
    """The argparse namespace the seed's Model reads (only a few attributes are ever touched)."""
    base = dict(temp_flag="", temp_flag_2="", seed=1, epochs=1, lr=1e-4, no_best_epochs=1,
                batch_size=1)
    return argparse.Namespace(**{**base, **kw})


def load_seed_model_module(relpath, **config_attrs):
    """Import `project/<relpath>` (e.g. "01-nsf/hn-sinc-nsf-9/model.py") from the seed.

    A fresh stand-in `config` is installed first; the module is cached per (relpath, config)."""
    require_seed()
    _on_path(SEED_DIR)
    path = SEED_DIR / "project" / relpath
    tag = abs(hash(repr(sorted(config_attrs.items()))))
    key = "seed_" + "".join(c if c.isalnum() else "_" for c in relpath) + f"_{tag}"
    if key in sys.modules:
        return sys.modules[key]
    sys.modules["config"] = stand_in_config(**config_attrs)
    spec = importlib.util.spec_from_file_location(key, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[key] = mod
    spec.loader.exec_module(mod)
    return mod


def load_seed_module(dotted):
    """A seed library module such as "sandbox.util_frontend" or "core_modules.p2sgrad"."""
    require_seed()
    _on_path(SEED_DIR)
    return importlib.import_module(dotted)


def load_hifigan_models():
    """jik876/hifi-gan's models.py (and its AttrDict) as modules."""
    require_hifigan()
    mods = {}
    for name in ("env", "utils", "models"):
        key = f"jik876_{name}"
        if key not in sys.modules:
            # models.py does `from utils import ...`: give it the peer's utils under that name
            spec = importlib.util.spec_from_file_location(key, HIFIGAN_DIR / f"{name}.py")
            mod = importlib.util.module_from_spec(spec)
            saved = sys.modules.get("utils")
            if name == "models":
                sys.modules["utils"] = sys.modules["jik876_utils"]
            try:
                spec.loader.exec_module(mod)
            finally:
                if name == "models":
                    if saved is None:
                        sys.modules.pop("utils", None)
                    else:
                        sys.modules["utils"] = saved
            sys.modules[key] = mod
        mods[name] = sys.modules[key]
    return mods


def _normalize_on_first_call(*args, **kwargs):
    """librosa.util.normalize, imported when first called (jik876's MelDataset calls it; its
    mel_spectrogram never does)."""
    from librosa.util import normalize

    return normalize(*args, **kwargs)


def exec_hifigan_meldataset(key):
    """jik876/hifi-gan's meldataset.py executed as module `key` (not put in sys.modules).

    Its `from librosa.util import normalize` gets a stand-in that imports the real one when
    called: importing librosa.util.utils compiles its numba kernels, ~30 s of CPU per process on a
    machine with a cold numba cache (a fresh CI venv), and mel_spectrogram does not need it."""
    spec = importlib.util.spec_from_file_location(key, HIFIGAN_DIR / "meldataset.py")
    mod = importlib.util.module_from_spec(spec)
    import librosa.filters  # noqa: F401  (the real one, before librosa.util is stood in for)

    real = sys.modules.get("librosa.util")
    if "librosa.util.utils" not in sys.modules:  # (hasattr on the lazy real one would import it)
        stand_in = types.ModuleType("librosa.util")
        stand_in.normalize = _normalize_on_first_call
        sys.modules["librosa.util"] = stand_in
    try:
        spec.loader.exec_module(mod)
    finally:
        if real is None:
            sys.modules.pop("librosa.util", None)
        else:
            sys.modules["librosa.util"] = real
    return mod


def load_hifigan_meldataset():
    """jik876/hifi-gan's meldataset.py (mel_spectrogram) as a module; it imports librosa and scipy."""
    require_hifigan()
    key = "jik876_meldataset"
    if key not in sys.modules:
        sys.modules[key] = exec_hifigan_meldataset(key)
    return sys.modules[key]
