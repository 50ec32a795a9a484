"""Countermeasure output heads with their losses: sigmoid BCE, AM-softmax, OC-softmax, P2SGrad.

A head maps an utterance embedding (B, E) to a score (B,) where higher means more bona fide, and
computes its training loss from the embedding and the labels (B,) (1 = bona fide, 0 = spoof).
Class index 1 is bona fide in the two-class heads, so the score is the bona fide cosine.

References: AM-softmax, Wang et al., IEEE SPL 2018; OC-softmax, Zhang et al., IEEE SPL 2021;
P2SGrad, Zhang et al., CVPR 2019 (MSE between cosines and one-hot targets), as compared for
spoofing countermeasures in Wang & Yamagishi, Interspeech 2021.
"""

import torch
import torch.nn.functional as F
from torch import nn


def unit_columns(weight):
    """Each column of `weight` (E, C) scaled to unit L2 norm as the seed does it:
    renorm(2, 1, 1e-5) * 1e5 (core_modules/p2sgrad.py), i.e. w / (|w| + 1e-7) for |w| > 1e-5."""
    return weight.renorm(2, 1, 1e-5).mul(1e5)


def cosine_logits(emb, weight):
    """cos(angle) between each embedding and each class vector, as the seed computes it
    (core_modules/{p2sgrad,am_softmax,oc_softmax}.py): x . w_unit / |x|, clamped to [-1, 1].
    emb (B, E), weight (E, C) -> (B, C)."""
    w = unit_columns(weight)
    norm = emb.square().sum(1).sqrt()
    return (emb @ w / norm[:, None]).clamp(-1, 1)


def _unit_init(in_dim, out_dim):
    """The seed's init of the angular class vectors: U(-1, 1), then unit columns."""
    return torch.empty(in_dim, out_dim).uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)


class SigmoidHead(nn.Module):
    """Linear -> logit; BCE with logits. The score is the logit (the seed's `*-sig` models:
    sigmoid + BCELoss in training, the logit as score)."""

    def __init__(self, in_dim, **_):
        super().__init__()
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, emb):
        """(B, E) -> (B,) logits."""
        return self.linear(emb).squeeze(-1)

    def loss(self, emb, label):
        """-> (scalar loss, (B,) scores)."""
        score = self(emb)
        return F.binary_cross_entropy_with_logits(score, label.to(score.dtype)), score


class AMSoftmaxHead(nn.Module):
    """Additive-margin softmax over 2 classes: CE(scale * (cos - margin * onehot)).

    weight (E, 2) as the seed's AMAngleLayer. The score is softmax(cos)[:, 1], the bona fide
    probability of the unscaled cosines, as the seed's am models score (model.py _compute_score).
    """

    def __init__(self, in_dim, am_scale=20.0, am_margin=0.9, **_):
        super().__init__()
        self.weight = nn.Parameter(_unit_init(in_dim, 2))
        self.scale = am_scale
        self.margin = am_margin

    def forward(self, emb):
        return torch.softmax(cosine_logits(emb, self.weight), dim=1)[:, 1]

    def loss(self, emb, label):
        cos = cosine_logits(emb, self.weight)
        onehot = F.one_hot(label.long(), 2).to(cos.dtype)
        score = torch.softmax(cos.detach(), dim=1)[:, 1]
        return F.cross_entropy(self.scale * (cos - self.margin * onehot), label.long()), score


class OCSoftmaxHead(nn.Module):
    """One-class softmax: one target direction; bona fide pushed above m_real, spoof below m_fake.

    weight (E, 1) as the seed's OCAngleLayer; loss softplus(alpha (m_real - cos)) for bona fide,
    softplus(alpha (cos - m_fake)) for spoof, averaged; the score is the cosine.
    """

    def __init__(self, in_dim, oc_m_real=0.9, oc_m_fake=0.2, oc_alpha=20.0, **_):
        super().__init__()
        w = torch.empty(in_dim, 1)
        nn.init.kaiming_uniform_(w, 0.25)  # the seed's init (core_modules/oc_softmax.py)
        self.weight = nn.Parameter(w.renorm_(2, 1, 1e-5).mul_(1e5))
        self.m_real = oc_m_real
        self.m_fake = oc_m_fake
        self.alpha = oc_alpha

    def forward(self, emb):
        return cosine_logits(emb, self.weight)[:, 0]

    def loss(self, emb, label):
        score = self(emb)
        bona = label.to(score.dtype)
        margin = bona * (self.m_real - score) + (1 - bona) * (score - self.m_fake)
        return F.softplus(self.alpha * margin).mean(), score


class P2SGradHead(nn.Module):
    """P2SGrad: cosines to 2 class vectors (E, 2) regressed onto one-hot targets with MSE (no
    scale/margin); the score is the bona fide cosine (core_modules/p2sgrad.py)."""

    def __init__(self, in_dim, **_):
        super().__init__()
        self.weight = nn.Parameter(_unit_init(in_dim, 2))

    def forward(self, emb):
        return cosine_logits(emb, self.weight)[:, 1]

    def loss(self, emb, label):
        cos = cosine_logits(emb, self.weight)
        onehot = F.one_hot(label.long(), 2).to(cos.dtype)
        return F.mse_loss(cos, onehot), cos[:, 1]


HEADS = {
    "sigmoid": SigmoidHead,
    "am_softmax": AMSoftmaxHead,
    "oc_softmax": OCSoftmaxHead,
    "p2sgrad": P2SGradHead,
}


def make_head(name, in_dim, **kw):
    """Build a head by name (sigmoid | am_softmax | oc_softmax | p2sgrad)."""
    return HEADS[name](in_dim, **kw)
