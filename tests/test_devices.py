"""Every model and differentiable feature on each available device: the CPU tests with `device`
as a parameter (STYLE.md). CUDA cases skip where no GPU is present (CI never has one)."""

import numpy as np
import pytest
import torch

from pylib.engine.trainer import group_losses
from pylib.features.lfcc import lfcc
from pylib.features.mel import log_mel
from pylib.models.catalogue import get_model_class
from tests.conftest import noise, sine
from tests.models import test_cm, test_hifigan, test_nsf

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")],
    ),
]


pytestmark = pytest.mark.usefixtures("one_thread")


def _to(batch, device):
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def _train_and_infer(model, batch, device):
    """Every parameter group's loss, backward, one step, then infer; returns the infer outputs."""
    model = model.to(device).train()
    batch = _to(batch, device)
    params = model.param_groups()
    for groups, loss, stats, _ in group_losses(model, batch, 0):
        opt = torch.optim.Adam([p for g in groups for p in params[g]], lr=1e-4)
        assert loss.device.type == torch.device(device).type and torch.isfinite(loss)
        assert all(np.isfinite(v) for v in stats.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return model.infer(batch)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["hn_sinc_nsf", "hn_nsf", "cyc_noise_nsf"])
def test_nsf_on_device(device, name):
    out = _train_and_infer(test_nsf.make_model(name), test_nsf.make_batch(), device)
    assert len(out) == 2 and all(isinstance(o, np.ndarray) and np.isfinite(o).all() for o in out)


@pytest.mark.parametrize("device", DEVICES)
def test_hifigan_on_device(device):
    torch.manual_seed(0)
    model = get_model_class("hifigan")(test_hifigan.make_config(), None)
    out = _train_and_infer(model, test_hifigan.make_batch(), device)
    assert len(out) == 2 and all(np.isfinite(o).all() for o in out)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("head", ["sigmoid", "p2sgrad", "oc_softmax", "am_softmax"])
def test_cm_on_device(device, head):
    model = test_cm.make_cm(head=head)
    batch = test_cm.batch_of([sine(300.0, seconds=0.4), noise(seconds=0.3)], labels=[1, 0])
    scores = _train_and_infer(model, batch, device)
    assert len(scores) == 2 and np.isfinite(scores).all()


@pytest.mark.parametrize("device", DEVICES)
def test_features_match_cpu(device):
    wave = torch.from_numpy(noise(seconds=0.3) + sine(440.0, seconds=0.3))[None]
    ref_mel = log_mel(wave, 16000, 512, 80, 320, 40, 0.0, 8000.0)
    got_mel = log_mel(wave.to(device), 16000, 512, 80, 320, 40, 0.0, 8000.0).cpu()
    torch.testing.assert_close(got_mel, ref_mel, rtol=1e-4, atol=1e-4)
    ref_lfcc = lfcc(wave)
    torch.testing.assert_close(lfcc(wave.to(device)).cpu(), ref_lfcc, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("model", ["toy_linear", "toy_gan"])
def test_engine_trains_and_exports_on_device(device, model, tmp_path):
    from pylib.engine.export import export_model, load_model
    from tests.engine.common import make_config, train_inproc
    from tests.engine.toy_models import MODEL_CLASS

    if model == "toy_gan":
        conf = make_config(
            tmp_path,
            model={"replace": {"name": "toy_gan"}},
            optim={"replace": {"discriminator": {"type": "adam", "lr": 0.01, "start_step": 2},
                               "generator": {"type": "adam", "lr": 0.01}}},
            train={"best_metric": "recon", "epochs": 2},
        )
    else:
        conf = make_config(tmp_path, train={"epochs": 2})
    summary = train_inproc(conf, tmp_path / "exp", device=device)
    assert summary is not None and (tmp_path / "exp" / "checkpoint_last.pt").is_file()
    export_model(tmp_path / "exp", tmp_path / "m.pt", checkpoint="last")
    m = load_model(tmp_path / "m.pt", MODEL_CLASS, device=device)
    assert all(p.device.type == torch.device(device).type for p in m.parameters())
