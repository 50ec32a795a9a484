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


class SeedSpeakerMap:
    """Stand-in for the speaker map of the seed's Blow config (project/05-nn-vocoders/blow/config.py
    VCTKSpeakerMap): indices in the order of `speakers`, one more for an unseen speaker; the speaker
    of a file-info string `idx,<spk>_<utt>,...` is the part of its name before `_`."""

    def __init__(self, speakers):
        self.speakers = list(speakers)

    def num(self):
        return len(self.speakers) + 1

    def get_idx(self, spk):
        return self.speakers.index(spk) if spk in self.speakers else len(self.speakers)

    def parse(self, info, return_idx=True):
        spk = info.split(",")[1].split("_")[0]
        return self.get_idx(spk) if return_idx else spk


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


def seed_project_on_path(relfolder):
    """Put `project/<relfolder>` of the seed on sys.path, for a model.py that imports a sibling file
    (e.g. 05-nn-vocoders/ilpcnet/model.py imports its block_lpcnet.py)."""
    require_seed()
    _on_path(SEED_DIR / "project" / relfolder)


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


# ---- SSL stand-ins (the seed's SSL countermeasures, projects 07, 09, 10) ----------------------------


class TinySSL:
    """Factory namespace for a small randomly initialised SSL-like model shared by the seed and
    nnsp in tests: a strided conv (400 taps, hop 320, as wav2vec 2.0's frame rate) and `layers`
    tanh-linear layers; `hidden(wav)` gives every layer's output (the conv's first)."""

    @staticmethod
    def make(dim=16, layers=2, seed=0):
        import torch

        class _Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv1d(1, dim, 400, stride=320)
                self.layers = torch.nn.ModuleList(torch.nn.Linear(dim, dim) for _ in range(layers))

            def hidden(self, wav):
                h = self.conv(wav.unsqueeze(1)).transpose(1, 2)
                out = [h]
                for lin in self.layers:
                    h = torch.tanh(lin(h))
                    out.append(h)
                return out

        g = torch.get_rng_state()
        torch.manual_seed(seed)
        try:
            return _Tiny()
        finally:
            torch.set_rng_state(g)


def make_standin_frontend(tiny, layers="last", finetune=False):
    """nnsp's SSL front end interface (pylib.models.ssl.frontend SSLFrontend) around a TinySSL:
    forward(wav (B, T), lengths) -> ((B, N, D) or (B, N, L, D), frame counts)."""
    import torch

    class StandInFrontend(torch.nn.Module):
        frame_shift = 320

        def __init__(self):
            super().__init__()
            self.model = tiny
            self.out_dim = tiny.conv.out_channels
            self.n_layers = len(tiny.layers) + 1
            self.finetune = finetune
            self.layers = layers
            if not finetune:
                self.requires_grad_(False)

        def forward(self, wav, lengths=None):
            hs = self.model.hidden(wav)
            feats = hs[-1] if self.layers == "last" else torch.stack(hs, dim=2)
            n = feats.shape[1]
            if lengths is None:
                frames = torch.full((wav.shape[0],), n, dtype=torch.long)
            else:
                frames = ((lengths - 400) // 320 + 1).clamp(min=0, max=n)
            return feats, frames

    return StandInFrontend()


_SSL_QUEUE = []  # the TinySSL models (or factories) the stubs hand out next, in order


def install_ssl_stubs(models):
    """Stand-in `fairseq` and `s3prl.nn` modules in sys.modules, so that the seed's SSL model files
    import without them: fairseq's load_model_ensemble_and_task and s3prl's S3PRLUpstream return
    wrappers around the next TinySSL of `models` (consumed in order; a factory is called). A seed
    module keeps the stub it imported, so the queue is one list, refilled by every call."""
    import torch

    _SSL_QUEUE[:] = list(models)

    def take():
        if not _SSL_QUEUE:
            raise RuntimeError("install_ssl_stubs: the seed built more SSL models than the test gave")
        m = _SSL_QUEUE.pop(0)
        return m if isinstance(m, torch.nn.Module) else m()

    class FairseqWrapper(torch.nn.Module):
        def __init__(self, tiny):
            super().__init__()
            self.tiny = tiny

        def forward(self, x, mask=False, features_only=True):
            return {"x": self.tiny.hidden(x)[-1]}

    class S3prlWrapper(torch.nn.Module):
        def __init__(self, name, path_or_url=None):
            super().__init__()
            self.tiny = take()
            # B3 reads the output dim off fairseq's final projection inside s3prl's upstream
            final = types.SimpleNamespace(in_features=self.tiny.conv.out_channels)
            self.upstream = types.SimpleNamespace(model=types.SimpleNamespace(final_proj=final))

        def forward(self, wav, wav_len):
            hs = self.tiny.hidden(wav)
            return hs, [wav_len] * len(hs)

    fairseq = types.ModuleType("fairseq")
    fairseq.checkpoint_utils = types.SimpleNamespace(
        load_model_ensemble_and_task=lambda paths: ([FairseqWrapper(take())], None, None))
    s3prl = types.ModuleType("s3prl")
    s3prl_nn = types.ModuleType("s3prl.nn")
    s3prl_nn.S3PRLUpstream = S3prlWrapper
    s3prl.nn = s3prl_nn
    sys.modules.update({"fairseq": fairseq, "s3prl": s3prl, "s3prl.nn": s3prl_nn})
