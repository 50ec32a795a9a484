"""Multi-view batches (data.views): an item with its vocoded copies and augmented views, one crop."""


import numpy as np
import pytest
import torch

from pylib.data import build_loader
from pylib.data import views as views_mod
from pylib.data.spec import load_data_spec
from pylib.errors import ConfigError, DataError
from pylib.io import write_list, write_table, write_wav
from tests.data.synth import make_set, make_spec, write_utt

OFFSET = {"a": 100000.0, "b": 200000.0}


def _dumps(tmp_path):
    """train: u1 (bona fide, 4000 samples), u2 (spoof, 3000); train_voc: u1 by vocoders a and b
    (b's copy 800 samples shorter), whose values are the source's plus the vocoder's offset."""
    make_set(tmp_path, "train", {"u1": 4000, "u2": 3000})
    write_table(tmp_path / "train" / "utt2label", {"u1": "bonafide -", "u2": "spoof A01"})
    root = tmp_path / "train_voc"
    for voc, T in (("a", 4000), ("b", 3200)):
        t = np.arange(T, dtype=np.float32)
        write_utt(root, f"u1__{voc}", T, wav=t + OFFSET[voc])
    write_list(root / "train_voc.lst", ["u1__a", "u1__b"])
    write_table(root / "utt2vocoder", {"u1__a": "a", "u1__b": "b"})


def _spec(**views):
    return make_spec(train=[{"root": "train", "labels": True}], views={"vocoded": ["train_voc"], **views})


def test_groups_hold_the_item_and_its_copies_at_one_crop(tmp_path):
    _dumps(tmp_path)
    loader = build_loader(_spec(), tmp_path, [{"root": "train", "labels": True}], train=True, seed=3)
    seen = set()
    for epoch in range(4):
        loader.batch_sampler.set_epoch(epoch)
        (batch,) = list(loader)  # batch_size 2: both items
        assert batch["group"].tolist() == [0, 0, 0, 1] or batch["group"].tolist() == [0, 1, 1, 1]
        rows = {u: i for i, u in enumerate(batch["utt_id"])}
        assert set(rows) == {"u1", "u1__a", "u1__b", "u2"}
        assert batch["vocoder"][rows["u1__a"]] == "a" and batch["vocoder"][rows["u1"]] == "-"
        assert batch["view"].tolist() == [0, 0, 0, 0]
        labels = {u: (int(batch["label"][i]), batch["attack"][i]) for u, i in rows.items()}
        assert labels == {"u1": (1, "-"), "u1__a": (0, "a"), "u1__b": (0, "b"), "u2": (0, "A01")}
        group = {u: int(batch["group"][i]) for u, i in rows.items()}
        assert group["u1__a"] == group["u1"] == group["u1__b"] != group["u2"]
        start = int(batch["start"][rows["u1"]])
        seen.add(start)
        assert all(int(batch["start"][rows[u]]) == start for u in ("u1__a", "u1__b"))
        wav = batch["wav"][:, :, 0]
        want = torch.arange(start, start + 1600, dtype=torch.float32)
        assert torch.equal(wav[rows["u1"]], want)
        assert torch.equal(wav[rows["u1__a"]], want + OFFSET["a"])
        # b's copy ends at 3200: the rest of the crop is zeros (the seed pads a copy to the source)
        b = torch.where(want < 3200, want + OFFSET["b"], torch.zeros_like(want))
        assert torch.equal(wav[rows["u1__b"]], b)
        mel = batch["mel"][rows["u1__a"]]
        assert torch.equal(mel, batch["mel"][rows["u1"]])  # synth copies share mel: same frames read
    assert len(seen) > 1  # the crop moves from epoch to epoch, for the whole group
    # the same seed and epoch give the same batch (what exact resume needs)
    again = build_loader(_spec(), tmp_path, [{"root": "train", "labels": True}], train=True, seed=3)
    again.batch_sampler.set_epoch(3)
    assert next(iter(again))["utt_id"] == batch["utt_id"]
    assert torch.equal(next(iter(again))["wav"], batch["wav"])


def _wav_dumps(tmp_path):
    """The same two sets as float wav files (augmented views need waveform inputs)."""
    for name, utts in (("train", {"u1": 4000, "u2": 3000}), ("train_voc", {"u1__a": 4000})):
        for u, T in utts.items():
            x = (np.arange(T, dtype=np.float32) + (OFFSET["a"] if "__" in u else 0.0)) / 1e6
            write_wav(tmp_path / name / "wav" / f"{u}.wav", 16000, x, subtype="FLOAT")
        write_list(tmp_path / name / f"{name}.lst", list(utts))
    write_table(tmp_path / "train" / "utt2label", {"u1": "bonafide -", "u2": "spoof A01"})
    write_table(tmp_path / "train_voc" / "utt2vocoder", {"u1__a": "a"})


def _wave_spec(k):
    return load_data_spec({
        "sample_rate": 16000, "inputs": [{"name": "wav", "ext": ".wav"}], "truncate": 1600, "batch_size": 2,
        "train": [{"root": "train", "labels": True}], "views": {"vocoded": ["train_voc"], "augmented": k},
        "augment": [{"type": "mask", "p": 0.0}],  # the views' draws (stand-ins below replace them)
    })


def _stand_in_views(monkeypatch, views):
    """Replace the augmentation's views(wave, utt, epoch, k) by `views` for every MultiViewDataset."""
    monkeypatch.setattr(views_mod, "_augment_views", lambda base: views)


def test_augmented_views_come_from_the_augment_library(tmp_path, monkeypatch):
    _wav_dumps(tmp_path)
    calls = []

    def views(wave, utt, epoch, k):  # stand-in for Augmentation.views
        calls.append((utt, epoch, k, wave.size))
        return [wave * (j + 2) for j in range(k)] + []

    _stand_in_views(monkeypatch, views)
    loader = build_loader(_wave_spec(2), tmp_path, [{"root": "train", "labels": True}], train=True, seed=1)
    loader.batch_sampler.set_epoch(5)
    (batch,) = list(loader)
    assert sorted(calls) == [("u1", 5, 2, 1600), ("u1__a", 5, 2, 1600), ("u2", 5, 2, 1600)]
    assert len(batch["utt_id"]) == 9  # u1 and u1__a with 2 views each (6 rows), u2 with 2 (3 rows)
    rows = [(u, int(v)) for u, v in zip(batch["utt_id"], batch["view"])]
    wav = batch["wav"][:, :, 0]
    for (u, v), x in zip(rows, wav):
        base = wav[rows.index((u, 0))]
        torch.testing.assert_close(x, base * (v + 1 if v else 1))  # view j = the row's wave x (j + 1)
    # rows are item-major: each system's views follow it, so the group hook can reshape them
    u1 = [r for r, g in zip(rows, batch["group"]) if g == batch["group"][rows.index(("u1", 0))]]
    assert u1 == [("u1", 0), ("u1", 1), ("u1", 2), ("u1__a", 0), ("u1__a", 1), ("u1__a", 2)]


def test_supcon_on_a_multi_view_batch(tmp_path, monkeypatch):
    from pylib.losses.supcon import group_supcon

    _wav_dumps(tmp_path)
    _stand_in_views(monkeypatch, lambda w, u, e, k: [w[::-1].copy() for _ in range(k)])
    loader = build_loader(_wave_spec(1), tmp_path, [{"root": "train", "labels": True}], train=True, seed=1)
    batch = next(iter(loader))
    emb = torch.nn.Linear(1600, 8)(batch["wav"][:, :, 0])
    loss = group_supcon(emb, batch, length_norm=True)
    assert torch.isfinite(loss) and loss.requires_grad


def test_errors(tmp_path):
    _dumps(tmp_path)
    with pytest.raises(ConfigError, match="inputs .'mel', 'f0'. are not waveforms"):
        _spec(augmented=2)
    with pytest.raises(ConfigError, match="augmented: must be >= 0"):
        _spec(augmented=-1)
    with pytest.raises(ConfigError, match="unknown key.*'copies'"):
        make_spec(views={"copies": ["x"]})
    write_table(tmp_path / "train_voc" / "utt2vocoder", {"u1__a": "a", "u1__b": "c"})
    with pytest.raises(DataError, match="'u1__b' is not `<utt>__c`"):
        build_loader(_spec(), tmp_path, [{"root": "train", "labels": True}], train=True)
    (tmp_path / "train_voc" / "utt2vocoder").unlink()
    with pytest.raises(DataError, match="train_voc: has neither utt2vocoder nor utt2label"):
        build_loader(_spec(), tmp_path, [{"root": "train", "labels": True}], train=True)
    # utt2label's attack column (copy_synth writes the vocoder there) matches the copies as well
    write_table(tmp_path / "train_voc" / "utt2label", {"u1__a": "spoof a", "u1__b": "spoof b"})
    loader = build_loader(_spec(), tmp_path, [{"root": "train", "labels": True}], train=True)
    assert sorted(next(iter(loader))["vocoder"]) == ["-", "-", "a", "b"]
    # dev and inference loaders never group
    assert "group" not in next(iter(build_loader(_spec(), tmp_path, "train", train=False)))


def test_vocoded_dumps_must_agree_with_the_features(tmp_path):
    from pylib.data.spec import spec_from_config

    _dumps(tmp_path)
    (tmp_path / "train_voc" / "features.yaml").write_text("sample_rate: 22050\noutputs: {}\n")
    section = {"inputs": [{"name": "wav", "ext": ".f4"}], "train": [{"root": "train"}],
               "views": {"vocoded": ["train_voc"]}}
    with pytest.raises(ConfigError, match="train_voc/features.yaml sample_rate = 22050 vs features"):
        spec_from_config({"features": {"sample_rate": 16000, "extractors": {"wav": {"type": "wave"}}},
                          "data": section}, tmp_path)
