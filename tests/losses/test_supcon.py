"""Supervised contrastive loss: parity with the seed's supcon_loss, a hand case, the group hook."""

import math

import pytest
import torch

from pylib.losses.supcon import group_supcon, supcon_loss
from tests.parity.peers import load_seed_module


def _grads(fn, x):
    x = x.clone().requires_grad_(True)
    loss = fn(x)
    loss.backward()
    return loss.detach(), x.grad


def _seed_seq_sim(a, b):  # project 09 model-ID-7 FeatLossModule.sim_metric_seq
    return torch.bmm(a.permute(1, 0, 2), b.permute(1, 2, 0)).mean(0)


@pytest.mark.parametrize(
    "shape, kw",
    [
        ((6, 2, 5), dict(labels=[1, 2, 2, 1, 3, 2])),
        ((6, 3, 5), dict(labels=[1, 2, 2, 1, 3, 2], length_norm=True, t=0.2)),
        ((5, 2, 4), dict(labels=[1, 2, 2, 2, 2], contra_mode="one")),
        ((4, 2, 4), dict()),  # no labels: each item's own views are its positives
        ((4, 2, 4), dict(mask=[[1, 1, 0, 0], [0, 1, 0, 1], [1, 0, 1, 0], [0, 0, 1, 1]])),
        ((5, 2, 7, 4), dict(labels=[1, 2, 2, 2, 2], length_norm=True, seq=True)),  # frame sequences
    ],
)
def test_parity_with_the_seed(shape, kw):
    seed = load_seed_module("sandbox.util_loss_metric")
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    kw = dict(kw)
    seq = kw.pop("seq", False)
    seed_kw, mine_kw = {}, {}
    if "labels" in kw:
        seed_kw["labels"] = mine_kw["labels"] = torch.tensor(kw.pop("labels"))
    if "mask" in kw:
        seed_kw["mask"] = mine_kw["mask"] = torch.tensor(kw.pop("mask"), dtype=torch.float64)
    if "contra_mode" in kw:
        seed_kw["contra_mode"] = kw["contra_mode"]
        mine_kw["mode"] = kw.pop("contra_mode")
    seed_kw.update(kw)
    mine_kw.update(kw)
    if seq:
        seed_kw["sim_metric"] = _seed_seq_sim  # nnsp picks the sequence similarity from the 4-D shape
    want, want_g = _grads(lambda f: seed.supcon_loss(f, **seed_kw), x)
    got, got_g = _grads(lambda f: supcon_loss(f, **mine_kw), x)
    assert torch.isfinite(want)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(got_g, want_g, atol=1e-6, rtol=1e-6)


def test_hand_case():
    # two items of different labels, two views each, unit vectors: view 0 and 1 of an item agree
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    feat = torch.stack([torch.stack([a, a]), torch.stack([b, b])]).double()
    t = 0.5
    # every anchor: one positive (similarity 1), two negatives (similarity 0)
    want = -(1 / t - math.log(math.exp(1 / t) + 2.0))
    got = supcon_loss(feat, labels=torch.tensor([0, 1]), t=t)
    assert float(got) == pytest.approx(want, abs=1e-12)


def test_anchor_without_positive_is_left_out():
    # label 5 occurs once in one view: the seed gives NaN, nnsp leaves that anchor out
    # seeded and small: with t = 0.07, far-apart random features can round both losses to 0
    feat = 0.1 * torch.randn(3, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    loss = supcon_loss(feat, labels=torch.tensor([1, 1, 5]))
    only = supcon_loss(feat[:2], labels=torch.tensor([1, 1]))
    assert torch.isfinite(loss)
    assert float(loss) != float(only)  # the lone item still counts as a negative
    assert float(supcon_loss(feat[2:], labels=torch.tensor([5]))) == 0.0


def test_bad_input():
    with pytest.raises(ValueError, match="items, views"):
        supcon_loss(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="not both"):
        supcon_loss(torch.zeros(2, 2, 3), labels=torch.tensor([0, 1]), mask=torch.eye(2))
    with pytest.raises(ValueError, match="3 labels for 2"):
        supcon_loss(torch.zeros(2, 2, 3), labels=torch.tensor([0, 1, 1]))


def test_group_hook_is_the_mean_of_per_group_losses():
    g = torch.Generator().manual_seed(0)
    # group 0: source + 2 vocoded copies, 2 views each; group 1: a spoof with no copies, 2 views
    emb = torch.randn(8, 5, dtype=torch.float64, generator=g)
    batch = {
        "group": torch.tensor([0, 0, 0, 0, 0, 0, 1, 1]),
        "view": torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]),
        "label": torch.tensor([1, 1, 0, 0, 0, 0, 0, 0]),
    }
    got = group_supcon(emb, batch, length_norm=True)
    g0 = supcon_loss(emb[:6].reshape(3, 2, 5), labels=torch.tensor([1, 0, 0]), length_norm=True)
    g1 = supcon_loss(emb[6:].reshape(1, 2, 5), labels=torch.tensor([0]), length_norm=True)
    torch.testing.assert_close(got, (g0 + g1) / 2)
    assert float(group_supcon(emb, {"label": batch["label"]})) == 0.0


def test_lcnn_supcon_weight_adds_the_group_loss():
    from pylib.models.cm.lcnn import LcnnCM, LcnnConfig

    cfg = dict(n_filters=8, width=8, lstm_layers=1, n_fft=128, win_length=128, hop=64, head="sigmoid",
               dropout=0.0)
    g = torch.Generator().manual_seed(0)
    batch = {"utt_id": list("abcd"), "wav": torch.randn(4, 3200, 1, generator=g),
             "label": torch.tensor([1, 1, 0, 0]), "group": torch.tensor([0, 0, 0, 0]),
             "view": torch.tensor([0, 1, 0, 1])}
    torch.manual_seed(0)
    plain = LcnnCM(LcnnConfig(**cfg))
    torch.manual_seed(0)
    con = LcnnCM(LcnnConfig(**cfg, supcon_weight=0.5))
    loss0, stats0 = plain(batch)
    loss1, stats1 = con(batch)
    assert "supcon" not in stats0 and stats1["supcon"] > 0
    assert float(loss1) == pytest.approx(float(loss0) + 0.5 * stats1["supcon"], rel=1e-5)
    loss1.backward()
    assert all(p.grad is not None for p in con.head.parameters())
