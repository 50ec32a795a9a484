import json
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from pylib.data import SpeechDataset, build_loader, collate, load_data_spec
from pylib.data.lengths import CACHE_NAME
from pylib.errors import ConfigError, DataError
from pylib.io import write_f4, write_list, write_table, write_wav
from tests.conftest import noise
from tests.data.synth import MEL_DIM, make_set, make_spec, mel_of, spec_dict, write_utt

LENGTHS = {"u1": 4000, "u2": 3290, "u3": 8123, "u4": 1700, "u5": 500}


@pytest.fixture
def dump(tmp_path):
    make_set(tmp_path, "train", LENGTHS)
    return tmp_path


def check_item(it):
    """Every feature covers the same region [start, start + len) exactly."""
    s = it["start"]
    n = it["wav_len"]
    assert s % 160 == 0 and n % 160 == 0
    np.testing.assert_array_equal(it["wav"][:, 0].numpy(), np.arange(s, s + n, dtype=np.float32))
    assert it["mel_len"] == n // 80 and it["f0_len"] == n // 160
    np.testing.assert_array_equal(it["mel"][:, 0].numpy(), np.arange(s // 80, (s + n) // 80))
    np.testing.assert_array_equal(it["f0"][:, 0].numpy(), np.arange(s // 160, (s + n) // 160))
    assert it["mel"].shape == (n // 80, MEL_DIM) and it["mel"].dtype == torch.float32


def test_spec_rejects_unknown_keys_and_bad_truncate():
    with pytest.raises(ConfigError, match="unknown key"):
        load_data_spec(spec_dict(batchsize=3))
    with pytest.raises(ConfigError, match="multiple of 160"):
        make_spec(truncate=1000)
    with pytest.raises(ConfigError, match="unknown key"):
        load_data_spec(spec_dict(train=[{"root": "train", "lists": "x"}]))


def test_training_crops_are_aligned_across_resolutions(dump):
    ds = SpeechDataset(make_spec(), dump, "train", train=True, seed=3)
    assert ds.report["too_short"] == ["u5"]  # 500 < min_len 800
    assert len(ds) == 4
    starts = set()
    for epoch in range(4):
        for i in range(len(ds)):
            it = ds[(i, epoch)]
            check_item(it)
            assert it["wav_len"] == min(1600, LENGTHS[it["utt_id"]] // 160 * 160)
            starts.add((it["utt_id"], it["start"]))
            assert ds[(i, epoch)]["start"] == it["start"]  # seeded: the same crop again
    assert len(starts) > 4  # crops move between epochs


def test_eval_gives_whole_utterances_in_fixed_order(dump):
    loader = build_loader(make_spec(), dump, "train", train=False, batch_size=2)
    seen = []
    for _ in range(2):
        ids = [u for b in loader for u in b["utt_id"]]
        seen.append(ids)
    assert seen[0] == seen[1] and sorted(seen[0]) == sorted(LENGTHS)  # min_len not applied
    assert seen[0][0] == "u3"  # longest first
    ds = loader.dataset
    for i in range(len(ds)):
        it = ds[i]
        check_item(it)
        assert it["start"] == 0 and it["wav_len"] == LENGTHS[it["utt_id"]] // 160 * 160


def test_split_mode_keeps_consecutive_segments(dump):
    ds = SpeechDataset(make_spec(segments="split", min_len=1000), dump, "train", train=True)
    segs = {}
    for i in range(len(ds)):
        it = ds[i]
        check_item(it)
        segs.setdefault(it["utt_id"], []).append((it["start"], it["wav_len"]))
    assert segs["u3"] == [
        (0, 1600),
        (1600, 1600),
        (3200, 1600),
        (4800, 1600),
        (6400, 1600),
    ]  # rest 960 < 1000
    assert segs["u1"] == [(0, 1600), (1600, 1600)]  # the 800-sample rest is under min_len 1000
    assert segs["u4"] == [(0, 1600)] and "u5" not in segs


def test_tolerance_trims_and_mismatch_errors(tmp_path):
    make_set(tmp_path, "train", {"a": 3200, "b": 3200})
    # 2 extra f0 frames (320 samples) is within tolerance 2 x 160: trimmed
    write_utt(tmp_path / "train", "a", 3200, f0=np.ones((3200 // 160 + 2, 1), np.float32))
    # 4 extra mel frames over the wav: 320 + 80 samples > 2 frames of 160
    write_utt(tmp_path / "train", "b", 3200, mel=mel_of(3200 + 320))
    spec = make_spec()
    with pytest.raises(DataError) as e:
        SpeechDataset(spec, tmp_path, "train", train=True)
    msg = str(e.value)
    assert "b.f4" in msg and str(tmp_path / "train" / "mel" / "b.f4") in msg and "wav" in msg
    assert "45 frames" in msg and "3200 samples" in msg
    ds = SpeechDataset(make_spec(on_mismatch="skip"), tmp_path, "train", train=False)
    assert ds.utt_ids == ["a"] and ds.report["mismatch"][0][0] == "b"
    assert ds[0]["wav_len"] == 3200 and ds[0]["f0_len"] == 20


def test_merged_corpora_and_duplicate_ids(tmp_path):
    make_set(tmp_path, "c1", {"a": 3200, "b": 2400})
    make_set(tmp_path, "c2", {"x": 1600})
    corpora = [{"root": "c1"}, {"root": "c2"}]
    spec = make_spec(train=corpora)
    loader = build_loader(spec, tmp_path, spec.train, train=True)
    assert sorted(u for b in loader for u in b["utt_id"]) == ["a", "b", "x"]
    make_set(tmp_path, "c3", {"a": 1600})
    with pytest.raises(DataError, match="unique across merged corpora"):
        SpeechDataset(spec, tmp_path, [{"root": "c1"}, {"root": "c3"}], train=True)


def test_custom_list_and_feature_dirs(tmp_path):
    make_set(tmp_path, "c1", {"a": 3200, "b": 2400})
    (tmp_path / "c1" / "mel").rename(tmp_path / "melx")
    write_list(tmp_path / "sub.lst", ["b"])
    ds = SpeechDataset(
        make_spec(), tmp_path, [{"root": "c1", "list": "sub.lst", "dirs": {"mel": "melx"}}], train=False
    )
    assert ds.utt_ids == ["b"]
    check_item(ds[0])


def test_length_cache_is_invalidated_by_a_change(dump):
    spec = make_spec(on_mismatch="skip")
    SpeechDataset(spec, dump, "train", train=False)
    cache = dump / "train" / CACHE_NAME
    assert cache.is_file() and len(json.loads(cache.read_text())["files"]) == 3 * len(LENGTHS)
    ds = SpeechDataset(spec, dump, "train", train=False)
    assert ds.samples[ds.utt_ids.index("u1")] == 4000
    mtime = cache.stat().st_mtime_ns
    # rewrite u1's wav shorter with the same mtime as before: the size alone invalidates the entry
    path = dump / "train" / "wav" / "u1.f4"
    old = path.stat()
    write_f4(path, np.arange(2000, dtype=np.float32))
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
    ds = SpeechDataset(spec, dump, "train", train=False)
    assert "u1" not in ds.utt_ids and ds.report["mismatch"][0][0] == "u1"
    assert cache.stat().st_mtime_ns >= mtime
    # restore it: same size but a new mtime is also noticed
    write_f4(path, np.arange(4000, dtype=np.float32))
    ds = SpeechDataset(spec, dump, "train", train=False)
    assert ds.samples[ds.utt_ids.index("u1")] == 4000


def test_wav_outputs_are_read_partially(tmp_path):
    T = 4000
    wave = noise(T / 16000, seed=4)
    root = tmp_path / "train"
    write_utt(root, "a", T)
    write_wav(root / "wav" / "a.wav", 16000, wave, subtype="FLOAT")
    write_list(root / "train.lst", ["a"])
    spec = make_spec(outputs=[{"name": "wav", "ext": ".wav", "dim": 1, "hop": 1}])
    ds = SpeechDataset(spec, tmp_path, "train", train=True, seed=1)
    it = ds[(0, 5)]
    s = it["start"]
    np.testing.assert_array_equal(it["wav"][:, 0].numpy(), wave[s : s + 1600])
    assert it["mel"][0, 0] == s // 80
    sf.write(str(root / "wav" / "a.wav"), wave, 8000)  # wrong rate: an error naming the file
    with pytest.raises(DataError, match=r"a\.wav: sample rate 8000"):
        SpeechDataset(spec, tmp_path, "train", train=True)


def test_bad_inputs_name_the_file(dump):
    spec = make_spec()
    os.remove(dump / "train" / "f0" / "u2.f4")
    with pytest.raises(DataError, match=r"f0/u2\.f4: feature file not found"):
        SpeechDataset(spec, dump, "train", train=True)
    write_utt(dump / "train", "u2", 3290)
    with open(dump / "train" / "mel" / "u3.f4", "ab") as f:
        f.write(b"\0\0\0\0")  # one float too many: not a multiple of dim
    with pytest.raises(DataError, match=r"mel/u3\.f4: size .* not a multiple"):
        SpeechDataset(spec, dump, "train", train=True)
    mel = mel_of(8123)
    mel[7, 2] = np.nan
    write_utt(dump / "train", "u3", 8123, mel=mel)
    ds = SpeechDataset(spec, dump, "train", train=False)
    with pytest.raises(DataError, match=r"mel/u3\.f4: contains NaN"):
        ds[ds.utt_ids.index("u3")]
    os.remove(dump / "train" / "train.lst")
    with pytest.raises(DataError, match=r"train\.lst: list not found.*make_lists"):
        SpeechDataset(spec, dump, "train", train=True)


def test_labels_and_collate(tmp_path):
    make_set(tmp_path, "cm", {"a": 3200, "b": 1760, "c": 2400})
    write_table(tmp_path / "cm" / "utt2label", {"a": "bonafide", "b": "spoof A01", "c": "spoof A02"})
    spec = make_spec(truncate=None, inputs=[{"name": "mel", "dim": MEL_DIM, "hop": 80}], outputs=[])
    ds = SpeechDataset(spec, tmp_path, [{"root": "cm", "labels": True}], train=False, with_outputs=False)
    batch = collate([ds[0], ds[1]])
    assert batch["utt_id"] == ["a", "b"] and set(batch) >= {"mel", "mel_len", "mel_mask", "label", "attack"}
    assert "wav" not in batch
    assert batch["label"].tolist() == [1, 0] and batch["attack"] == ["-", "A01"]
    # mel alone: every frame of the file (N = T // 80 + 1)
    assert batch["mel"].shape == (2, 41, MEL_DIM) and batch["mel_len"].tolist() == [41, 23]
    assert batch["mel_mask"].sum().item() == 64 and not batch["mel_mask"][1, 23:].any()
    assert batch["mel"][1, 23:].abs().sum() == 0 and batch["mel"][1, 22, 0] == 22


@pytest.mark.parametrize(
    "subtype, ext, fast",
    [
        ("PCM_16", ".wav", True),
        ("FLOAT", ".wav", True),
        ("PCM_24", ".wav", False),
        ("PCM_16", ".flac", False),
    ],
)
def test_wav_fast_path_matches_soundfile(tmp_path, subtype, ext, fast):
    from pylib.data.rawwav import read_wav_rows, wav_layout

    path = tmp_path / f"a{ext}"
    write_wav(path, 16000, noise(0.3, seed=2), subtype=subtype)
    ref = sf.read(str(path), dtype="float32")[0]
    layout = wav_layout(path)
    assert (layout is not None) == fast
    if fast:
        assert layout[:2] == (16000, len(ref))
        np.testing.assert_array_equal(read_wav_rows(path, layout, 100, 2100), ref[100:2100])
    root = tmp_path / "train"
    write_utt(root, "a", len(ref))
    (root / "wav" / "a.f4").unlink()
    write_wav(root / "wav" / f"a{ext}", 16000, ref, subtype=subtype)
    write_list(root / "train.lst", ["a"])
    spec = make_spec(outputs=[{"name": "wav", "ext": ext, "dim": 1, "hop": 1}])
    it = SpeechDataset(spec, tmp_path, "train", train=True, seed=0)[(0, 1)]
    s = it["start"]
    np.testing.assert_array_equal(it["wav"][:, 0].numpy(), ref[s : s + 1600])
