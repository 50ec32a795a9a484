"""LCNN countermeasures at toy width: front ends, length-aware back ends, heads that train."""

import numpy as np
import pytest
import torch

from pylib.config import from_dict
from pylib.errors import ConfigError
from pylib.models.catalogue import get_model_class
from tests.conftest import noise, rng, sine


def make_cm(**kw):
    cfg = {"width": 8, "dropout": 0.0, "head": "sigmoid", **kw}
    cls = get_model_class("lcnn")
    torch.manual_seed(0)
    return cls(from_dict(cls.Config, cfg, where="model"))


def batch_of(waves, labels=None):
    t = max(len(w) for w in waves)
    wav = torch.zeros(len(waves), t, 1)
    for i, w in enumerate(waves):
        wav[i, : len(w), 0] = torch.from_numpy(w)
    out = {"wav": wav, "wav_len": torch.tensor([len(w) for w in waves])}
    if labels is not None:
        out["label"] = torch.tensor(labels)
    return out


@pytest.mark.parametrize("front_end", ["lfcc", "lfb", "spec", "spec2"])
def test_front_end_shapes(front_end):
    m = make_cm(front_end=front_end, n_filters=24)
    wav = torch.from_numpy(noise(seconds=0.5))[None].repeat(2, 1)
    feat, n = m.front(wav, torch.tensor([8000, 5000]))
    assert feat.shape == (2, 8000 // 160 + 1, 72) and n.tolist() == [51, 32]
    assert torch.isfinite(feat).all()
    trainable = [p for p in m.front.parameters() if p.requires_grad]
    assert bool(trainable) == front_end.startswith("spec")  # only spec/spec2 learn their filterbank


@pytest.mark.parametrize("back_end, keys", [
    ("lstm", {}), ("lstm", {"lstm_pool": "sum"}),
    ("attention", {"attn_pool": "mean_std"}), ("attention", {"attn_pool": "seed", "attn_noise": 0.0}),
    ("fixed", {"fixed_crop": "train"}),
])
def test_padded_batch_scores_like_alone(back_end, keys):
    # deterministic scoring only: the seed's fixed crop is random in scoring too, and its attention
    # pooling adds noise (attn_noise 0 here)
    m = make_cm(back_end=back_end, fixed_frames=32, **keys).eval()
    waves = [noise(seconds=s, seed=i) + sine(200 + 50 * i, seconds=s) for i, s in enumerate([0.6, 0.35, 0.5])]
    batched = m.infer(batch_of(waves))
    alone = [m.infer(batch_of([w]))[0] for w in waves]
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)
    assert len(set(np.round(alone, 6))) == 3  # the scores do depend on the input


def test_fixed_back_end_crops_and_repeats():
    from pylib.models.cm.layers import fit_frames

    feat = torch.arange(10.0)[None, :, None].repeat(2, 1, 1)
    out = fit_frames(feat, torch.tensor([10, 3]), 5, "start")
    assert out[0, :, 0].tolist() == [0, 1, 2, 3, 4] and out[1, :, 0].tolist() == [0, 1, 2, 0, 1]
    for crop in ("random", "seed"):
        got = fit_frames(feat, torch.tensor([10, 10]), 5, crop)[:, :, 0]
        assert torch.equal(got - got[:, :1], torch.arange(5.0).expand(2, 5))
    # the seed's crop: start floor(u * (len - size)) with one uniform per long trial, in order
    torch.manual_seed(5)
    u = torch.rand(2)
    torch.manual_seed(5)
    got = fit_frames(feat[:1].repeat(3, 1, 1), torch.tensor([10, 3, 9]), 5, "seed")[:, 0, 0]
    assert got.tolist() == [float(int(u[0] * 5)), 0.0, float(int(u[1] * 4))]
    # exactly `size` valid frames: copied from the start, nothing drawn
    assert fit_frames(feat, torch.tensor([5, 5]), 5, "seed")[0, :, 0].tolist() == [0, 1, 2, 3, 4]


def toy_batch(n=8, seconds=0.3):
    """Bona fide: harmonic tones; spoof: white noise. Separable from the spectrum."""
    g = rng(3)
    waves, labels = [], []
    for i in range(n):
        s = seconds * (0.7 + 0.3 * g.random())
        if i % 2:
            w = sine(150 + 300 * g.random(), seconds=s) + sine(600, seconds=s, amp=0.2)
        else:
            w = noise(seconds=s, amp=0.3, seed=10 + i)
        waves.append(w.astype(np.float32))
        labels.append(i % 2)
    return batch_of(waves, labels)


@pytest.mark.parametrize("head", ["sigmoid", "am_softmax", "oc_softmax", "p2sgrad"])
def test_heads_train(head):
    # attention back end: the heads are under test here, and it trains faster than the BLSTMs
    m = make_cm(head=head, back_end="attention", emb_dim=16 if head != "sigmoid" else None).train()
    assert list(m.param_groups()) == ["model"]
    opt = torch.optim.Adam(m.param_groups()["model"], lr=1e-2)
    batch = toy_batch()
    losses = []
    for step in range(10):
        loss, stats = m(batch, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(stats["loss"])
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0], losses
    m.eval()
    scores = np.array(m.infer(batch))
    labels = batch["label"].numpy()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()  # bona fide scores higher


def test_config_and_batch_errors():
    with pytest.raises(ConfigError, match="unknown key"):
        make_cm(lstm_size=3)
    with pytest.raises(ConfigError, match="multiple of 4"):
        make_cm(width=6)
    with pytest.raises(ConfigError, match="feature dim"):
        make_cm(n_filters=4, deltas=False)
    m = make_cm()
    b = toy_batch(2)
    with pytest.raises(ConfigError, match="labels"):
        m({k: v for k, v in b.items() if k != "label"}, 0)
    with pytest.raises(ConfigError, match="not in the batch"):
        m.infer({"mel": b["wav"]})


def test_published_confs_carry_the_seed_model_keys():
    """Each egs/asvspoof2019_la/lcnn conf names its seed folder; its model section is that
    folder's `seed_config` (the keys the parity tests check against the seed)."""
    import re

    import yaml

    from pylib.models.cm.import_project_nn import seed_config
    from tests.conftest import ROOT

    confs = sorted((ROOT / "egs/asvspoof2019_la/lcnn/conf").glob("*_lcnn_*.yaml"))
    assert {c.stem.split("_")[0] for c in confs} == {"lfcc", "lfb", "spec2"}
    assert {c.stem.split("_")[2] for c in confs} == {"lstm", "attention", "fixed"}
    for conf in confs:
        text = conf.read_text()
        name = re.search(r"03-asvspoof-mega/([a-z0-9-]+)", text).group(1)
        model = yaml.safe_load(text)["model"]
        want = seed_config(name)
        defaults = get_model_class("lcnn").Config
        shared = [k for k in want if k in model]
        assert {k: model[k] for k in shared} == {k: want[k] for k in shared}, conf
        missing = {k: v for k, v in want.items() if k not in model and getattr(defaults, k) != v}
        assert not missing, (conf, missing)  # keys left out are at the seed's value by default
