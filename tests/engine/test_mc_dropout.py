"""MC dropout at inference: the seed's score / model / data confidence columns, seeded, resumable."""

import pytest
import torch
from torch import nn

from pylib.contracts import Countermeasure, LossModel, Vocoder
from pylib.engine.infer import SCORES, mc_summary, run_inference
from pylib.errors import UserError
from pylib.io.scores import read_score_columns, read_scores
from tests.parity.peers import load_seed_module


def test_mc_summary_parity_with_the_seed():
    seed = load_seed_module("sandbox.util_bayesian")
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(30, 5, 2, dtype=torch.float64, generator=g) * 3
    logits[:, 4] = torch.tensor([0.0, 40.0], dtype=torch.float64)  # saturated: the floors matter
    llr, eps, ale = seed.compute_llr_eps_ale(logits)
    score, model_conf, data_conf = mc_summary(torch.sigmoid(logits[..., 1] - logits[..., 0]))
    torch.testing.assert_close(score, llr[:, 0], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(model_conf, eps[:, 0], atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(data_conf, ale[:, 0], atol=1e-9, rtol=1e-9)


def test_mc_summary_hand_case():
    # two passes, p = 0.5 and 1.0: mean 0.75
    score, model_conf, data_conf = mc_summary(torch.tensor([[0.5], [1.0]]))
    h = lambda p: -(p * torch.log(torch.tensor(p)) + (1 - p) * torch.log(torch.tensor(1 - p)))  # noqa: E731
    assert float(score) == pytest.approx(float(torch.log(torch.tensor(3.0))))
    assert float(data_conf) == pytest.approx(float(h(0.5)) / 2, abs=1e-6)  # the p = 1 pass: ~0
    assert float(model_conf) == pytest.approx(float(h(0.75) - h(0.5) / 2), abs=1e-6)


class _ToyCM(nn.Module, LossModel, Countermeasure):
    """mean over frames -> linear -> BatchNorm -> dropout -> score."""

    def __init__(self, dropout=0.5):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(3, 16)
        self.bn = nn.BatchNorm1d(16)
        self.drop = nn.Dropout(dropout) if dropout else nn.Identity()
        self.out = nn.Linear(16, 1)
        self.bn.running_mean.uniform_(-0.1, 0.1)

    def param_groups(self):
        return {"model": list(self.parameters())}

    def forward(self, batch, step=0):
        raise NotImplementedError

    def infer(self, batch):
        x = batch["x"]
        mask = batch["x_mask"][..., None].to(x.dtype)
        pooled = (x * mask).sum(1) / mask.sum(1)
        return [float(s) for s in self.out(self.drop(self.bn(self.lin(pooled))))[:, 0]]


def _batches():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 6, 3, generator=g)
    lens = torch.tensor([6, 4, 5])
    mask = torch.arange(6)[None] < lens[:, None]
    x = x * mask[..., None]
    return [{"utt_id": ["a", "b", "c"], "x": x, "x_len": lens, "x_mask": mask}]


def test_run_inference_writes_the_seed_columns(tmp_path):
    model = _ToyCM()
    bn = {k: v.clone() for k, v in model.bn.state_dict().items()}
    assert run_inference(model, _batches(), tmp_path / "a", 16000, mc_dropout=20, seed=3)["written"] == 3
    cols = read_score_columns(tmp_path / "a" / SCORES)
    assert sorted(cols) == ["a", "b", "c"] and all(len(v) == 3 for v in cols.values())
    assert all(v[1] > 0 and v[2] > 0 for v in cols.values())  # the passes disagree: both uncertainties
    assert read_scores(tmp_path / "a" / SCORES) == {u: v[0] for u, v in cols.items()}  # score_cm's view
    # BatchNorm stayed in eval (running statistics untouched) and the model is back in eval mode
    assert all(torch.equal(v, model.bn.state_dict()[k]) for k, v in bn.items())
    assert not model.training and not model.drop.training
    # the same seed gives the same file; a row alone (another batch make-up) gives its same numbers
    run_inference(model, _batches(), tmp_path / "b", 16000, mc_dropout=20, seed=3)
    assert (tmp_path / "a" / SCORES).read_text() == (tmp_path / "b" / SCORES).read_text()
    one = _batches()[0]
    alone = [{"utt_id": ["b"], "x": one["x"][1:2, :4], "x_len": one["x_len"][1:2],
              "x_mask": one["x_mask"][1:2, :4]}]
    run_inference(model, alone, tmp_path / "c", 16000, mc_dropout=20, seed=3)
    assert read_score_columns(tmp_path / "c" / SCORES)["b"] == pytest.approx(cols["b"], abs=1e-6)
    run_inference(model, _batches(), tmp_path / "d", 16000, mc_dropout=20, seed=4)
    assert read_scores(tmp_path / "d" / SCORES) != read_scores(tmp_path / "a" / SCORES)


def test_resume_keeps_the_columns(tmp_path):
    model = _ToyCM()
    out = tmp_path / "r"
    run_inference(model, _batches(), out, 16000, mc_dropout=8, seed=1)
    full = (out / SCORES).read_text()
    lines = full.splitlines(keepends=True)
    (out / SCORES).write_text(lines[0] + lines[1][:7])  # a killed run: one line and a torn one
    res = run_inference(model, _batches(), out, 16000, mc_dropout=8, seed=1)
    assert res == {"written": 2, "skipped": 1, "bad": 0}
    assert (out / SCORES).read_text() == full


def test_bad_requests(tmp_path):
    with pytest.raises(UserError, match="no dropout layer"):
        run_inference(_ToyCM(dropout=0), _batches(), tmp_path / "x", 16000, mc_dropout=4)

    class Voc(nn.Module, LossModel, Vocoder):
        def param_groups(self):
            return {}

        def forward(self, batch, step=0):
            raise NotImplementedError

        def infer(self, batch):
            return [torch.zeros(8)] * len(batch["utt_id"])

    with pytest.raises(UserError, match="N >= 1 passes of a countermeasure"):
        run_inference(Voc(), _batches(), tmp_path / "y", 16000, mc_dropout=4)
    with pytest.raises(UserError, match="N >= 1 passes"):
        run_inference(_ToyCM(), _batches(), tmp_path / "z", 16000, mc_dropout=-1)


def test_lcnn_dropout_follows_mc_mode():
    from pylib.engine.infer import dropout_on
    from pylib.models.cm.lcnn import LcnnCM, LcnnConfig

    torch.manual_seed(0)
    model = LcnnCM(LcnnConfig(n_filters=8, width=8, lstm_layers=1, n_fft=128, win_length=128, hop=64,
                              head="sigmoid"))
    model.eval()
    batch = {"utt_id": ["u", "u"], "wav": torch.randn(1, 3200, 1).repeat(2, 1, 1)}
    a = model.infer(batch)
    assert a[0] == a[1] and model.infer(batch) == a  # eval: deterministic
    dropout_on(model)
    b = model.infer(batch)
    assert b[0] != b[1]  # two copies, two dropout masks


def test_a_rerun_with_other_mc_settings_redoes_the_scores(tmp_path):
    from pylib.engine.infer import prepare_out_dir, read_record

    out = tmp_path / "o"
    src = {"checkpoint": "m.pt", "sha256": "ab" * 32, "set": "eval"}
    prepare_out_dir(out, src)
    (out / SCORES).write_text("a 1.0\n")
    prepare_out_dir(out, src)  # same: resumed
    assert (out / SCORES).is_file()
    mc = {**src, "mc_dropout": {"passes": 8, "seed": 0}}
    prepare_out_dir(out, mc)  # MC columns are not mixed with plain scores
    assert not (out / SCORES).exists() and read_record(out)["mc_dropout"] == {"passes": 8, "seed": 0}
