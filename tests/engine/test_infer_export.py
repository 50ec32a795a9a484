import numpy as np
import pytest
import torch

import pylib
from pylib.bin import export_model as export_cli
from pylib.bin import infer as infer_cli
from pylib.contracts import ContractError, Countermeasure, LossModel, Vocoder
from pylib.engine.export import export_model, load_model
from pylib.engine.infer import SCORES
from pylib.errors import UserError
from pylib.io.audio import read_wav
from pylib.io.scores import read_partial_scores, read_scores
from tests.engine.common import make_config, train_inproc, weights
from tests.engine.toy_models import MODEL_CLASS


def infer_set(*args, **kw):
    """Stage 4 in-process, handed the toy models' lookup as the infer entry point hands its own."""
    from pylib.engine.infer import infer_set as run

    return run(*args, model_class=MODEL_CLASS, **kw)


@pytest.fixture
def trained(tmp_path):
    def make(exp="exp", **model):
        conf = make_config(tmp_path, f"{exp}.yaml", model=model, train={"epochs": 1})
        train_inproc(conf, tmp_path / exp)
        return tmp_path / exp

    return make


def test_export_and_load_round_trip(trained, tmp_path):
    exp = trained()
    out = export_model(exp, tmp_path / "model.pt")
    model = pylib.load_model(out, model_class=MODEL_CLASS)
    assert not model.training
    best = weights(exp, "checkpoint_best.pt")["model"]
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    assert torch.equal(model.norm["x"].std, torch.full((4,), 2.0))  # statistics travel inside
    assert export_cli.main([str(exp), str(tmp_path / "m2.pt"), "--checkpoint", "last"]) == 0
    m2 = load_model(tmp_path / "m2.pt", MODEL_CLASS, device="cpu")
    last = weights(exp)["model"]
    assert all(torch.equal(v, last[k]) for k, v in m2.state_dict().items())


def test_load_model_bad_files(tmp_path):
    with pytest.raises(UserError, match="model file not found"):
        load_model(tmp_path / "nope.pt", MODEL_CLASS)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="junk.pt: not a readable nnsp model file"):
        load_model(tmp_path / "junk.pt", MODEL_CLASS)
    torch.save({"format": "something"}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="other.pt: not an nnsp one-file model"):
        load_model(tmp_path / "other.pt", MODEL_CLASS)


def test_infer_scores_skip_and_resume(trained, tmp_path):
    exp = trained()
    out = tmp_path / "scores"
    args = ["--exp-dir", str(exp), "--subset", "eval", "--out-dir", str(out), "--data-dir", "unused",
            "--import", "tests.engine.toy_models"]
    assert infer_cli.main(args) == 0
    scores = read_scores(out / SCORES)
    assert len(scores) == 6 and all(np.isfinite(list(scores.values())))
    # a killed run: two lines missing and a torn last line
    lines = (out / SCORES).read_text().splitlines()
    (out / SCORES).write_text("\n".join(lines[:4]) + "\n" + lines[4][:5])
    assert read_partial_scores(out / SCORES)[1].keys() == set(sorted(scores)[:4])
    res = infer_set(exp, "unused", "eval", out)
    assert res == {"written": 2, "skipped": 4, "bad": 0}
    assert read_scores(out / SCORES) == pytest.approx(scores, abs=1e-6)
    assert infer_set(exp, "unused", "eval", out) == {"written": 0, "skipped": 6, "bad": 0}


def test_infer_waves_of_a_vocoder_skip_and_redo(trained, tmp_path):
    whole = infer_set(trained("w", name="toy_linear_wave"), "unused", "eval", tmp_path / "w_out")
    assert whole["written"] == 6 and not (tmp_path / "w_out" / SCORES).exists()
    for f in sorted((tmp_path / "w_out").glob("*.wav")):
        sr, a = read_wav(f)
        assert sr == 8000 and len(a) % 4 == 0 and len(a) > 24  # frames x hop samples
    (tmp_path / "w_out" / "utt000.wav").unlink()
    w = tmp_path / "w"
    assert infer_set(w, "unused", "eval", tmp_path / "w_out") == {"written": 1, "skipped": 5, "bad": 0}
    # another checkpoint in the same folder: every output is redone, never a mix of two models
    assert infer_set(trained("w2", name="toy_linear_wave"), "unused", "eval", tmp_path / "w_out") == {
        "written": 6,
        "skipped": 0,
        "bad": 0,
    }


def test_output_kind_comes_from_the_contract_not_the_shape(trained, tmp_path):
    """A countermeasure whose infer returns one-sample arrays still writes scores; a vocoder whose
    infer returns a one-sample waveform still writes a wav; a countermeasure giving arrays fails."""
    from pylib.engine.infer import run_inference

    batches = [{"utt_id": ["a", "b"]}]
    cm = _Fixed.of(Countermeasure, [np.array([0.5], np.float32), torch.tensor(0.25)])
    assert run_inference(cm, batches, tmp_path / "cm", 8000)["written"] == 2
    assert read_scores(tmp_path / "cm" / SCORES) == {"a": 0.5, "b": 0.25}
    assert not list((tmp_path / "cm").glob("*.wav"))
    voc = _Fixed.of(Vocoder, [np.array([0.5], np.float32), np.zeros(3, np.float32)])
    assert run_inference(voc, batches, tmp_path / "voc", 8000)["written"] == 2
    assert [len(read_wav(tmp_path / "voc" / f"{u}.wav")[1]) for u in "ab"] == [1, 3]
    assert not (tmp_path / "voc" / SCORES).exists()
    bad = _Fixed.of(Countermeasure, [np.zeros(4), np.zeros(4)])
    with pytest.raises(UserError, match="is a countermeasure: its infer.. must give one float.*shape .4,."):
        run_inference(bad, batches, tmp_path / "bad", 8000)
    with pytest.raises(ContractError, match="declares no kind contract.*Vocoder or.*Countermeasure"):
        run_inference(_Fixed([]), batches, tmp_path / "none", 8000)


class _Fixed(torch.nn.Module, LossModel):
    """infer() returns the given items whatever the batch."""

    def __init__(self, items):
        super().__init__()
        self.items = items

    @classmethod
    def of(cls, kind, items):
        return type(f"Fixed{kind.__name__}", (cls, kind), {})(items)

    def param_groups(self):
        return {"model": []}

    def forward(self, batch, step=0):
        return None, {}

    def infer(self, batch):
        return self.items


def test_infer_needs_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="no checkpoint"):
        infer_cli.main(["--exp-dir", str(tmp_path), "--subset", "eval", "--data-dir", "unused"])
