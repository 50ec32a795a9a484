import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from pylib.bin import extract_features as cli
from pylib.errors import ConfigError, DataError, UserError
from pylib.features import check_features_match, extract_job, merge_jobs, parse_features
from pylib.features.extract import job_chunk
from pylib.features.extractors import F0Extractor
from pylib.features.toy_corpus import make_toy_corpus
from pylib.io import read_f4, read_utt2num_frames, read_wav, write_table, write_wav
from tests.conftest import sine

FEATURES = {
    "sample_rate": 16000,
    "resample": False,
    "extractors": {
        "mel": {"type": "logmel", "n_fft": 512, "hop": 80, "win_length": 320, "n_mels": 20},
        "f0": {"type": "f0", "method": "yin", "hop": 80},
        "wav": {"type": "wave", "format": "wav"},
    },
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    make_toy_corpus(root, 5, seed=11, min_dur=0.5, max_dur=0.8)
    return root


def _features(**kw):
    return {**FEATURES, **kw}


def _snapshot(dump):
    return {p.relative_to(dump).as_posix(): p.read_bytes() for p in sorted(dump.rglob("*")) if p.is_file()}


def test_job_chunks_cover_ids_once_in_order():
    ids = [f"u{i:02d}" for i in range(11)]
    for n in (1, 2, 3, 11, 13):
        chunks = [job_chunk(ids, j, n) for j in range(1, n + 1)]
        assert sum(chunks, []) == ids
        assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    with pytest.raises(ConfigError, match="--job"):
        job_chunk(ids, 0, 2)


def test_split_jobs_and_merge_equal_one_job(corpus, tmp_path):
    one, split = tmp_path / "one", tmp_path / "split"
    extract_job(_features(), corpus / "wav.scp", one, progress=False)
    for j in (1, 2, 3):
        extract_job(_features(), corpus / "wav.scp", split, job=j, num_jobs=3, progress=False)
    assert not (split / "mel" / "utt2num_frames").exists()
    merge_jobs(split, 3)
    assert _snapshot(one) == _snapshot(split)
    frames = read_utt2num_frames(one / "mel" / "utt2num_frames")
    assert len(frames) == 5
    for utt, n in frames.items():
        sr, wave = read_wav(corpus / "wavs" / f"{utt}.wav")
        assert n == wave.size // 80 + 1
        assert read_f4(one / "f0" / f"{utt}.f4", 1).shape == (n, 1)
        assert read_utt2num_frames(one / "wav" / "utt2num_frames")[utt] == wave.size
    settings = yaml.safe_load((one / "features.yaml").read_text())
    assert settings["outputs"]["mel"] == {"dim": 20, "hop": 80, "ext": ".f4"}
    assert settings["extractors"]["f0"]["fmin"] == 60.0  # defaults are recorded


def test_merge_names_the_missing_job(corpus, tmp_path):
    extract_job(_features(), corpus / "wav.scp", tmp_path, job=1, num_jobs=2, progress=False)
    with pytest.raises(DataError, match="job 2 of 2"):
        merge_jobs(tmp_path, 2)


def test_resume_after_kill_and_overwrite(corpus, tmp_path, monkeypatch):
    calls = []
    real = F0Extractor.__call__

    def dies_on_third(self, wave):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # stands in for a kill in the middle of a job
        return real(self, wave)

    monkeypatch.setattr(F0Extractor, "__call__", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()], "temp files left behind"
    assert len(list((tmp_path / "f0").glob("*.f4"))) == 2
    monkeypatch.setattr(F0Extractor, "__call__", real)

    # a SIGKILL mid-write leaves the atomic writer's temp file; the rerun removes it
    stale = tmp_path / "mel" / ".spk04_0001.f4.abc123.tmp"
    stale.write_bytes(b"partial")
    counts = extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    assert counts == {"extracted": 3, "skipped": 2, "bad": 0, "redo": {"missing": 3}}
    assert not stale.exists()
    before = _snapshot(tmp_path)
    victim = tmp_path / "mel" / "spk02_0001.f4"
    victim.unlink()
    assert extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)["redo"] == {"missing": 1}
    assert _snapshot(tmp_path) == before
    assert (
        extract_job(_features(), corpus / "wav.scp", tmp_path, overwrite=True, progress=False)["extracted"]
        == 5
    )


def test_changed_settings_need_overwrite(corpus, tmp_path):
    extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    changed = _features(extractors={**FEATURES["extractors"], "f0": {"type": "f0", "hop": 160}})
    with pytest.raises(ConfigError, match=r"extractors\.f0\.hop"):
        extract_job(changed, corpus / "wav.scp", tmp_path, progress=False)
    extract_job(changed, corpus / "wav.scp", tmp_path, overwrite=True, progress=False)
    n = read_utt2num_frames(tmp_path / "f0" / "utt2num_frames")["spk01_0001"]
    assert n == read_utt2num_frames(tmp_path / "wav" / "utt2num_frames")["spk01_0001"] // 160 + 1


def _scp_with(tmp_path, corpus, extra):
    scp = {u: str(corpus / "wavs" / f"{u}.wav") for u in ("spk01_0001", "spk02_0001")}
    scp.update(extra)
    write_table(tmp_path / "wav.scp", scp)
    return tmp_path / "wav.scp"


def test_sample_rate_mismatch_error_or_resample(corpus, tmp_path):
    other = write_wav(tmp_path / "w22.wav", 22050, sine(200.0, sr=22050, seconds=0.5))
    scp = _scp_with(tmp_path, corpus, {"spk03_x": str(other)})
    with pytest.raises(DataError, match=r"w22\.wav.*22050"):
        extract_job(_features(), scp, tmp_path / "d1", progress=False)
    extract_job(_features(resample=True), scp, tmp_path / "d2", progress=False)
    assert read_utt2num_frames(tmp_path / "d2" / "wav" / "utt2num_frames")["spk03_x"] == 8000


def test_unreadable_and_empty_wavs_error_or_skip(corpus, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    empty = tmp_path / "empty.wav"
    write_wav(empty, 16000, np.zeros(0, np.float32))
    scp = _scp_with(tmp_path, corpus, {"spk03_bad": str(bad), "spk03_empty": str(empty)})
    with pytest.raises(DataError, match=r"spk03_bad.*broken\.wav"):
        extract_job(_features(), scp, tmp_path / "d1", progress=False)
    counts = extract_job(_features(), scp, tmp_path / "d2", skip_bad=True, progress=False)
    assert counts["bad"] == 2 and counts["extracted"] == 2
    listed = (tmp_path / "d2" / "bad_files.txt").read_text()
    assert "spk03_bad" in listed and "broken.wav" in listed and "spk03_empty" in listed
    assert set(read_utt2num_frames(tmp_path / "d2" / "mel" / "utt2num_frames")) == {
        "spk01_0001",
        "spk02_0001",
    }


@dataclasses.dataclass
class _Feat:
    name: str
    dim: int
    hop: int
    ext: str


@dataclasses.dataclass
class _Spec:
    sample_rate: int
    inputs: list
    outputs: list


def test_check_features_match_names_the_key(corpus, tmp_path):
    extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    check_features_match(tmp_path, _features())
    check_features_match(tmp_path, parse_features(_features()))
    mel = dict(FEATURES["extractors"]["mel"], hop=160)
    with pytest.raises(ConfigError, match=r"extractors\.mel\.hop.*80.*160"):
        check_features_match(tmp_path, _features(extractors={**FEATURES["extractors"], "mel": mel}))
    with pytest.raises(ConfigError, match="sample_rate"):
        check_features_match(tmp_path, _features(sample_rate=22050))
    good = _Spec(
        16000, [_Feat("mel", 20, 80, ".f4"), _Feat("f0", 1, 80, ".f4")], [_Feat("wav", 1, 1, ".wav")]
    )
    check_features_match(tmp_path, good)
    with pytest.raises(ConfigError, match="'mel' has dim 20 in the dump but 80"):
        check_features_match(tmp_path, dataclasses.replace(good, inputs=[_Feat("mel", 80, 80, ".f4")]))
    with pytest.raises(ConfigError, match="hop"):
        check_features_match(
            tmp_path, {"sample_rate": 16000, "inputs": [{"name": "f0", "dim": 1, "hop": 160}]}
        )
    with pytest.raises(ConfigError, match="'lfcc' is not in this dump"):
        check_features_match(tmp_path, {"inputs": [{"name": "lfcc", "dim": 60}]})
    with pytest.raises(DataError, match="stage 1"):
        check_features_match(tmp_path / "nowhere", _features())


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"features\.extractors\.mel.*'hopp'"):
        parse_features(_features(extractors={"mel": {"type": "logmel", "hopp": 80}}))
    with pytest.raises(ConfigError, match="unknown feature 'mfcc'"):
        parse_features(_features(extractors={"x": {"type": "mfcc"}}))
    with pytest.raises(ConfigError, match="'resampel'"):
        parse_features(_features(resampel=True))
    with pytest.raises(ConfigError, match="empty"):
        parse_features(_features(extractors={}))


def test_cli_end_to_end(corpus, tmp_path):
    conf = tmp_path / "conf.yaml"
    conf.write_text(yaml.safe_dump({"features": FEATURES}))
    base = [
        "--conf",
        str(conf),
        "--wav-scp",
        str(corpus / "wav.scp"),
        "--out-dir",
        str(tmp_path / "d"),
        "--no-progress",
    ]
    for j in ("1", "2"):
        assert cli.main(base + ["--job", j, "--num-jobs", "2"]) == 0
    assert cli.main(["--out-dir", str(tmp_path / "d"), "--num-jobs", "2", "--merge"]) == 0
    assert len(read_utt2num_frames(tmp_path / "d" / "f0" / "utt2num_frames")) == 5
    assert not list(Path(tmp_path / "d").rglob("utt2num_frames.*"))
    (tmp_path / "nofeat.yaml").write_text("model: {}\n")
    with pytest.raises(ConfigError, match="no `features:` section"):
        cli.main(["--conf", str(tmp_path / "nofeat.yaml")] + base[2:])
    with pytest.raises(UserError, match="--wav-scp are required"):
        cli.main(["--out-dir", str(tmp_path / "d")])
    with pytest.raises(DataError, match="stage 0"):
        cli.main(
            ["--conf", str(conf), "--wav-scp", str(tmp_path / "none.scp"), "--out-dir", str(tmp_path / "e")]
        )


@dataclasses.dataclass
class _EnergyConfig:
    hop: int = 160


class _FrameEnergy:
    """A stand-in for an extractor outside nnsp (named `module:Class`): instance-level ext/dim/hop."""

    Config = _EnergyConfig

    def __init__(self, cfg, sample_rate):
        self.hop, self.dim, self.ext = cfg.hop, 2, ".f4"

    def __call__(self, wave):
        n = wave.size // self.hop + 1
        e = np.array([np.sum(wave[i * self.hop : (i + 1) * self.hop] ** 2) for i in range(n)], np.float32)
        return np.stack([e, np.sqrt(e)], axis=1)


def test_an_extractor_outside_nnsp_works(corpus, tmp_path):
    feats = _features(extractors={"energy": {"type": f"{__name__}:_FrameEnergy", "hop": 160}})
    extract_job(feats, corpus / "wav.scp", tmp_path, progress=False)
    frames = read_utt2num_frames(tmp_path / "energy" / "utt2num_frames")
    utt, n = next(iter(frames.items()))
    assert read_f4(tmp_path / "energy" / f"{utt}.f4", 2).shape == (n, 2)
    check_features_match(tmp_path, {"inputs": [{"name": "energy", "dim": 2, "hop": 160, "ext": ".f4"}]})


def test_a_dump_of_the_previous_release_stays_up_to_date(corpus, tmp_path):
    """features.yaml used to say `reso` for `hop`: a rerun neither stops nor redoes any file."""
    extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    settings = tmp_path / "features.yaml"
    old = yaml.safe_load(settings.read_text())
    for out in old["outputs"].values():
        out["reso"] = out.pop("hop")
    settings.write_text(yaml.safe_dump(old))
    counts = extract_job(_features(), corpus / "wav.scp", tmp_path, progress=False)
    assert counts["extracted"] == 0 and counts["skipped"] == 5
    assert yaml.safe_load(settings.read_text())["outputs"]["mel"] == {"dim": 20, "hop": 80, "ext": ".f4"}
