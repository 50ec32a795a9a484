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

from pylib.registry import register_loss


def cosine_logits(emb, weight):
    """cos(angle) between each embedding and each class vector. emb (B, E), weight (C, E) -> (B, C)."""
    return F.normalize(emb, dim=-1) @ F.normalize(weight, dim=-1).T


@register_loss("cm_sigmoid")
class SigmoidHead(nn.Module):
    """Linear -> logit; BCE with logits. The score is the logit."""

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


@register_loss("cm_am_softmax")
class AMSoftmaxHead(nn.Module):
    """Additive-margin softmax over 2 classes: CE(scale * (cos - margin * onehot))."""

    def __init__(self, in_dim, am_scale=20.0, am_margin=0.9, **_):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(2, in_dim).uniform_(-1, 1))
        self.scale = am_scale
        self.margin = am_margin

    def forward(self, emb):
        return cosine_logits(emb, self.weight)[:, 1]

    def loss(self, emb, label):
        cos = cosine_logits(emb, self.weight)
        onehot = F.one_hot(label.long(), 2).to(cos.dtype)
        return F.cross_entropy(self.scale * (cos - self.margin * onehot), label.long()), cos[:, 1]


@register_loss("cm_oc_softmax")
class OCSoftmaxHead(nn.Module):
    """One-class softmax: one target direction; bona fide pushed above m_real, spoof below m_fake."""

    def __init__(self, in_dim, oc_m_real=0.9, oc_m_fake=0.2, oc_alpha=20.0, **_):
        super().__init__()
        self.center = nn.Parameter(torch.randn(1, in_dim))
        self.m_real = oc_m_real
        self.m_fake = oc_m_fake
        self.alpha = oc_alpha

    def forward(self, emb):
        return cosine_logits(emb, self.center)[:, 0]

    def loss(self, emb, label):
        score = self(emb)
        bona = label.to(score.dtype)
        margin = bona * (self.m_real - score) + (1 - bona) * (score - self.m_fake)
        return F.softplus(self.alpha * margin).mean(), score


@register_loss("cm_p2sgrad")
class P2SGradHead(nn.Module):
    """P2SGrad: cosines to 2 class vectors regressed onto one-hot targets with MSE (no scale/margin)."""

    def __init__(self, in_dim, **_):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(2, in_dim).uniform_(-1, 1))

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
