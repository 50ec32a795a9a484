"""Seed parity of `rawnet2`: project-NN-Pytorch-scripts 03-asvspoof-mega/rawnet2 (model.py with
sandbox/block_rawnet.py) against nnsp's model built from the importer's config and weights.

The pair is the seed's own RawNet (block_rawnet.RawNet, in model.py's Model) shrunk alike in both
(20 sinc filters of 129 taps, blocks 16/16/32 x4, GRU 3 x 24, embedding 8) on short waveforms in
float64: the seed's code takes any length that leaves one frame after the six max-pools (>= 128 +
3^6 samples). The published 1025-tap filters are compared with the seed's here, and a published-size
checkpoint is imported and scored against the seed in tests/models/test_rawnet2.py. The seed's
RawNet2 has no dropout and no random crop; its training segments come from the data loader, so both
models get the same tensors.
"""

import sys
import types

import numpy as np
import pytest
import torch

from pylib.models.seed_import import convert_state_dict, detect_arch
from tests.parity.peers import load_seed_model_module, load_seed_module, seed_args

SR = 16000
RTOL = 1e-5
# (res_ch_1, res_ch_2, gru_node, gru_layer, emb_dim): published 128, 512, 256, 3, 64 (model.py),
# shrunk in both models alike so that float64 forward + backward stay fast; sinc filters as published
SMALL = (16, 32, 24, 3, 8)
KERNEL = 129  # sinc taps of the shrunk pair (published 1025: test_sinc_filters_are_the_seeds, tests/models)
SEG = 1000  # scoring segment of the test (the seed reads it from prj_conf.truncate_seq; published 64600)


@pytest.fixture(scope="module")
def seed_mod():
    saved = sys.modules.get("torchaudio")
    # model.py and block_rawnet.py import torchaudio but never use it; the venv has none
    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
    try:
        yield load_seed_model_module(
            "03-asvspoof-mega/rawnet2/01/model.py",
            optional_argument=[""],
            wav_samp_rate=SR,
            truncate_seq=SEG,
            input_dims=[1],
            input_reso=[1],
            input_norm=[False],
        )
    finally:
        if saved is None:
            sys.modules.pop("torchaudio", None)


def make_pair(seed_mod, widths=SMALL):
    """(seed Model, nnsp model) with equal, randomised weights and BatchNorm statistics, float64."""
    from tests.parity.peers import stand_in_config

    torch.manual_seed(0)
    conf = stand_in_config(optional_argument=[""], wav_samp_rate=SR, truncate_seq=SEG)
    seed = seed_mod.Model(1, 1, seed_args(), conf)
    if widths is not None:  # the seed's own RawNet at smaller widths, built as model.py builds it
        block = load_seed_module("sandbox.block_rawnet")
        seed.m_rawnet = block.RawNet(seed.m_filter_num, KERNEL, 1, SR, *widths, seed.m_num_class)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in seed.modules():
            if isinstance(m, torch.nn.BatchNorm1d):  # non-trivial affine and running statistics
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
                m.running_mean.uniform_(-0.1, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.num_batches_tracked.fill_(7)
    sd = seed.state_dict()
    assert detect_arch(sd) == "rawnet2"
    arch, config, state = convert_state_dict(sd)
    assert arch == "rawnet2"
    config["model"]["seg_len"] = SEG
    from pylib.engine.export import build_from_config
    from pylib.models.catalogue import get_model_class

    ours = build_from_config(config, state, get_model_class)
    return seed.double(), ours.double()


def fileinfo(names, lengths):
    # the seed's data loader tags each trial "<index>,<name>,<segment>,<length>,<start>"
    return [f"{i},{n},0,{t},0" for i, (n, t) in enumerate(zip(names, lengths))]


def waves(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i, n in enumerate(lengths):
        t = torch.arange(n, dtype=torch.float64) / SR
        w = 0.3 * torch.sin(2 * np.pi * (150 + 90 * i) * t) + 0.05 * torch.randn(
            n, generator=g, dtype=torch.float64
        )
        out.append(w)
    return out


def padded(ws):
    x = torch.zeros(len(ws), max(len(w) for w in ws), 1, dtype=torch.float64)
    for i, w in enumerate(ws):
        x[i, : len(w), 0] = w
    return x


def seed_name(nnsp_key, seed_sd):
    from pylib.models.cm.rawnet2 import _seed_rename

    hits = [k for k in seed_sd if _seed_rename(k, 6) == nnsp_key]
    assert len(hits) == 1, nnsp_key
    return hits[0]


def assert_grads_equal(seed, ours):
    """Every nnsp parameter's gradient equals its seed counterpart's (RTOL, relative to its largest)."""
    seed_sd = dict(seed.named_parameters())
    # a conv bias right before a training-mode BatchNorm has zero gradient: both are round-off there
    floor = 1e-12 * max(float(q.grad.abs().max()) for q in seed_sd.values() if q.grad is not None)
    checked = 0
    for name, p in ours.named_parameters():
        q = seed_sd[seed_name(name, seed_sd)]
        assert p.requires_grad == q.requires_grad, name
        if not p.requires_grad:
            assert name == "sinc" and p.grad is None
            continue
        assert q.grad is not None and p.grad is not None, name
        np.testing.assert_allclose(
            p.grad.numpy(),
            q.grad.numpy(),
            rtol=RTOL,
            atol=max(floor, RTOL * float(q.grad.abs().max())),
            err_msg=name,
        )
        checked += 1
    assert checked == len(seed_sd) - 5  # all but the sinc filters and the four mean/std parameters


def test_train_step_parity(seed_mod):
    seed, ours = make_pair(seed_mod)
    seed.train()
    ours.train()
    # a training batch as the seed's loader makes it: segments of unequal length, zero-padded
    lengths = [1300, 1300, 1100, 950]
    labels = [1, 0, 0, 1]
    names = [f"LA_T_{i}" for i in range(4)]
    x = padded(waves(lengths))
    seed.protocol_parser = dict(zip(names, labels))

    logits_s, target, _ = seed(x, fileinfo(names, lengths))
    loss_s = seed_mod.Loss(seed_args()).compute([logits_s, target, True], None)
    loss_s.backward()

    batch = {"wav": x.clone(), "wav_len": torch.tensor(lengths), "label": torch.tensor(labels)}
    loss_n, stats = ours(batch, 0)
    loss_n.backward()

    np.testing.assert_allclose(float(loss_n.detach()), float(loss_s.detach()), rtol=RTOL)
    assert stats["loss"] == pytest.approx(float(loss_s.detach()), rel=RTOL)

    assert_grads_equal(seed, ours)

    # BatchNorm running statistics were updated alike by the training forward
    seed_buf = dict(seed.named_buffers())
    for name, b in ours.named_buffers():
        np.testing.assert_allclose(
            b.numpy(), seed_buf[seed_name(name, seed_buf)].numpy(), rtol=RTOL, atol=1e-12, err_msg=name
        )

    # and the logits themselves (the seed's training output)
    with torch.no_grad():
        np.testing.assert_allclose(
            ours.logits(x[..., 0]).numpy(), logits_s.detach().numpy(), rtol=RTOL, atol=1e-9
        )


def test_scores_parity_eval(seed_mod, capsys):
    seed, ours = make_pair(seed_mod)
    seed.eval()
    ours.eval()
    # shorter than the segment (whole), exactly one segment, two segments and a dropped rest
    lengths = [900, SEG, 2 * SEG + 300]
    ws = waves(lengths, seed=3)
    names = [f"LA_E_{i}" for i in range(len(ws))]
    seed.protocol_parser = {n: i % 2 for i, n in enumerate(names)}

    recorded = []
    inference = seed.m_rawnet.inference

    def record(x):
        out = inference(x)
        recorded.append(out)
        return out

    seed.m_rawnet.inference = record
    seed_logits = []
    # the seed scores one trial per batch (01_eval.sh: default --batch-size 1)
    for n, w in zip(names, ws):
        recorded.clear()
        assert seed(w[None, :, None], fileinfo([n], [len(w)])) is None
        seed_logits.append(torch.stack(recorded, 2).mean(-1)[0])  # what the seed averages and prints
    seed_scores = [float(v[-1]) for v in seed_logits]
    printed = [
        float(line.split(",")[-1])
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("Output,")
    ]
    assert len(printed) == len(ws)
    np.testing.assert_allclose(printed, seed_scores, atol=2e-6)  # the seed prints %f

    batch = {"wav": padded(ws), "wav_len": torch.tensor(lengths)}
    ours_scores = ours.infer(batch)
    np.testing.assert_allclose(ours_scores, seed_scores, rtol=RTOL)
    # alone or in a padded batch: the same scores
    alone = [ours.infer({"wav": w[None, :, None], "wav_len": torch.tensor([len(w)])})[0] for w in ws]
    np.testing.assert_allclose(alone, seed_scores, rtol=RTOL)

    # eval-mode loss (nnsp's dev loss): the seed's Loss on those averaged logits, and its gradients
    labels = [seed.protocol_parser[n] for n in names]
    loss_s = seed_mod.Loss(seed_args()).compute([torch.stack(seed_logits), torch.tensor(labels)], None)
    loss_s.backward()
    loss_n, stats = ours({**batch, "label": torch.tensor(labels)}, 0)
    loss_n.backward()
    assert stats["loss"] == pytest.approx(float(loss_s.detach()), rel=RTOL)
    assert_grads_equal(seed, ours)


def test_sinc_filters_are_the_seeds(seed_mod):
    from pylib.models.cm.rawnet2 import mel_sinc_filters

    block = load_seed_module("sandbox.block_rawnet")
    for n, k in [(20, 1025), (8, 128)]:
        ref = block.SincConv2(n, k, 1, SR, flag_pad=False, flag_trainable=False).m_filters
        ours = mel_sinc_filters(n, k + 1 - k % 2, SR)
        assert ours.dtype == torch.float32 and ours.shape == (n, ref.shape[-1])
        np.testing.assert_allclose(ours.numpy(), ref[:, 0].numpy(), rtol=0, atol=1e-7)
