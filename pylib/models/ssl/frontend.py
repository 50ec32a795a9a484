"""SSL front end: a pretrained wav2vec 2.0 / XLSR, HuBERT or WavLM model from a local checkpoint,
as a module `wav (B, T) -> (feats, frame_lengths)` that countermeasure back ends build on.

The checkpoint is a local Hugging Face folder (config.json + weights) or a fairseq `.pt`, converted
in memory by pylib.models.ssl.fairseq. Nothing is ever downloaded. `transformers` is imported only
when a front end is built, so that importing this module stays cheap.

What matches the seed (project/07-asvspoof-ssl, `SSLModel.extract_feat`): fairseq's
`model(wav, mask=False, features_only=True)['x']` is the last transformer layer's output (after the
final layer norm for layer-norm-first models such as XLSR), i.e. `layers: last` here; the seed feeds
the raw, zero-padded waveform with no padding mask and no per-utterance normalisation, which are
the defaults (`padding_mask: false`, `normalize: false`); when fine-tuned, fairseq scales the
gradient of the convolutional feature encoder by the checkpoint's `feature_grad_mult` (0.1 for
XLSR), which `feature_grad_mult: null` reproduces.
"""

import contextlib
import dataclasses
import math
from typing import Literal

import torch
from torch import nn

from pylib.errors import ConfigError, UserError
from pylib.models.ssl.checkpoint import parse_layers, resolve_kind, ssl_dims  # noqa: F401 (re-exported)

# model_type of an HF config.json -> the transformers class name of its bare model.
HF_MODELS = {"wav2vec2": "Wav2Vec2Model", "hubert": "HubertModel", "wavlm": "WavLMModel"}


@dataclasses.dataclass
class SSLFrontendConfig:
    path: str = ""  # local HF folder (config.json + weights) or fairseq checkpoint .pt
    kind: Literal["auto", "hf", "fairseq"] = "auto"  # auto: a folder is hf, a file is fairseq
    layers: str | int = "last"  # last | all (every hidden state, CNN projection first) | an index into them
    finetune: bool = False  # false: frozen, eval mode, no autograd graph; true: trained (own param group)
    padding_mask: bool = False  # true: attention mask from lengths (layer-norm CNN); false: zero pad (seed)
    normalize: bool = False  # true: each utterance to zero mean, unit variance; false: raw (seed)
    feature_grad_mult: float | None = None  # fine-tuning: CNN gradient scale; null: the checkpoint's, else 1


def _model_class(config, where):
    import transformers

    name = HF_MODELS.get(getattr(config, "model_type", None))
    if name is None:
        raise ConfigError(
            f"{where}: model_type {getattr(config, 'model_type', None)!r} is not a supported SSL model "
            f"(supported: {', '.join(HF_MODELS)})"
        )
    return getattr(transformers, name)


@contextlib.contextmanager
def quiet_transformers():
    """transformers logs every unused pre-training weight (quantizer, project_q); keep it quiet."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def load_ssl_config(path, kind="auto", where="ssl.path"):
    """The transformers config of a checkpoint, without its weights (dims for stage 2)."""
    kind = resolve_kind(path, kind, where)
    if kind == "fairseq":
        from pylib.models.ssl.fairseq import read_fairseq_config

        return read_fairseq_config(path)
    import transformers

    with quiet_transformers():
        try:
            return transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as e:
            raise UserError(f"{where}: {path}/config.json is not a usable model config ({e})") from None


def load_ssl_model(path, kind="auto", where="ssl.path"):
    """The bare transformers model (Wav2Vec2Model, HubertModel or WavLMModel) of a local checkpoint."""
    kind = resolve_kind(path, kind, where)
    if kind == "fairseq":
        from pylib.models.ssl.fairseq import build_model, convert_fairseq

        return build_model(*convert_fairseq(path))
    config = load_ssl_config(path, "hf", where)
    cls = _model_class(config, where)
    with quiet_transformers():
        try:
            return cls.from_pretrained(str(path), config=config, local_files_only=True)
        except OSError as e:
            raise UserError(
                f"{where}: {path} holds no loadable weights ({' '.join(str(e).split())}); it needs "
                f"model.safetensors or pytorch_model.bin beside config.json"
            ) from None


class _GradScale(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient (fairseq's GradMultiply)."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


class SSLFrontend(nn.Module):
    """wav (B, T) float, lengths (B,) | None -> feats (B, N, D) (layers last/int) or (B, N, L, D)
    (layers all, L = transformer layers + 1, as transformers' hidden_states: 0 is the input of the
    first transformer layer (CNN, projection, positional convolution), i the output of layer i, the
    last one after the final layer norm where the model has one, i.e. equal to `last`),
    frame_lengths (B,).

    Attributes: out_dim (D), n_layers (L), frame_shift (samples per frame), finetune. A frozen front
    end (finetune false) has no trainable parameters, stays in eval mode when its parent trains and
    builds no autograd graph.
    """

    def __init__(self, model, cfg, where="ssl"):
        super().__init__()
        self.model = model
        conf = model.config
        conf.apply_spec_augment = False  # the seed calls fairseq with mask=False: no time/channel masking
        self.out_dim = int(conf.hidden_size)
        self.n_layers = int(conf.num_hidden_layers) + 1
        self.frame_shift = int(math.prod(conf.conv_stride))
        self.finetune = bool(cfg.finetune)
        self.layers = parse_layers(cfg.layers, self.n_layers, where)
        self.use_mask = bool(cfg.padding_mask) and getattr(conf, "feat_extract_norm", "group") == "layer"
        self.normalize = bool(cfg.normalize)
        mult = cfg.feature_grad_mult
        self.feature_grad_mult = float(getattr(conf, "feature_grad_mult", 1.0) if mult is None else mult)
        if not self.finetune:
            self.model.requires_grad_(False)
            self.model.eval()
        elif self.feature_grad_mult != 1.0:
            self.model.feature_extractor.register_forward_hook(self._scale_cnn_grad)

    def _scale_cnn_grad(self, module, inputs, output):
        return _GradScale.apply(output, self.feature_grad_mult)

    def train(self, mode=True):
        super().train(mode)
        if not self.finetune:
            self.model.eval()
        return self

    def frame_lengths(self, lengths):
        """Number of frames of waveforms of `lengths` samples (LongTensor in, LongTensor out)."""
        return self.model._get_feat_extract_output_lengths(lengths).long()

    def _prepare(self, wav, lengths):
        if wav.ndim != 2:
            raise ValueError(f"SSLFrontend expects wav of shape (batch, samples), got {tuple(wav.shape)}")
        param = next(self.model.parameters())
        wav = wav.to(device=param.device, dtype=param.dtype)
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long, device=wav.device)
        lengths = lengths.to(device=wav.device, dtype=torch.long)
        valid = torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]
        if self.normalize:
            n = lengths.clamp(min=1)[:, None].to(wav.dtype)
            mean = (wav * valid).sum(1, keepdim=True) / n
            var = (((wav - mean) * valid) ** 2).sum(1, keepdim=True) / n
            wav = (wav - mean) / torch.sqrt(var + 1e-5) * valid
        return wav, lengths, (valid.long() if self.use_mask else None)

    def forward(self, wav, lengths=None):
        wav, lengths, mask = self._prepare(wav, lengths)
        want_all = self.layers != "last"
        grad = contextlib.nullcontext() if self.finetune else torch.no_grad()
        with grad:
            out = self.model(wav, attention_mask=mask, output_hidden_states=want_all, return_dict=True)
        if self.layers == "last":
            feats = out.last_hidden_state
        else:
            # transformers 5 records each layer's raw output; the last state is taken after the
            # final layer norm of layer-norm-first models (as transformers 4 did, and as fairseq's 'x')
            states = [*out.hidden_states[:-1], out.last_hidden_state]
            feats = torch.stack(states, dim=2) if self.layers == "all" else states[self.layers]
        frames = self.frame_lengths(lengths).clamp(max=feats.shape[1])
        return feats, frames


def build_ssl_frontend(cfg, where="ssl"):
    """SSLFrontendConfig (or its dict) -> SSLFrontend, loaded from the local checkpoint cfg.path."""
    if isinstance(cfg, dict):
        from pylib.config import from_dict

        cfg = from_dict(SSLFrontendConfig, cfg, where)
    model = load_ssl_model(cfg.path, cfg.kind, f"{where}.path")
    return SSLFrontend(model, cfg, where)
