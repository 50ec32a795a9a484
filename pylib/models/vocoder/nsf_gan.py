"""hn-sinc-NSF trained as a GAN with HiFi-GAN's discriminators: the seed's hn-sinc-nsf-hifigan.

project-NN-Pytorch-scripts project/01-nsf/hn-sinc-nsf-hifigan (model.py, main.py, 00_demo.sh) and
core_scripts/nn_manager/nn_manager_GAN.py. The model composes nnsp's `hn_sinc_nsf` generator (its
whole config sits at the top of the model section) with the MPD + MSD of `discriminators.py`:

- discriminator loss: LSGAN over MPD and MSD, real and generated each in its own pass
  (ModelDiscriminator.loss_for_D);
- generator loss: LSGAN adversarial + 2 x feature matching (loss_for_G) + 45 x the multi-resolution
  STFT L1 of `aux_stft_loss` (LossAuxGen; an L1 of log power, not the MSE of the plain NSF recipes).

Update order, as f_run_one_epoch_GAN: generate once, update the discriminator on the detached
output, then update the generator through the updated discriminator. nnsp's trainer does this
as a pylib.contracts.GanModel: `generate` once per step, then the losses in `update_order`.
The seed saves the two networks apart (trained_network_G.pt, trained_network_D.pt); see
`convert_seed` for importing them.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

from pylib.contracts import GanModel, Vocoder
from pylib.errors import DataError
from pylib.models.seed_import import SEED_ARCHS, SeedArch, register_seed_arch
from pylib.models.vocoder.discriminators import MPD_CHANNELS, MSD_CHANNELS, HifiganDiscriminator
from pylib.models.vocoder.hifigan import adversarial_terms, discriminator_step
from pylib.models.vocoder.hifigan_import import jik876_discriminator_state
from pylib.models.vocoder.nsf import HnSincNsf, HnSincNsfConfig
from pylib.nn.masks import length_mask

# LossAuxGen's (fft_n, frame_hops, frame_lens) as [n_fft, hop, win] (hn-sinc-nsf-hifigan/model.py)
SEED_AUX_RESOLUTIONS = ([512, 80, 320], [128, 40, 80], [2048, 640, 1920])


def aux_stft_loss(y_hat, y, resolutions=SEED_AUX_RESOLUTIONS, floor=1e-5, lengths=None, windows=None):
    """The seed's LossAuxGen without its weight: sum over resolutions of mean |log(|Y_hat|^2 + floor)
    - log(|Y|^2 + floor)|, centred zero-padded Hann frames. y_hat, y: (B, T) -> scalar.

    With `lengths` (B,) samples, both signals are zeroed from each length on and only frames whose
    centre lies inside count (the seed trains on unpadded equal-length segments: the same mean).
    """
    if y_hat.shape != y.shape or y.dim() != 2:
        raise ValueError(f"expected two (B, T) waveforms of one shape, got {tuple(y_hat.shape)} and "
                         f"{tuple(y.shape)}")
    mask = None
    if lengths is not None and bool((lengths < y.shape[1]).any()):
        keep = length_mask(lengths, y.shape[1]).to(y.dtype)
        y_hat, y = y_hat * keep, y * keep
        mask = lengths
    total = y.new_zeros(())
    for n_fft, hop, win in resolutions:
        window = windows[win] if windows else torch.hann_window(win, dtype=y.dtype, device=y.device)
        window = window.to(y.dtype)
        logs = []
        for x in (y_hat, y):
            s = torch.stft(x, n_fft, hop, win, window=window, center=True, pad_mode="constant",
                           return_complex=True)
            logs.append(torch.log(s.real.square() + s.imag.square() + floor))
        d = torch.abs(logs[0] - logs[1])  # (B, F, N)
        if mask is None:
            total = total + d.mean()
        else:
            valid = (torch.arange(d.shape[-1], device=y.device)[None] * hop < mask[:, None]).to(d.dtype)
            total = total + (d * valid[:, None]).sum() / (valid.sum() * d.shape[1]).clamp(min=1.0)
    return total


@dataclass
class HnSincNsfHifiganConfig(HnSincNsfConfig):
    mpd_periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])  # MultiPeriodDiscriminator
    mpd_channels: list[int] = field(default_factory=lambda: list(MPD_CHANNELS))
    msd_scales: int = 3  # MultiScaleDiscriminator: raw, x2 and x4 average-pooled
    msd_channels: list[int] = field(default_factory=lambda: list(MSD_CHANNELS))
    lambda_aux: float = 45.0  # LossAuxGen.loss_weight
    aux_resolutions: list[list[int]] = field(
        default_factory=lambda: [list(r) for r in SEED_AUX_RESOLUTIONS])  # [n_fft, hop, win] each
    aux_floor: float = 1.0e-5  # LossAuxGen.amp_floor
    lambda_adv: float = 1.0  # generator_loss weight
    lambda_fm: float = 2.0  # feature_loss's factor 2
    # null: each filter block scales its hidden state by 1 / its layers (model.py NeuralFilterBlock
    # scale = 1/len(l_convs): 0.1 harmonic, 0.2 noise); a number: that for every block (hn-sinc-nsf-9: 0.1)
    block_out_scale: float | None = None


class HnSincNsfHifigan(nn.Module, GanModel, Vocoder):
    """`hn_sinc_nsf` generator + HiFi-GAN MPD/MSD; groups "discriminator" then "generator"."""

    Config = HnSincNsfHifiganConfig
    infer_keys = ("infer_seed",)  # inference-only config keys (pylib.contracts.Vocoder.infer_keys)

    def __init__(self, cfg, spec=None):
        super().__init__()
        self.cfg = cfg
        self.generator = HnSincNsf(cfg, spec)
        for stack in (self.generator.harmonic, self.generator.noise):
            for block in stack.blocks:
                block.out_scale = cfg.block_out_scale or 1.0 / len(block.convs)
        self.discriminator = HifiganDiscriminator(cfg.mpd_periods, cfg.mpd_channels, cfg.msd_scales,
                                                  cfg.msd_channels)
        self.aux_resolutions = [tuple(int(v) for v in r) for r in cfg.aux_resolutions]
        for n_fft, hop, win in self.aux_resolutions:
            if not 0 < win <= n_fft or hop <= 0:
                raise ValueError(f"model.aux_resolutions: [{n_fft}, {hop}, {win}] needs 0 < win <= n_fft "
                                 f"and hop > 0")
        for win in sorted({r[2] for r in self.aux_resolutions}):
            self.register_buffer(f"aux_win{win}", torch.hann_window(win), persistent=False)

    def param_groups(self):
        gen = [p for p in self.generator.parameters() if p.requires_grad]
        return {"discriminator": list(self.discriminator.parameters()), "generator": gen}

    def _pair(self, batch, fake):
        """(y_hat, y, lengths) on a common length, padding zeroed in both."""
        c = self.cfg
        y = batch[c.wav][..., 0]
        t = min(y.shape[1], fake.shape[1])
        y_hat, y = fake[:, :t], y[:, :t]
        lengths = batch.get(f"{c.wav}_len")
        if lengths is not None:
            lengths = lengths.to(y.device).clamp(max=t)
            if bool((lengths < t).any()):
                keep = torch.arange(t, device=y.device)[None] < lengths[:, None]
                y_hat, y = y_hat * keep, y * keep
        return y_hat, y, lengths

    def generate(self, batch):
        """batch -> generated wave (B, N * hop) from its mel and F0 (the generator's `generate`)."""
        return self.generator.generate(batch[self.cfg.mel], batch[self.cfg.f0])

    def discriminator_loss(self, batch, step, fake):
        y_hat, y, _ = self._pair(batch, fake)
        return discriminator_step(self.discriminator, y, y_hat)

    def generator_loss(self, batch, step, fake, adversarial):
        y_hat, y, lengths = self._pair(batch, fake)
        c = self.cfg
        windows = {r[2]: getattr(self, f"aux_win{r[2]}") for r in self.aux_resolutions}
        aux = aux_stft_loss(y_hat, y, self.aux_resolutions, c.aux_floor, lengths, windows)
        loss = c.lambda_aux * aux
        stats = {"stft_l1": aux.item()}
        if adversarial:
            adv, fm = adversarial_terms(self.discriminator, y, y_hat)
            loss = loss + c.lambda_adv * adv + c.lambda_fm * fm
            stats.update(adv=adv.item(), fm=fm.item())
        stats["g_loss"] = loss.item()
        return loss, stats

    def forward(self, batch):
        """batch -> generated wave (B, N * hop) (as `generate`)."""
        return self.generate(batch)

    @torch.no_grad()
    def infer(self, batch):
        return self.generator.infer(batch)

    def chunking(self):
        return self.generator.chunking()  # long inputs: as hn_sinc_nsf's

    def infer_chunk(self, batch, start, advance, state=None):
        return self.generator.infer_chunk(batch, start, advance, state)


# ---- seed checkpoints --------------------------------------------------------------------------
# nn_manager_GAN saves trained_network_G.pt (ModelGenerator: hn-sinc-nsf-9's keys, but each filter
# block scales by 1 / its layers, so the 5-layer noise block by 0.2 where hn-sinc-nsf-9 has 0.1) and
# trained_network_D.pt (ModelDiscriminator: m_mpd.*, m_msd.*) apart. Either the generator alone
# (the discriminator then starts afresh) or both merged (`{**G, **D}`) import as this architecture.
_D_PREFIXES = ("m_mpd.", "m_msd.")
_G_ARCH = "hn-sinc-nsf-9"


def _split(sd):
    g = {k: v for k, v in sd.items() if not k.startswith(_D_PREFIXES)}
    d = {k: v for k, v in sd.items() if k.startswith(_D_PREFIXES)}
    return g, d


def _block_scales(g):
    """{scale key: (value, 1 / that block's conv count)} of the seed generator's filter blocks."""
    out = {}
    for k, v in g.items():
        if k.startswith("m_filter.") and k.endswith(".scale"):
            prefix = k[: -len("scale")] + "l_convs."
            n = len({x[len(prefix):].split(".")[0] for x in g if x.startswith(prefix)})
            out[k] = (float(v.reshape(-1)[0]), 1.0 / max(n, 1))
    return out


def _as_nsf9(g, where):
    """The generator with its block scales set to hn-sinc-nsf-9's 0.1 (checked first), and the
    block_out_scale the nnsp model needs to compute what they computed."""
    scales = _block_scales(g)
    if all(abs(v - r) < 1e-6 for v, r in scales.values()):
        block_out_scale = None
    elif all(abs(v - 0.1) < 1e-6 for v, _ in scales.values()):
        block_out_scale = 0.1
    else:
        found = sorted({round(v, 6) for v, _ in scales.values()})
        raise DataError(f"{where}: filter block scales {found} are neither 1 / layers "
                        f"(hn-sinc-nsf-hifigan) nor 0.1; not a seed hn-sinc-nsf-hifigan generator")
    g = {k: (torch.full_like(v, 0.1) if k in scales else v) for k, v in g.items()}
    return g, block_out_scale


def _matches(sd):
    """Generator and discriminator merged, or a generator whose block scales are 1 / layers (unlike
    hn-sinc-nsf-9's 0.1: its noise block of 5 layers has 0.2)."""
    if _G_ARCH not in SEED_ARCHS:
        return False
    g, d = _split(sd)
    has_d = any(k.startswith("m_mpd.") for k in d) and any(k.startswith("m_msd.") for k in d)
    scales = _block_scales(g)
    own_scales = bool(scales) and all(abs(v - r) < 1e-6 for v, r in scales.values()) and any(
        abs(v - 0.1) > 1e-6 for v, _ in scales.values())
    if not (has_d or own_scales):
        return False
    try:
        return SEED_ARCHS[_G_ARCH].matches(_as_nsf9(g, "")[0])
    except DataError:
        return False


def _disc_widths(d_state):
    """MPD/MSD layout from converted discriminator weights: sub-discriminator counts and widths.
    The periods are not in the weights: the seed's are 2, 3, 5, 7, 11 (model.py MultiPeriodDiscriminator)."""
    def count(prefix):
        return len({k[len(prefix):].split(".")[0] for k in d_state if k.startswith(prefix)})

    def widths(prefix):
        out = []
        for i in range(count(prefix)):
            key = f"{prefix}{i}.parametrizations.weight.original"
            w = [v for k, v in d_state.items() if k.startswith(key) and v.dim() > 1]
            out.append(int(w[0].shape[0]) if w else 0)
        return out

    n_mpd = count("mpd.discriminators.")
    return {"mpd_periods": [2, 3, 5, 7, 11][:n_mpd], "mpd_channels": widths("mpd.discriminators.0.convs."),
            "msd_scales": count("msd.discriminators."), "msd_channels": widths("msd.discriminators.0.convs.")}


def convert_seed(sd, where="checkpoint"):
    """Seed hn-sinc-nsf-hifigan weights -> (nnsp config, state dict).

    sd: the generator's state dict, optionally merged with the discriminator's. The generator goes
    through the registered hn-sinc-nsf-9 converter; without discriminator weights the discriminator
    is initialised afresh (seed 0).
    """
    g, d = _split(sd)
    if _G_ARCH not in SEED_ARCHS:
        raise DataError(f"{where}: the {_G_ARCH} importer is not registered; it converts this model's "
                        f"generator")
    g, block_out_scale = _as_nsf9(g, where)
    config, g_state = SEED_ARCHS[_G_ARCH].convert(g, where)
    model_sec = {**config["model"], "name": "hn_sinc_nsf_hifigan", "block_out_scale": block_out_scale}
    config = {**config, "model": model_sec}
    if d:
        mpd = {k[len("m_mpd."):]: v for k, v in d.items() if k.startswith("m_mpd.")}
        msd = {k[len("m_msd."):]: v for k, v in d.items() if k.startswith("m_msd.")}
        d_state = jik876_discriminator_state(mpd, msd)
        widths = _disc_widths(d_state)
        model_sec.update(widths)
        with torch.device("meta"):  # shapes only
            own = HifiganDiscriminator(widths["mpd_periods"], widths["mpd_channels"], widths["msd_scales"],
                                       widths["msd_channels"]).state_dict()
        bad = sorted(set(d_state) ^ set(own)) + sorted(k for k in own if k in d_state
                                                        and own[k].shape != d_state[k].shape)
        if bad:
            raise DataError(f"{where}: the discriminator weights do not fit HiFi-GAN's MPD + MSD "
                            f"(first mismatches: {', '.join(bad[:4])})")
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            d_state = HifiganDiscriminator().state_dict()
    state = {f"generator.{k}": v for k, v in g_state.items()}
    state.update({f"discriminator.{k}": v for k, v in d_state.items()})
    return config, state


register_seed_arch(SeedArch(
    name="hn-sinc-nsf-hifigan", family="vocoder", matches=_matches, convert=convert_seed,
    description="hn-sinc-NSF + HiFi-GAN discriminators (project/01-nsf/hn-sinc-nsf-hifigan): "
                "trained_network_G.pt, or G and D state dicts merged"))
