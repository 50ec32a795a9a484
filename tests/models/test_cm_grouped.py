import numpy as np
import pytest
import torch

from tests.conftest import noise, sine
from tests.models.test_cm import batch_of, make_cm


@pytest.mark.parametrize("back_end", ["lstm", "attention", "fixed"])
def test_grouped_cpu_scoring_matches_alone(back_end):
    # chunk_floats tiny: groups of one utterance each; medium: groups of 2 (the unsorted order
    # tests the sort and the scatter back)
    # deterministic scoring: no seed-style random crop or pooling noise
    m = make_cm(back_end=back_end, fixed_frames=32, fixed_crop="train", attn_noise=0.0).eval()
    waves = [
        noise(seconds=s, seed=i) + sine(200 + 50 * i, seconds=s)
        for i, s in enumerate([0.35, 0.6, 0.4, 0.5, 0.3])
    ]
    alone = [m.infer(batch_of([w]))[0] for w in waves]
    frames = 0.6 * 16000 // 160 + 1
    for floats in (1, int(2 * frames * m.front.dim * m.cfg.width)):
        m.chunk_floats = floats
        np.testing.assert_allclose(m.infer(batch_of(waves)), alone, rtol=1e-4, atol=1e-5)


def test_lcnn_runs_channels_last():
    m = make_cm().eval()
    seen = []
    m.back.body.layers[2].register_forward_hook(lambda mod, inp, out: seen.append(inp[0]))
    m.infer(batch_of([noise(seconds=0.5), noise(seconds=0.3, seed=1)]))
    assert seen[0].is_contiguous(memory_format=torch.channels_last)


def test_max_feature_map_gradient_matches_torch_maximum():
    from pylib.models.cm.layers import MaxFeatureMap

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 8, 5, 4, generator=g, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last
    )
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    up = torch.randn(3, 4, 5, 4, generator=g, dtype=torch.float64)
    y = MaxFeatureMap()(x1)
    y.backward(up)
    torch.maximum(*x2.chunk(2, 1)).backward(up)
    assert torch.equal(y, torch.maximum(*x.chunk(2, 1))) and torch.equal(x1.grad, x2.grad)
