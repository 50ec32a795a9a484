"""The seed's SSL countermeasures (projects 07, 09, 10) against nnsp's `ssl_cm` (float64).

The seed's model files import fairseq (07, 09) or s3prl (10); stand-in modules (tests/parity/peers.py
`install_ssl_stubs`) hand their SSL wrappers a small randomly initialised model (`TinySSL`), and
nnsp's model gets a copy of the same model behind its front-end interface, so that both back ends
see identical SSL features. The seed's weights go into nnsp's model through the importer
(`convert_state_dict`, with the SSL key mapping stood in for: the stand-in's keys are not
fairseq's). Checked, with the same random stream (dropout): the training loss, every back-end
gradient and, for the fine-tuned models, every SSL parameter's gradient (training mode), and the
scores (eval mode), to 1e-5 relative. Also: the layer weighting of project 10's `BackEnd`.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pylib.config import from_dict
from pylib.errors import DataError
from pylib.models.cm import ssl_cm, ssl_cm_seed
from pylib.models.seed_import import convert_state_dict, detect_arch
from tests.parity.peers import (
    TinySSL,
    install_ssl_stubs,
    load_seed_model_module,
    make_standin_frontend,
    require_seed,
    seed_args,
    stand_in_config,
)

RTOL, ATOL = 1e-5, 1e-9
DIM = 16  # SSL feature dim of the stand-in (projects 09, 10 read it from the config)
DIM07 = 1024  # project 07's model files fix it (ssl_orig_output_dim = 1024)
T = 5520  # samples: 17 frames of the stand-in (hop 320), enough for the LLGF's four 2x2 pools


def close(a, b, what):
    torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


def waves(b=2, t=T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(b, t, generator=g, dtype=torch.float64)


def seed_model(relpath, tinies, **conf):
    """The seed's Model of `relpath` with SSL stand-ins `tinies` (consumed in order)."""
    require_seed()
    pending = list(tinies)
    install_ssl_stubs(pending)
    mod = load_seed_model_module(relpath, **conf)
    torch.manual_seed(0)
    model = mod.Model(1, 1, seed_args(), stand_in_config(**conf)).double()
    return mod, model


def nnsp_model(name, seed_sd, tinies, monkeypatch):
    """nnsp's model of seed folder `name` from the seed's state dict; `tinies`: SSL file name ->
    TinySSL whose copy the stand-in front end wraps."""
    def build(cfg):
        tiny = copy.deepcopy(tinies[cfg["path"].rsplit("/", 1)[-1]]).double()
        return make_standin_frontend(tiny, cfg.get("layers", "last"), cfg.get("finetune", False))

    def ssl_state(sub, frontend, where):
        return {"model." + k.split(".", 1)[1]: v for k, v in sub.items()}  # "tiny.conv.weight" -> ...

    monkeypatch.setattr(ssl_cm, "build_frontend", build)
    monkeypatch.setattr(ssl_cm_seed, "ssl_state", ssl_state)
    arch, config, state = convert_state_dict(seed_sd, arch=name, where=name)
    assert arch == name and config["model"]["name"] == "ssl_cm"
    keys = {k: v for k, v in config["model"].items() if k != "name"}
    model = ssl_cm.SslCM(from_dict(ssl_cm.SslCmConfig, keys, where=name)).double()
    model.load_state_dict(state)
    return model


def grads_match(seed, model, name, ssl_pairs=()):
    """Every mapped back-end parameter's gradient; ssl_pairs: (seed module, nnsp module) of SSL."""
    rule = ssl_cm_seed.key_rule(name)
    ours = dict(model.named_parameters())
    seen = 0
    for k, p in seed.named_parameters():
        nk = rule(k)
        if nk is None or p.grad is None:
            continue
        close(ours[nk].grad, p.grad, f"{name} gradient of {k}")
        seen += 1
    assert seen >= 4
    for a, b in ssl_pairs:
        for (k, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
            assert p.grad is not None, f"{name}: the seed's SSL {k} got no gradient"
            close(q.grad, p.grad, f"{name} SSL gradient of {k}")


# the three back ends fine-tuned, and the fixed SSL path (no SSL gradient, module-level SSL model) once:
# fix-GF and fix-LGF differ from ft-GF and ft-LGF in that path only (07-asvspoof-ssl/model-*/model.py)
P07_RUN = ["model-W2V-XLSR-ft-GF", "model-W2V-XLSR-ft-LGF", "model-W2V-XLSR-ft-LLGF",
           "model-W2V-XLSR-fix-LLGF"]


@pytest.mark.parametrize("name", P07_RUN)
def test_project07(name, monkeypatch):
    ft = "-ft-" in name
    tiny = [lambda: TinySSL.make(DIM07, layers=1, seed=3)]
    mod, seed = seed_model(f"07-asvspoof-ssl/{name}/model.py", tiny)
    tiny = (seed.m_ssl if hasattr(seed, "m_ssl") else seed.ssl_model).model.tiny if ft else \
        mod.g_ssl_model.model.tiny
    energy = name.endswith("GF") and "-LGF" not in name and "LLGF" not in name
    if energy:  # the energy terms of the seed's _loss (0 in the published models) on one model
        seed.m_lambda = 0.5
    seed_sd = {k: v for k, v in seed.state_dict().items()}
    model = nnsp_model(name, seed_sd, {"xlsr_53_56k.pt": tiny}, monkeypatch)
    if energy:
        model.cfg.energy_weight = 0.5
    assert (set(model.param_groups()) == {"ssl", "model"}) == ft
    t = T if name.endswith("LLGF") else 2640  # 8 frames are enough without the LCNN's pools
    x, label = waves(t=t), torch.tensor([1, 0])
    batch = {"wav": x[..., None], "wav_len": torch.full((2,), t), "label": label}

    seed.train()
    model.train()
    torch.manual_seed(7)
    logits = seed._compute_logit(seed._compute_embedding(x[..., None], None))
    seed_loss = seed._loss(logits, label, seed._energy(logits), np.arange(2), np.array([]))
    seed_loss.backward()
    torch.manual_seed(7)
    loss, stats = model(batch)
    loss.backward()
    close(loss, seed_loss, f"{name} loss")
    assert ("energy" in stats) == energy
    ssl = [(tiny, model.frontend.model)] if ft else []
    grads_match(seed, model, name, ssl)
    if not ft:
        assert all(p.grad is None for p in model.frontend.parameters())

    seed.eval()
    model.eval()
    with torch.no_grad():
        want = seed._compute_score(seed._compute_logit(seed._compute_embedding(x[..., None], None)))
    close(torch.tensor(model.infer(batch), dtype=torch.float64), want, f"{name} scores")
    assert name in ssl_cm_seed.identify(seed_sd)


def _mc_off(seed):
    for m in seed.modules():
        if type(m).__name__ == "DropoutForMC":
            m.flag = False


@pytest.mark.parametrize("name", ["model-ID-2", "model-ID-7", "model-ID-B1", "model-ID-B2"])
def test_projects_09_10(name, monkeypatch):
    b_model = name.startswith("model-ID-B")
    project = "10-asvspoof-vocoded-trn-ssl" if b_model else "09-asvspoof-vocoded-trn"
    tinies = [TinySSL.make(DIM, seed=3), TinySSL.make(DIM, seed=4)]
    seed_tinies = list(tinies)
    mod, seed = seed_model(f"{project}/{name}/model.py", seed_tinies, ssl_front_end_path="",
                           ssl_front_end_out_dim=DIM)
    files = {"xlsr_53_56k.pt": tinies[0]}
    if name == "model-ID-B2":  # ssl_model (the lv model) was built first, ssl_model2 (xlsr) second
        files = {"w2v_large_lv_fsh_swbd_cv.pt": tinies[0], "xlsr_53_56k.pt": tinies[1]}
    model = nnsp_model(name, seed.state_dict(), files, monkeypatch)
    assert set(model.param_groups()) == {"ssl", "model"}
    x, label = waves(t=2640), torch.tensor([1, 0])
    batch = {"wav": x[..., None], "wav_len": torch.full((2,), 2640), "label": label}

    seed.train()
    model.train()
    torch.manual_seed(11)
    feat = seed.m_front_end(x[..., None]) if b_model else seed.m_front_end(x[..., None], True)
    logits, _ = seed.m_back_end(feat)
    seed_loss = seed.m_ce_loss(logits, label)
    seed_loss.backward()
    torch.manual_seed(11)
    loss, _ = model(batch)
    loss.backward()
    close(loss, seed_loss, f"{name} loss")
    fe = seed.m_front_end
    ssl = [(fe.ssl_model.model.tiny, model.frontend.model)]
    if name == "model-ID-B2":
        ssl.append((fe.ssl_model2.model.tiny, model.frontend2.model))
    grads_match(seed, model, name, ssl)

    seed.eval()
    model.eval()
    _mc_off(seed)
    with torch.no_grad():
        feat = seed.m_front_end(x[..., None]) if b_model else seed.m_front_end(x[..., None], True)
        logits, _ = seed.m_back_end(feat)
    close(torch.tensor(model.infer(batch), dtype=torch.float64), logits[:, 1] - logits[:, 0],
          f"{name} scores")
    assert name in ssl_cm_seed.identify(seed.state_dict())


def test_b3_distillation(monkeypatch):
    """B3: cross entropy + 100 x L1(student SSL features, xlsr minus lv teacher features)."""
    tinies = [TinySSL.make(DIM, seed=s) for s in (3, 5, 6)]  # student, teacher xlsr, teacher lv
    mod, seed = seed_model("10-asvspoof-vocoded-trn-ssl/model-ID-B3/model.py", [tinies[0]],
                           ssl_front_end_path="", ssl_front_end_out_dim=DIM)
    install_ssl_stubs([copy.deepcopy(tinies[1]), copy.deepcopy(tinies[2])])
    teacher = mod.FrontEndTeacher("", DIM, True, None)
    files = {"xlsr_53_56k.pt": tinies[0]}
    made = []

    model = nnsp_model("model-ID-B3", seed.state_dict(), files, monkeypatch)
    assert model.cfg.distill_weight == 100.0

    def teacher_build(cfg):  # the teachers: xlsr (teacher) then lv (teacher2)
        made.append(cfg["path"])
        tiny = tinies[1] if len(made) == 1 else tinies[2]
        return make_standin_frontend(copy.deepcopy(tiny).double(), "last", False)

    monkeypatch.setattr(ssl_cm, "build_frontend", teacher_build)
    x, label = waves(), torch.tensor([1, 0])
    batch = {"wav": x[..., None], "wav_len": torch.full((2,), T), "label": label}
    seed.train()
    model.train()
    torch.manual_seed(3)
    feat = seed.m_front_end(x[..., None])
    logits, _ = seed.m_back_end(feat)
    distill = seed.m_feat_dis * F.l1_loss(feat, teacher.forward(x[..., None])[0])
    seed_loss = seed.m_ce_loss(logits, label) + distill
    seed_loss.backward()
    torch.manual_seed(3)
    loss, stats = model(batch)
    loss.backward()
    assert made[0].endswith("xlsr_53_56k.pt") and made[1].endswith("w2v_large_lv_fsh_swbd_cv.pt")
    assert stats["distill"] > 0
    close(loss, seed_loss, "B3 loss")
    grads_match(seed, model, "model-ID-B3", [(seed.m_front_end.ssl_model.model.tiny, model.frontend.model)])
    assert not any(k.startswith("_teacher") for k in model.state_dict())


def test_layer_weighting():
    """Project 10's BackEnd with hidden-layer features (m_feat_merger, LayerNorm, m_feat_compress)
    against nnsp's layer weighting of cached all-layer features."""
    tinies = [TinySSL.make(DIM, seed=3)]
    mod, _ = seed_model("10-asvspoof-vocoded-trn-ssl/model-ID-B1/model.py", tinies, ssl_front_end_path="",
                        ssl_front_end_out_dim=DIM)
    n_layers, comp, emb = 3, 12, 10
    torch.manual_seed(0)
    back = mod.BackEnd(DIM, emb, 2, 0.5, True, n_layers, comp, num_layer=2).double()
    cfg = from_dict(ssl_cm.SslCmConfig, dict(input="ssl", ssl_dim=DIM, ssl_layers=n_layers, proj_dim=comp,
                                            back_end="ff", ff_layers=2, ff_dim=emb), where="test")
    model = ssl_cm.SslCM(cfg).double()
    state = {"layer_weights": back.m_feat_merger.weight[0], "proj.weight": back.m_feat_compress[1].weight,
             "proj.bias": back.m_feat_compress[1].bias, "out.weight": back.m_utt_level.weight,
             "out.bias": back.m_utt_level.bias}
    for k in range(2):
        for p in ("weight", "bias"):
            state[f"ff.{3 * k}.{p}"] = getattr(back.m_frame_level[k].m_block[0], p)
    model.load_state_dict({k: v.detach().clone() for k, v in state.items()})
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(2, 9, n_layers, DIM, generator=g, dtype=torch.float64)
    batch = {"ssl": feats.reshape(2, 9, -1), "ssl_len": torch.full((2,), 9), "label": torch.tensor([0, 1])}
    model.train()
    torch.manual_seed(5)
    logits, _ = back([feats[:, :, -1], feats.permute(0, 1, 3, 2)])
    want = F.cross_entropy(logits, batch["label"])
    want.backward()
    torch.manual_seed(5)
    loss, _ = model(batch)
    loss.backward()
    close(loss, want, "layer-weighted loss")
    close(model.layer_weights.grad, back.m_feat_merger.weight.grad[0], "layer weight gradient")
    close(model.proj.weight.grad, back.m_feat_compress[1].weight.grad, "compression gradient")


def test_detect_and_errors(monkeypatch):
    tinies = [TinySSL.make(DIM, seed=3)]
    _, seed = seed_model("09-asvspoof-vocoded-trn/model-ID-2/model.py", tinies, ssl_front_end_path="",
                         ssl_front_end_out_dim=DIM)
    sd = seed.state_dict()
    with pytest.raises(DataError, match="several architectures"):
        detect_arch(sd, "ckpt")  # ID-2/4/6/7 differ in training only
    assert ssl_cm_seed.identify(sd) == list(ssl_cm_seed.P09)
    with pytest.raises(DataError, match="does not match seed architecture"):
        nnsp_model("model-ID-2", {**sd, "m_back_end.extra.weight": torch.zeros(2)},
                   {"xlsr_53_56k.pt": tinies[0]}, monkeypatch)


@pytest.mark.parametrize("name", ["model-ID-7", "model-ID-B1"])
def test_multi_view_supcon(name, monkeypatch):
    """A multi-view batch (2 utterances x (bona fide + 1 vocoded copy) x 2 views): the seed's
    `__forward_multi_view` (cross entropy + the two contrastive terms) against nnsp's loss with the
    `group` / `view` keys of pylib.data.views, and every gradient."""
    pytest.importorskip("pylib.losses.supcon", reason="the contrastive loss (vocoded) is not merged yet")
    b_model = name.startswith("model-ID-B")
    project = "10-asvspoof-vocoded-trn-ssl" if b_model else "09-asvspoof-vocoded-trn"
    tinies = [TinySSL.make(DIM, seed=3)]
    mod, seed = seed_model(f"{project}/{name}/model.py", list(tinies), ssl_front_end_path="",
                           ssl_front_end_out_dim=DIM)
    model = nnsp_model(name, seed.state_dict(), {"xlsr_53_56k.pt": tinies[0]}, monkeypatch)
    assert model.cfg.supcon_weight == 1.0
    bs, n_sys, n_view, t = 2, 2, 2, 2640
    g = torch.Generator().manual_seed(4)
    x = 0.1 * torch.randn(bs, t, n_sys, n_view, generator=g, dtype=torch.float64)
    # rows in the seed's order (utterance, system, view); bona fide is system 0
    label = torch.tensor([1 if s == 0 else 0 for _ in range(bs) for s in range(n_sys) for _ in range(n_view)])
    tar = label.reshape(bs, n_sys * n_view).double()
    feat_class = torch.tensor([[1] + [2] * (n_sys - 1)] * bs)
    seed.train()
    model.train()
    torch.manual_seed(9)
    views = [x, tar, tar, torch.ones_like(tar), feat_class]  # waves, targets 1 and 2, mixup gammas, classes
    losses, _ = seed._Model__forward_multi_view(views, [])
    seed_loss = sum(losses)
    seed_loss.backward()
    rows = x.permute(0, 2, 3, 1).reshape(-1, t)
    batch = {"wav": rows[..., None], "wav_len": torch.full((rows.shape[0],), t), "label": label,
             "group": torch.arange(bs).repeat_interleave(n_sys * n_view),
             "view": torch.arange(n_view).repeat(bs * n_sys)}
    torch.manual_seed(9)
    loss, stats = model(batch)
    loss.backward()
    close(loss, seed_loss, f"{name} multi-view loss")
    close(torch.tensor(stats["supcon"], dtype=torch.float64), (losses[1] + losses[2]).detach(),
          f"{name} contrastive terms")
    grads_match(seed, model, name, [(seed.m_front_end.ssl_model.model.tiny, model.frontend.model)])
