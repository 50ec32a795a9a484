"""Blow without the seed: the seed-checkpoint import (a fabricated seed-shaped state dict, toy sizes),
the `convert` entry point (unknown target, length, resampling, --pairs), config errors, training step.
Parity with the seed's own code: tests/parity/test_blow_parity.py."""

import numpy as np
import pytest
import torch

from pylib import load_model
from pylib.errors import ConfigError, UserError
from pylib.io.audio import read_wav, write_wav
from pylib.models.vocoder.blow import Blow, BlowConfig

SPEAKERS = ["p225", "p226"]
TOY = dict(speakers=SPEAKERS, cond_dim=6, blocks=2, flows_per_block=2, channels=8, frame=256, frame_shift=64)

pytestmark = pytest.mark.usefixtures("one_thread")


def _toy():
    model = Blow(BlowConfig(**TOY))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        for m in model.modules():
            if hasattr(m, "initialized"):
                m.initialized.fill_(1)
    return model.eval()


def _seed_state_dict(model):
    """The seed's Model state dict (block_blow.py / block_glow.py names) holding `model`'s weights."""
    sd = {"input_mean": torch.zeros(1), "input_std": torch.ones(1), "output_mean": torch.zeros(1),
          "output_std": torch.ones(1), "m_spk_emd.weight": model.embed.weight.detach(),
          "m_overlap.m_win": model.window}
    for b, block in enumerate(model.blocks):
        for s, step in enumerate(block.steps):
            pre = f"m_blow.m_flowblocks.{b}.m_flows.{s}."
            d = step.inv.lower.shape[0]
            inv, an, core = step.inv, step.actnorm, step.coupling
            mine = {"m_invtrans.m_permute_mat": inv.permute, "m_invtrans.m_lower_tria": inv.lower,
                    "m_invtrans.m_upper_tria": inv.upper, "m_invtrans.m_log_abs_diag": inv.log_abs_diag,
                    "m_invtrans.m_diag_sign": inv.sign,
                    "m_invtrans.m_l_mask": torch.tril(torch.ones(d, d), -1),
                    "m_invtrans.m_u_mask": torch.triu(torch.ones(d, d), 1), "m_invtrans.m_eye": torch.eye(d),
                    "m_invtrans.m_inver": torch.eye(d), "m_actnorm.m_scale": an.scale,
                    "m_actnorm.m_bias": an.bias, "m_actnorm.m_init_flag": an.initialized}
            sd.update({pre + k: v for k, v in mine.items()})
            for seed_name, mod in (("m_adapter", core.adapter), ("m_conv1ds.1", core.conv_in),
                                   ("m_conv1ds.3", core.conv_out)):
                sd[f"{pre}m_coupling.m_core.{seed_name}.weight"] = mod.weight
                sd[f"{pre}m_coupling.m_core.{seed_name}.bias"] = mod.bias
    return {k: v.detach().clone() for k, v in sd.items()}


def _speech(n, sr=16000, seed=1):
    t = np.arange(n) / sr
    g = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 150 * t) + 0.01 * g.standard_normal(n)).astype(np.float32)


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(nnsp toy model, path of its seed-shaped checkpoint imported with --speakers)."""
    from pylib.bin import import_project_nn

    tmp = tmp_path_factory.mktemp("blow")
    model = _toy()
    ckpt = tmp / "trained_network.pt"
    torch.save(_seed_state_dict(model), ckpt)
    (tmp / "spk.lst").write_text("\n".join(SPEAKERS) + "\n", encoding="utf-8")
    out = tmp / "model.pt"
    assert import_project_nn.main(["--checkpoint", str(ckpt), "--speakers", str(tmp / "spk.lst"),
                                   "--out", str(out)]) == 0
    return model, ckpt, out


def test_seed_checkpoint_imports_and_converts_the_same(imported, tmp_path, capsys):
    from pylib.bin import import_project_nn

    model, ckpt, out = imported
    got = load_model(out)
    assert got.cfg.speakers == SPEAKERS and got.cfg.frame_shift == 64 and got.cfg.channels == 8
    x = torch.from_numpy(_speech(700))
    with torch.no_grad():
        torch.testing.assert_close(got.convert(x, 0, 1), model.convert(x, 0, 1), rtol=1e-5, atol=1e-6)
    # without --speakers: spk0 .. spk1, and the CLI says so
    out2 = tmp_path / "m2.pt"
    assert import_project_nn.main(["--checkpoint", str(ckpt), "--out", str(out2)]) == 0
    assert "spk0 .. spk1" in capsys.readouterr().out
    assert load_model(out2).cfg.speakers == ["spk0", "spk1"]
    (tmp_path / "bad.lst").write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(Exception, match="--speakers list 3"):
        import_project_nn.main(["--checkpoint", str(ckpt), "--speakers", str(tmp_path / "bad.lst"),
                                "--out", str(tmp_path / "m3.pt")])


def test_convert_cli_lengths_resampling_and_unknown_target(imported, tmp_path, capsys):
    from pylib.bin import convert

    _, _, model_file = imported
    a, b = tmp_path / "p225_001.wav", tmp_path / "p226_002.wav"
    write_wav(a, 16000, _speech(1000))
    write_wav(b, 22050, _speech(900, sr=22050))  # another rate: resampled to the model's
    with pytest.raises(UserError, match="p225, p226"):
        convert.main(["--model", str(model_file), "--target", "p999", str(a), "--out-dir",
                      str(tmp_path / "o")])
    out = tmp_path / "out"
    assert convert.main(["--model", str(model_file), "--target", "p226", str(a), str(b), "--out-dir",
                         str(out), "--no-progress"]) == 0
    assert "1 input(s) resampled to the model's 16000 Hz" in capsys.readouterr().out
    sr, y = read_wav(out / "p225_001.wav")
    assert sr == 16000 and len(y) == 1000 and np.isfinite(y).all() and 0.9 < np.abs(y).max() <= 1.0
    sr, y = read_wav(out / "p226_002.wav")
    assert sr == 16000 and abs(len(y) - round(900 * 16000 / 22050)) <= 1
    # --pairs with a wav.scp (the recipe's stage 4)
    (tmp_path / "wav.scp").write_text(f"p225_001 {a}\n", encoding="utf-8")
    (tmp_path / "pairs.txt").write_text("p225_001 p226\n", encoding="utf-8")
    assert convert.main(["--model", str(model_file), "--pairs", str(tmp_path / "pairs.txt"), "--wav-scp",
                         str(tmp_path / "wav.scp"), "--out-dir", str(tmp_path / "pairs"),
                         "--no-progress"]) == 0
    assert read_wav(tmp_path / "pairs" / "p225_001.wav")[1].shape == (1000,)
    with pytest.raises(UserError, match="--wav-scp"):
        convert.main(["--model", str(model_file), "--pairs", str(tmp_path / "pairs.txt"), "--out-dir",
                      str(tmp_path / "x")])


def test_speakers_and_config_errors():
    m = Blow(BlowConfig(**TOY))
    assert m.speaker_index("p226") == 1 and m.speaker_index("p999") == 2  # unseen: the extra row
    assert m.embed.weight.shape == (3, 6)
    with pytest.raises(UserError, match="it knows p225, p226"):
        m.target_index("p999")
    with pytest.raises(ConfigError, match="model.speakers is empty"):
        BlowConfig(**{**TOY, "speakers": []})
    with pytest.raises(ConfigError, match="odd"):
        BlowConfig(**{**TOY, "kernel": 4})
    with pytest.raises(ConfigError, match="conversion_map"):
        BlowConfig(**{**TOY, "conversion_map": {"p225": "p300"}})


def test_training_step_is_reproducible_and_learns():
    torch.manual_seed(0)
    model = Blow(BlowConfig(**TOY))
    wav = torch.from_numpy(np.stack([_speech(1600, seed=s) for s in (1, 2)]))[..., None]
    batch = {"wav": wav, "wav_len": torch.tensor([1600, 1200]), "utt_id": ["p225_001", "p226_001"]}
    a = model._augmented(batch, step=3)
    assert a.shape == (2, 256, 1) and torch.equal(a, model._augmented(batch, step=3))
    assert not torch.equal(a, model._augmented(batch, step=4))  # a new draw every step
    model.eval()  # the dev loss: the same frames at every evaluation
    assert torch.equal(model._augmented(batch, step=3), model._augmented(batch, step=4))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.cfg.augment = False
    first = None
    for _ in range(6):
        loss, stats = model(batch)
        first = stats["nll"] if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.isfinite(stats["nll"]) and stats["nll"] < first
    assert all(float(m.initialized) == 1 for m in model.modules() if hasattr(m, "initialized"))
