"""egs/asvspoof2019_la/ssl/conf: every config resolves (pylib.engine.build.resolve_config: data spec,
model, optimizer groups, train section) and builds its model, with the XLSR checkpoint replaced by the
tiny random wav2vec 2.0 of pylib.models.ssl.tiny written to a temporary folder."""

from pathlib import Path

import pytest

from pylib.config import load_yaml
from pylib.data.augment.config import RawBoostConfig

ROOT = Path(__file__).resolve().parents[2]
CONFS = sorted((ROOT / "egs" / "asvspoof2019_la" / "ssl" / "conf").glob("*.yaml"))
SSL_MODEL = "exp/ssl_model"  # where every config reads the SSL model (run.sh --ssl-model links it)


@pytest.fixture(scope="module")
def tiny_ssl(tmp_path_factory):
    pytest.importorskip("transformers")
    from pylib.models.ssl.fairseq import save_hf_folder
    from pylib.models.ssl.tiny import make_tiny_model

    folder = tmp_path_factory.mktemp("ssl") / "tiny"
    save_hf_folder(make_tiny_model("wav2vec2", seed=0), folder)
    return str(folder)


def with_tiny(node, path):
    """The config with every `path: exp/ssl_model` (features extractors, model front ends) -> path."""
    if isinstance(node, dict):
        return {k: (path if k == "path" and v == SSL_MODEL else with_tiny(v, path)) for k, v in node.items()}
    if isinstance(node, list):
        return [with_tiny(v, path) for v in node]
    return node


def test_every_conf_resolves_and_builds(tiny_ssl):
    from pylib.engine.build import resolve_config
    from pylib.models.catalogue import get_model_class

    assert {"w2v_xlsr_ft_ff_id7.yaml", "w2v_xlsr_ft_ff_b1.yaml"} <= {p.name for p in CONFS}
    for path in CONFS:
        raw = load_yaml(path)
        assert SSL_MODEL in path.read_text(), f"{path.name}: reads its SSL model elsewhere"
        resolved, spec, model, optim, _ = resolve_config(with_tiny(raw, tiny_ssl), get_model_class)
        assert resolved["model"]["name"] == "ssl_cm" and list(optim) == list(model.param_groups()), path.name
        if model.frontend is not None:  # the tiny model's width, read from its checkpoint
            assert model.ssl_dim == 32 and model.frontend.finetune == raw["model"]["frontend"]["finetune"]
        if path.stem in ("w2v_xlsr_ft_ff_id7", "w2v_xlsr_ft_ff_b1"):
            # the seed's multi-view training (09 model-ID-7/data_augment.py wav_aug_wrapper, model.py m_feat)
            assert spec.views.vocoded == ["train_voc"] and spec.views.augmented == 1, path.name
            assert [type(a) for a in spec.augment] == [RawBoostConfig] and spec.augment[0].algo == "lnl+isd"
            assert spec.batch_size == 1 and spec.truncate == 64000
            assert model.cfg.supcon_weight == 1.0 and model.cfg.back_end == "ff"
            assert model.cfg.supcon_frames == ("ssl" if path.stem.endswith("b1") else "proj")
            assert resolved["optim"]["ssl"]["lr"] == resolved["optim"]["model"]["lr"] == 5e-6
            assert resolved["train"]["epochs"] == 50


def test_id7_groups_are_the_seeds(tmp_path):
    """The ID-7 config's loader on a two-file dump: the bona fide utterance and its vocoded copy as
    read (view 0), each with one RawBoost view (view 1), as data_augment.py wav_aug_wrapper makes them."""
    import numpy as np

    from pylib.data import build_loader
    from pylib.data.spec import spec_from_config
    from pylib.io import write_list, write_table, write_wav

    g = np.random.default_rng(0)
    bona = 0.1 * g.standard_normal(6000)
    waves = {"train_bona": ("u1", bona), "train_voc": ("u1__hifigan", 0.5 * bona)}
    for root, (utt, x) in waves.items():
        write_wav(tmp_path / root / "wav" / f"{utt}.wav", 16000, x.astype(np.float32), subtype="FLOAT")
        write_list(tmp_path / root / f"{root}.lst", [utt])
    write_table(tmp_path / "train_bona" / "utt2label", {"u1": "bonafide -"})
    write_table(tmp_path / "train_voc" / "utt2vocoder", {"u1__hifigan": "hifigan"})
    raw = load_yaml(ROOT / "egs" / "asvspoof2019_la" / "ssl" / "conf" / "w2v_xlsr_ft_ff_id7.yaml")
    raw["data"]["num_workers"] = 0
    spec = spec_from_config(raw, tmp_path)
    loader = build_loader(spec, tmp_path, spec.train, train=True, seed=1)
    (batch,) = list(loader)
    rows = [(u, int(v)) for u, v in zip(batch["utt_id"], batch["view"])]
    assert rows == [("u1", 0), ("u1", 1), ("u1__hifigan", 0), ("u1__hifigan", 1)]
    assert batch["label"].tolist() == [1, 1, 0, 0] and batch["group"].tolist() == [0, 0, 0, 0]
    wav = batch["wav"][:, :, 0].numpy()
    for i, (_, x) in zip((0, 2), waves.values()):
        np.testing.assert_array_equal(wav[i], x.astype(np.float32))  # view 0: as read, whole (< 64000)
        assert np.abs(wav[i + 1] - wav[i]).max() > 1e-3  # view 1: RawBoost LnL + ISD changed it
