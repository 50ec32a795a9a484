"""The 36 LCNN countermeasures of the seed's 03-asvspoof-mega against nnsp's `lcnn` (float64).

For each seed folder `{lfcc,lfb,spec2}-lcnn-{lstmsum,attention,fixed}-{am,oc,p2s,sig}`, the seed's
`Model` (01/model.py, published widths) is built with a small temporary protocol file; its
weights go into nnsp's model through the importer (`convert_state_dict`), and both get the same
waveforms with the same random stream (torch.manual_seed before each pass: dropout masks, the
fixed back end's crop positions and the attention pooling's noise are drawn in the same order).
Checked: the embedding, the training loss of the seed's `Loss` class and every parameter's
gradient (training mode), and the scores (eval mode), each to 1e-5 relative.
"""

import warnings

import pytest
import torch

from pylib.models.cm.import_project_nn import NAMES, build_seed_model, seed_key_map, split_name
from pylib.models.seed_import import convert_state_dict, detect_arch
from tests.parity.peers import load_seed_model_module, require_seed, seed_args

RTOL, ATOL = 1e-5, 1e-9
UTTS = [("LA_T_0001", "bonafide"), ("LA_T_0002", "spoof")]


@pytest.fixture(scope="module")
def protocol(tmp_path_factory):
    require_seed()
    path = tmp_path_factory.mktemp("cm_parity") / "protocol.txt"
    # the seed's protocol_parse: column 2 the trial name, the last column bonafide / spoof
    path.write_text("".join(f"LA_0000 {u} - - {lab}\n" for u, lab in UTTS))
    return str(path)


def seed_model(name, protocol):
    mod = load_seed_model_module(f"03-asvspoof-mega/{name}/01/model.py", optional_argument=[protocol])
    torch.manual_seed(0)
    model = mod.Model(1, 1, seed_args()).double()
    front = model.m_frontend[0]
    front.window_buf = torch.hamming_window(320, dtype=torch.float64)  # the seed builds it float32
    return mod, model


def nnsp_model(name, seed):
    arch, config, state = convert_state_dict(seed.state_dict(), arch=name, where=name)
    assert arch == name and config["model"]["name"] == "lcnn"
    model = build_seed_model(name).double()
    model.load_state_dict(state)
    return model


def waves(b, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    tt = torch.arange(t, dtype=torch.float64) / 16000
    tone = torch.stack([0.3 * torch.sin(2 * torch.pi * (300 + 170 * i) * tt) for i in range(b)])
    return (tone + 0.05 * torch.randn(b, t, generator=g, dtype=torch.float64))[..., None]


def close(a, b, what):
    torch.testing.assert_close(a, b, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


def run_both(name, protocol, t=8000, b=2):
    """One training step and one scoring pass in both models; asserts agreement."""
    mod, seed = seed_model(name, protocol)
    nn_model = nnsp_model(name, seed)
    head = split_name(name)[2]
    x = waves(b, t)
    names = [UTTS[i % 2][0] for i in range(b)]
    fileinfo = [f"{i},{n},0,{t},0" for i, n in enumerate(names)]
    batch = {"wav": x, "wav_len": torch.full((b,), t), "label": torch.tensor([1 - i % 2 for i in range(b)])}

    # training mode: embedding, loss (the seed's Loss class), every gradient
    seed.train()
    nn_model.train()
    got = {}
    seed_embed, nn_embed = seed._compute_embedding, nn_model.embed
    seed._compute_embedding = lambda *a: got.setdefault("seed", seed_embed(*a))
    nn_model.embed = lambda *a: got.setdefault("nnsp", nn_embed(*a))
    torch.manual_seed(1234)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the seed's stft(return_complex=False)
        outputs = seed(x.clone(), fileinfo)
    loss_seed = mod.Loss(seed_args()).compute(outputs, None)
    torch.manual_seed(1234)
    loss_nnsp, stats = nn_model(batch)
    emb_seed, emb_nnsp = got["seed"], got["nnsp"]
    del seed._compute_embedding, nn_model.embed  # back to the classes' methods
    if head == "sig":  # the seed's embedding is the logit: nnsp's sigmoid head computes it
        emb_seed, emb_nnsp = emb_seed.squeeze(1), nn_model.head(emb_nnsp)
    close(emb_nnsp, emb_seed, f"{name} train embedding")
    close(loss_nnsp, loss_seed, f"{name} loss")
    loss_seed.backward()
    loss_nnsp.backward()
    ours = dict(nn_model.named_parameters())
    rule = seed_key_map(name)
    compared = set()
    for key, p in seed.named_parameters():
        if not p.requires_grad:
            assert key.startswith(("input_", "output_", "m_frontend")), key  # fixed in the seed too
            continue
        nk, fn = rule(key)
        assert p.grad is not None and ours[nk].grad is not None, key
        close(ours[nk].grad, fn(p.grad), f"{name} gradient of {key}")
        compared.add(nk)
    assert compared == {k for k, p in ours.items() if p.requires_grad}  # every trainable weight

    # eval mode: the scores (the fixed back end still crops at random there, as the seed does)
    seed.eval()
    nn_model.eval()
    torch.manual_seed(99)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score_seed = seed._compute_score(seed._compute_embedding(x.clone(), [t] * b), True).reshape(b)
    torch.manual_seed(99)
    score_nnsp = torch.tensor(nn_model.infer(batch), dtype=torch.float64)
    close(score_nnsp, score_seed, f"{name} scores")
    return nn_model


@pytest.mark.parametrize("name", NAMES)
def test_seed_parity(name, protocol):
    # the fixed back end always runs 750 frames (hard-wired in the seed's __init__) and float64
    # convolutions are slow on CPU: one trial there (the two-trial crop test below covers batches)
    run_both(name, protocol, b=1 if split_name(name)[1] == "fixed" else 2)


@pytest.mark.parametrize("name", ["lfcc-lcnn-fixed-p2s", "spec2-lcnn-fixed-oc"])
def test_fixed_random_crop_parity(name, protocol):
    """Trials longer than 750 frames: the random crop (training and scoring) draws as the seed's."""
    run_both(name, protocol, t=160 * 760 + 37)


def test_detect_arch_on_seed_checkpoints(protocol):
    """Every seed folder's fresh weights are recognised: uniquely, except am vs p2s with the
    lstmsum and attention back ends (identical shapes), where both are named."""
    for name in NAMES:
        _, seed = seed_model(name, protocol)
        sd = seed.state_dict()
        front, back, head = split_name(name)
        if head in ("am", "p2s") and back != "fixed":
            other = name[: -len(head)] + ("p2s" if head == "am" else "am")
            with pytest.raises(Exception, match="several") as e:
                detect_arch(sd, where=name)
            assert name in str(e.value) and other in str(e.value)
        else:
            assert detect_arch(sd, where=name) == name
