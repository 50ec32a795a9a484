"""RawNet2 countermeasure (model name `rawnet2`), as project-NN-Pytorch-scripts 03-asvspoof-mega/rawnet2.

Reads the raw waveform `batch[input]` (B, T, 1) with `batch[input + "_len"]` (B,) and, for
training, `batch["label"]` (B,) (1 = bona fide, 0 = spoof). Network (Tak et al., "End-to-end
anti-spoofing with RawNet2", ICASSP 2021, in the seed's form, sandbox/block_rawnet.py `RawNet`):

  fixed sinc band-pass filters (mel-spaced cut-offs, Hamming window, no padding)
  -> BatchNorm -> SELU
  -> residual blocks, each followed by FMS (filter-wise feature-map scaling: x * s + s, with
     s = sigmoid(linear(time average of x)))
  -> BatchNorm -> SELU -> GRU -> last frame -> linear embedding -> linear, two logits.

Training (`forward`, train mode) runs the padded batch as one tensor and takes the cross entropy
of the two logits, as the seed does (its trials are consecutive 64600-sample segments, zero-padded
to the longest in the batch; the seed's model ignores lengths). Scoring (`infer`, and the dev loss
in eval mode) treats every utterance alone, as the seed's `Model.forward` in eval mode: shorter
than `seg_len` samples, it is scored whole; otherwise it is cut into floor(T / seg_len)
consecutive segments (the rest is dropped) whose logits are averaged. The score is the bona fide
logit (the seed prints `score[-1]`, the raw logit of class 1, no softmax).

Two departures of the seed from the ASVspoof 2021 RawNet2 baseline (asvspoof-challenge/2021,
LA/Baseline-RawNet2/model.py) are kept by default and can be switched to the baseline's form:
`sinc_abs_pool` (the baseline takes |x| and max-pools by 3 after the sinc filters; the seed does
neither) and `block_lrelu` (the baseline has a LeakyReLU between a block's BatchNorm and its second
convolution; the seed has none).
"""

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pylib.config import take_facts
from pylib.contracts import Countermeasure, LossModel
from pylib.errors import ConfigError, DataError
from pylib.models.seed_import import SeedArch, register_seed_arch


@dataclass
class RawNet2Config:
    input: str = "wav"  # batch key of the waveform (the data section's input name)
    # Hz, taken from the data spec (features.sample_rate; leave it out): the sinc cut-offs are
    # mel-spaced over 0 .. sample_rate // 2
    sample_rate: int | None = None
    # seed: 03-asvspoof-mega/rawnet2/*/model.py m_filter_num = 20, m_filter_len = 1025
    sinc_filters: int = 20  # sinc band-pass filters
    sinc_kernel: int = 1025  # taps per filter; an even value is raised by one (odd, symmetric filters)
    sinc_trainable: bool = False  # seed: fixed (block_rawnet.RawNet: SincConv2 flag_trainable=False)
    sinc_abs_pool: bool = False  # seed: false; true = |x| and max-pool 3 after the sinc filters (2021 code)
    # seed model.py m_res_ch_1 = 128 (two blocks), m_res_ch_2 = 512 (four blocks)
    res_channels: list[int] = field(default_factory=lambda: [128, 128, 512, 512, 512, 512])  # block outputs
    block_lrelu: float | None = None  # seed: none; a slope adds LeakyReLU(slope) after a block's mid BN
    bn_lrelu: float = 0.3  # LeakyReLU slope after a block's input BatchNorm (block_rawnet.Residual_block)
    gru_hidden: int = 256  # seed model.py m_gru_node
    gru_layers: int = 3  # seed model.py m_gru_layer
    emb_dim: int = 64  # seed model.py m_emb_dim: linear embedding before the output layer
    seg_len: int = 64600  # scoring segment in samples (seed model.py: prj_conf.truncate_seq, default 64600)

    def __post_init__(self):
        for name in ("sinc_filters", "sinc_kernel", "gru_hidden", "gru_layers", "emb_dim", "seg_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if not self.res_channels or any(c < 1 for c in self.res_channels):
            raise ConfigError(
                f"model.res_channels must be a non-empty list of positive widths, got {self.res_channels}"
            )
        if self.sample_rate is not None and self.sample_rate < 2:
            raise ConfigError(f"model.sample_rate must be >= 2, got {self.sample_rate}")
        if self.seg_len < self.min_samples:
            raise ConfigError(
                f"model.seg_len {self.seg_len} is shorter than the {self.min_samples} samples the network "
                f"needs (sinc kernel {self.kernel} + 3^{self.pools} pooling); raise seg_len"
            )

    @property
    def kernel(self):
        return self.sinc_kernel + 1 - self.sinc_kernel % 2

    @property
    def pools(self):
        return len(self.res_channels) + int(self.sinc_abs_pool)

    @property
    def min_samples(self):
        """Shortest input that leaves one frame for the GRU."""
        return self.kernel - 1 + 3**self.pools


def mel_sinc_filters(n_filters, kernel, sample_rate):
    """(n_filters, kernel) float32 Hamming-windowed band-pass filters with mel-spaced cut-offs.

    Band i passes [f_i, f_i+1] of n_filters + 1 cut-offs evenly spaced on the mel scale
    2595 log10(1 + f / 700) between 0 Hz and sample_rate // 2 (sandbox/block_rawnet.py SincConv2).
    As in the seed, the sinc argument is formed in float32 (its time axis is a float32 tensor);
    the rest is float64, rounded to float32 at the end.
    """
    top = 2595.0 * np.log10(1.0 + (sample_rate // 2) / 700.0)
    cut = 700.0 * (10.0 ** (np.linspace(0.0, top, n_filters + 1) / 2595.0) - 1.0)
    half = (kernel - 1) / 2
    t = torch.arange(-half, half + 1)  # float32, as the seed's time axis
    window = np.hamming(kernel)

    def lowpass(fc):
        arg = (2.0 * float(fc) * t / sample_rate).numpy()  # float32
        return (2.0 * fc / sample_rate) * np.sinc(arg).astype(np.float64)

    bank = np.stack([window * (lowpass(cut[i + 1]) - lowpass(cut[i])) for i in range(n_filters)])
    return torch.from_numpy(bank.astype(np.float32))


# sinc filters at least this long run as FFT products: the 1025-tap bank costs 41 k multiply-adds
# per sample as a direct convolution (~10 % of the scoring time of the published model, measured
# 5 s against 1.4 s for 8 x 64600 samples on 2 threads), a few hundred as FFTs
FFT_MIN_TAPS = 64


def fast_len(n):
    """Smallest 2^a 3^b 5^c >= n (a length the FFT handles quickly)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 * (1 << max(0, (-(-n // p35) - 1).bit_length()))
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def sinc_conv(x, filters):
    """Valid cross-correlation of x (B, T) with every filter (F, K) -> (B, F, T - K + 1): what
    conv1d without padding computes (the seed's SincConv2 with flag_pad=False), as FFT products for
    long filters. The circular product of length N >= T wraps only into the first K - 1 outputs of
    the full convolution, which are cut away."""
    k, t = filters.shape[-1], x.shape[-1]
    if k < FFT_MIN_TAPS:
        return F.conv1d(x.unsqueeze(1), filters.unsqueeze(1))
    dtype = x.dtype
    if dtype in (torch.float16, torch.bfloat16):
        x, filters = x.float(), filters.float()
    n = fast_len(t)
    spec = torch.fft.rfft(x, n).unsqueeze(1) * torch.fft.rfft(filters.flip(-1), n)
    return torch.fft.irfft(spec, n)[..., k - 1 : t].to(dtype).contiguous()  # BatchNorm's fast path


class FMS(nn.Module):
    """Filter-wise feature-map scaling on (B, C, T): x * s + s, s = sigmoid(W mean_t(x) + b)."""

    def __init__(self, channels):
        super().__init__()
        self.linear = nn.Linear(channels, channels)

    def forward(self, x):
        s = torch.sigmoid(self.linear(x.mean(dim=2))).unsqueeze(2)
        return torch.addcmul(s, x, s)


class ResBlock(nn.Module):
    """[BN, LeakyReLU] -> conv3 -> BN [-> LeakyReLU] -> conv3, plus the (1x1-projected) input,
    max-pooled by 3, then FMS. Works on (B, C, T)."""

    def __init__(self, c_in, c_out, bn_input, bn_slope, mid_slope):
        super().__init__()
        self.bn_in = nn.BatchNorm1d(c_in) if bn_input else None
        self.bn_slope = bn_slope
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=1)
        self.bn = nn.BatchNorm1d(c_out)
        self.mid_slope = mid_slope
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None
        self.fms = FMS(c_out)

    def forward(self, x):
        h = x if self.bn_in is None else F.leaky_relu(self.bn_in(x), self.bn_slope)
        h = self.bn(self.conv1(h))
        if self.mid_slope is not None:
            h = F.leaky_relu(h, self.mid_slope)
        h = self.conv2(h)
        h += x if self.skip is None else self.skip(x)  # in place: conv2's output is not kept for backward
        return self.fms(F.max_pool1d(h, 3))


class RawNet2CM(nn.Module, LossModel, Countermeasure):
    Config = RawNet2Config

    def __init__(self, cfg: RawNet2Config, spec=None):
        super().__init__()
        self.cfg = cfg
        take_facts(cfg, spec, (("sample_rate", None, None), (None, "input", None)), {"sample_rate": 16000})
        if cfg.sample_rate < 2:
            raise ConfigError(f"features.sample_rate must be >= 2 for rawnet2, got {cfg.sample_rate}")
        filters = mel_sinc_filters(cfg.sinc_filters, cfg.kernel, cfg.sample_rate)
        self.sinc = nn.Parameter(filters.unsqueeze(1), requires_grad=cfg.sinc_trainable)  # (F, 1, K)
        self.sinc_bn = nn.BatchNorm1d(cfg.sinc_filters)
        widths = [cfg.sinc_filters, *cfg.res_channels]
        self.blocks = nn.ModuleList(
            ResBlock(widths[i], widths[i + 1], i > 0, cfg.bn_lrelu, cfg.block_lrelu)
            for i in range(len(cfg.res_channels))
        )
        self.gru_bn = nn.BatchNorm1d(widths[-1])
        self.gru = nn.GRU(widths[-1], cfg.gru_hidden, num_layers=cfg.gru_layers, batch_first=True)
        self.emb = nn.Linear(cfg.gru_hidden, cfg.emb_dim)
        self.out = nn.Linear(cfg.emb_dim, 2)  # logits of (spoof, bona fide)

    # CPU scoring runs equal-length segments in groups of at most this many samples (a bound on
    # memory: 16 segments of 64600 hold ~0.5 GB per 128-channel activation); 8 x 64600 as one batch
    # measured no slower than 2 x 4 or 4 x 2 on 2 threads
    cpu_group_samples = 16 * 64600

    def param_groups(self):
        return {"model": [p for p in self.parameters() if p.requires_grad]}

    def _wave(self, batch):
        key = self.cfg.input
        if key not in batch:
            raise ConfigError(f"model.input {key!r} is not in the batch (keys: {', '.join(sorted(batch))})")
        wav = batch[key]
        if wav.dim() == 3:
            if wav.shape[2] != 1:
                raise ConfigError(
                    f"rawnet2 reads a mono waveform (B, T, 1); batch[{key!r}] has {wav.shape[2]} channels: "
                    f"use a data input with dim: 1"
                )
            wav = wav[..., 0]
        lengths = batch.get(f"{key}_len")
        if lengths is None:
            lengths = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long)
        return wav, lengths.to(wav.device).long()

    def _check_length(self, t, what):
        if t < self.cfg.min_samples:
            raise DataError(
                f"{what} has {t} samples; rawnet2 needs at least {self.cfg.min_samples} (sinc kernel "
                f"{self.cfg.kernel} + 3^{self.cfg.pools} pooling): drop shorter utterances (data.min_len) "
                f"or pad them"
            )

    def logits(self, wav):
        """(B, T) waveform -> (B, 2) logits of (spoof, bona fide), the whole tensor as one input."""
        self._check_length(wav.shape[1], "the input")
        x = sinc_conv(wav, self.sinc[:, 0])
        if self.cfg.sinc_abs_pool:
            x = F.max_pool1d(x.abs(), 3)
        x = F.selu(self.sinc_bn(x))
        for block in self.blocks:
            x = block(x)
        x = F.selu(self.gru_bn(x)).transpose(1, 2)
        h, _ = self.gru(x)
        return self.out(self.emb(h[:, -1]))

    def utterance_logits(self, wav, lengths):
        """(B, 2) logits, each utterance alone: whole if shorter than seg_len, else the mean over
        its floor(T / seg_len) consecutive segments (the seed's scoring)."""
        seg = self.cfg.seg_len
        pieces = {}  # length -> [(utterance, start)]
        counts = []
        for i, n in enumerate(lengths.tolist()):
            n = min(int(n), wav.shape[1])
            if n < seg:
                self._check_length(n, f"utterance {i} of the batch")
                pieces.setdefault(n, []).append((i, 0))
                counts.append(1)
            else:
                pieces.setdefault(seg, []).extend((i, k * seg) for k in range(n // seg))
                counts.append(n // seg)
        total = wav.new_zeros(wav.shape[0], 2)
        for n, items in pieces.items():
            per = len(items)
            if not self.training and wav.device.type == "cpu":
                per = max(1, self.cpu_group_samples // n)
            for j in range(0, len(items), per):
                part = items[j : j + per]
                if len(part) == 1 and part[0][1] == 0 and n == wav.shape[1]:
                    x = wav[part[0][0] : part[0][0] + 1]
                else:
                    x = torch.stack([wav[i, s : s + n] for i, s in part])
                idx = torch.tensor([i for i, _ in part], device=wav.device)
                total = total.index_add(0, idx, self.logits(x))
        return total / torch.tensor(counts, device=wav.device, dtype=total.dtype).unsqueeze(1)

    def forward(self, batch, step=0):
        """Training loss of `batch` (pylib.contracts.LossModel): cross entropy of the labels."""
        wav, lengths = self._wave(batch)
        if "label" not in batch:
            raise ConfigError("the countermeasure needs labels: set `labels: true` on the corpus (utt2label)")
        label = batch["label"].to(wav.device).long()
        logits = self.logits(wav) if self.training else self.utterance_logits(wav, lengths)
        loss = F.cross_entropy(logits, label)  # seed model.py Loss: torch.nn.CrossEntropyLoss()
        return loss, {"loss": float(loss.detach())}

    @torch.inference_mode()
    def infer(self, batch):
        wav, lengths = self._wave(batch)
        return [float(s) for s in self.utterance_logits(wav, lengths)[:, 1]]


# ---- import of the seed's checkpoints (pylib.models.seed_import) ----------------------------------

_SEED = "m_rawnet."
# the seed Model's data-normalisation parameters: its forward never applies them (0 and 1 as saved)
_SEED_IGNORED = {"input_mean", "input_std", "output_mean", "output_std"}


def _seed_rename(key, n_blocks):
    """Seed RawNet2 key -> nnsp key (None: no counterpart). The seed's m_resgroup is a Sequential
    of BatchNorm, SELU, then (Residual_block, FMS) pairs: block j sits at 2 + 2j, its FMS at 3 + 2j."""
    if not key.startswith(_SEED):
        return None
    rest = key[len(_SEED):]
    fixed = {"m_sinc_conv.m_filters": "sinc"}
    if rest in fixed:
        return fixed[rest]
    for src, dst in (("m_before_gru.0.", "gru_bn."), ("m_gru.", "gru."), ("m_emb.", "emb."),
                     ("m_output.", "out.")):
        if rest.startswith(src):
            return dst + rest[len(src):]
    if not rest.startswith("m_resgroup."):
        return None
    idx, _, tail = rest[len("m_resgroup."):].partition(".")
    if not idx.isdigit():
        return None
    idx = int(idx)
    if idx == 0:
        return "sinc_bn." + tail
    j, odd = divmod(idx - 2, 2)
    if idx < 2 or j >= n_blocks:
        return None
    if odd:
        if not tail.startswith("m_dim_change."):
            return None
        return f"blocks.{j}.fms.linear." + tail[len("m_dim_change."):]
    for src, dst in (("bn1.0.", "bn_in."), ("conv.0.", "conv1."), ("conv.1.", "bn."), ("conv.2.", "conv2."),
                     ("dim_change.", "skip.")):
        if tail.startswith(src):
            return f"blocks.{j}.{dst}" + tail[len(src):]
    return None


def _seed_blocks(sd):
    """Output widths of the seed's residual blocks, in order (from their first convolutions)."""
    widths, idx = [], 2
    while f"{_SEED}m_resgroup.{idx}.conv.0.weight" in sd:
        widths.append(int(sd[f"{_SEED}m_resgroup.{idx}.conv.0.weight"].shape[0]))
        idx += 2
    return widths


def _seed_matches(sd):
    filt = sd.get(_SEED + "m_sinc_conv.m_filters")
    out = sd.get(_SEED + "m_output.weight")
    return (filt is not None and filt.dim() == 3 and out is not None and out.shape[0] == 2
            and _SEED + "m_gru.weight_ih_l0" in sd and bool(_seed_blocks(sd)))


def seed_config(sd, where="checkpoint"):
    """The `rawnet2` model config of a seed RawNet2 state dict, from its shapes."""
    if not _seed_matches(sd):
        raise DataError(
            f"{where}: not a RawNet2 of project-NN-Pytorch-scripts 03-asvspoof-mega/rawnet2 (needs "
            f"{_SEED}m_sinc_conv.m_filters, {_SEED}m_gru.*, a two-class {_SEED}m_output; keys start "
            f"with: {', '.join(list(sd)[:5])})"
        )
    filt = sd[_SEED + "m_sinc_conv.m_filters"]
    if filt.shape[1] != 1:
        raise DataError(f"{where}: sinc filters of shape {tuple(filt.shape)}: rawnet2 takes a mono waveform")
    layers = len({k.split("_l")[-1] for k in sd if k.startswith(_SEED + "m_gru.weight_ih_l")})
    # seed 01_config_rawnet.py: wav_samp_rate = 16000, truncate_seq = 64600 (= model.py's default)
    return RawNet2Config(
        input="wav", sample_rate=16000, sinc_filters=int(filt.shape[0]), sinc_kernel=int(filt.shape[2]),
        sinc_trainable=False, sinc_abs_pool=False, res_channels=_seed_blocks(sd), block_lrelu=None,
        bn_lrelu=0.3, gru_hidden=int(sd[_SEED + "m_gru.weight_hh_l0"].shape[1]), gru_layers=layers,
        emb_dim=int(sd[_SEED + "m_emb.weight"].shape[0]), seg_len=64600,
    )


def convert_seed_state_dict(sd, where="checkpoint"):
    """(nnsp config dict, nnsp state dict) of a seed RawNet2 state dict."""
    import dataclasses

    cfg = seed_config(sd, where)
    ours = RawNet2CM(cfg).state_dict()
    new, unknown = {}, []
    for k, v in sd.items():
        if k in _SEED_IGNORED:
            continue
        nk = _seed_rename(k, len(cfg.res_channels))
        if nk is None or nk not in ours:
            unknown.append(k)
            continue
        if ours[nk].shape != v.shape:
            raise DataError(
                f"{where}: {k} has shape {tuple(v.shape)}, expected {tuple(ours[nk].shape)} for rawnet2"
            )
        new[nk] = v.float() if v.is_floating_point() else v
    missing = sorted(set(ours) - set(new))
    if unknown or missing:
        raise DataError(
            f"{where}: does not match the seed's rawnet2: unexpected keys {unknown[:5]}, missing "
            f"{missing[:5]}; pass the --arch the checkpoint was trained with"
        )
    model = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "sample_rate"}  # a data fact
    config = {
        "features": {"sample_rate": cfg.sample_rate,  # FLOAT: the seed feeds unquantised samples
                     "extractors": {"wav": {"type": "wave", "format": "wav", "subtype": "FLOAT"}}},
        "data": {"inputs": [{"name": "wav", "norm": False}], "outputs": []},
        "model": {"name": "rawnet2", **model},
    }
    return config, new


register_seed_arch(SeedArch(
    name="rawnet2", family="cm", matches=_seed_matches, convert=convert_seed_state_dict,
    description="RawNet2 (fixed sinc filters, residual blocks with FMS, GRU), two-class cross entropy",
))
