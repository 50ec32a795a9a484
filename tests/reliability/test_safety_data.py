"""Issue 12, data side: ids are names not paths, extraction knows where its outputs came from,
pipes are treated like files, partial failures keep the work, launchers leave no orphans, the data
stages scale linearly, and the unclear tracebacks became named errors.

Every case builds its few files in tmp_path (0.2-0.4 s sines, a 20-dim log-mel only), so the
module runs in seconds.
"""

import errno
import importlib.util
import io
import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from pylib.errors import DataError
from tests.conftest import sine
from tests.reliability.common import ROOT, SR, TALLY, assert_user_error, run_stage, write_yaml

FEATURES = {
    "sample_rate": SR,
    "resample": False,
    "extractors": {
        "mel": {"type": "logmel", "n_fft": 512, "hop": 80, "win_length": 320, "n_mels": 20},
    },
}


def _wav(path, seconds=0.3, freq=220.0, sr=SR, subtype="PCM_16"):
    from pylib.io import write_wav

    return write_wav(path, sr, sine(freq, sr=sr, seconds=seconds), subtype=subtype)


def _corpus(root, n=4):
    """n wavs, a wav.scp and a features-only recipe yaml under root; -> (conf, wav.scp, {utt: wav})."""
    from pylib.io import write_table

    root = Path(root)
    wavs = {f"utt{i}": _wav(root / "corpus" / f"utt{i}.wav", 0.2 + 0.05 * i, 150 + 50 * i) for i in range(n)}
    write_table(root / "data" / "wav.scp", {u: str(p) for u, p in wavs.items()})
    conf = write_yaml(root / "conf.yaml", {"features": FEATURES})
    return conf, root / "data" / "wav.scp", wavs


def _extract(conf, scp, out, *extra):
    return run_stage(
        "extract_features", "--conf", conf, "--wav-scp", scp, "--out-dir", out, "--no-progress", *extra
    )


# ------------------------------------------------------------------ item 2: ids are names, not paths

BAD_IDS = {
    "parent": "../../corpus/x",
    "absolute": "/abs/x",
    "backslash": "a\\b",
    "dotdot": "a..b",
    "option": "-rf",
    "hidden": ".x",
    "bom": "\ufeffx\ufeffy",
    "control": "a\x07b",
    "zero_width": "a\u200bb",
}


@pytest.mark.parametrize("case", sorted(BAD_IDS))
def test_the_validator_refuses_unsafe_names(case):
    from pylib.io.names import check_name, name_problem

    bad = BAD_IDS[case]
    assert name_problem(bad) is not None
    with pytest.raises(DataError) as e:
        check_name(bad, "data/train/wav.scp", 7)
    assert "data/train/wav.scp:7" in str(e.value) and repr(bad) in str(e.value)
    for good in ("LA_T_1138215", "spk1-utt.2", "a_b", "x" * 100, "名前"):
        assert name_problem(good) is None, good
    assert name_problem("") == "is empty"
    assert name_problem("a b") is not None


def _write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


READERS = {
    "wav.scp": lambda p: __import__("pylib.io", fromlist=["x"]).read_wav_scp(p),
    "list": lambda p: __import__("pylib.io", fromlist=["x"]).read_list(p),
    "utt2spk": lambda p: __import__("pylib.io", fromlist=["x"]).read_utt2spk(p),
    "utt2label": lambda p: __import__("pylib.io", fromlist=["x"]).read_utt2label(p),
    "scores": lambda p: __import__("pylib.io.scores", fromlist=["x"]).read_scores(p),
    "protocol": lambda p: __import__("pylib.data.asvspoof", fromlist=["x"]).read_labels(p),
    "split_list": lambda p: __import__("pylib.io.split", fromlist=["x"]).read_keyed_lines(p),
}
LINES = {  # the bad id first: it sorts before "z", so a sorted table is still sorted
    "wav.scp": "{bad} y.wav\nz x.wav\n",
    "list": "{bad}\nz\n",
    "utt2spk": "{bad} s1\nz s1\n",
    "utt2label": "{bad} spoof A01\nz bonafide\n",
    "scores": "{bad} 2.0\nz 1.0\n",
    "protocol": "LA_0079 {bad} - A01 spoof\nLA_0079 z - - bonafide\n",
    "split_list": "{bad} 2\nz 1\n",
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("bad", ["../../corpus/x", "/abs/x", "-x"])
def test_every_reader_refuses_path_ids_naming_file_line_and_id(tmp_path, reader, bad):
    path = _write(tmp_path / "table.txt", LINES[reader].format(bad=bad))
    with pytest.raises(DataError) as e:
        READERS[reader](path)
    assert f"{path}:1" in str(e.value) and repr(bad) in str(e.value)
    TALLY["bad"] += 1


def test_kaldi_import_refuses_a_path_id(tmp_path):
    import kaldiio

    from pylib.io.kaldi import kaldi_to_f4

    ark = tmp_path / "feats.ark"
    with open(ark, "wb") as f:
        kaldiio.save_ark(f, {".hidden": np.zeros((3, 2), np.float32)})
    with pytest.raises(DataError, match=r"'\.hidden'"):
        kaldi_to_f4(ark, tmp_path / "out", kind="ark")
    assert not (tmp_path / "out" / ".hidden.f4").exists()


def test_extract_features_never_writes_outside_its_out_dir(tmp_path):
    conf, scp, wavs = _corpus(tmp_path, 2)
    victim = wavs["utt1"]
    before = victim.read_bytes()
    # an id that would make <out>/mel/<id>.f4 land on the corpus audio
    rel = os.path.relpath(victim.with_suffix(""), tmp_path / "dump" / "mel")
    scp.write_text(f"{rel} {wavs['utt0']}\nutt1 {victim}\n")
    r = _extract(conf, scp, tmp_path / "dump")
    assert_user_error(r, f"{scp}:1", rel)
    assert victim.read_bytes() == before
    assert not list((tmp_path / "corpus").glob("*.f4"))


def test_vocode_overwrite_never_replaces_the_input_wavs(tmp_path):
    a = _wav(tmp_path / "nat" / "a.wav")
    before = a.read_bytes()
    model = tmp_path / "model.pt"
    model.write_bytes(b"never loaded: the check comes first")
    r = run_stage("vocode", "--model", model, str(a), "--out-dir", tmp_path / "nat", "--overwrite",
                  "--no-progress")
    assert_user_error(r, "overwrite the input", a)
    assert a.read_bytes() == before
    TALLY["bad"] += 1


def test_split_list_and_asvspoof_labels_never_overwrite_their_input(tmp_path):
    lst = _write(tmp_path / "1" / "x.lst", "a\nb\n")
    r = run_stage("split_list", lst, 1, "--out-dir", tmp_path)
    assert_user_error(r, "overwrite the input", lst)
    assert lst.read_text() == "a\nb\n"
    proto = _write(tmp_path / "protocol.txt", "LA_0079 a - - bonafide\n")
    r = run_stage("asvspoof_labels", "--protocol", proto, "--out", proto)
    assert_user_error(r, "overwrite the input", proto)
    assert proto.read_text() == "LA_0079 a - - bonafide\n"


def test_make_lists_never_overwrites_its_utt2label_input(tmp_path):
    from pylib.data.lists import make_list
    from pylib.data.spec import load_data_spec

    feats = [{"name": "mel", "ext": ".f4", "dim": 2, "hop": 80}]
    spec = load_data_spec({"sample_rate": SR, "inputs": feats})
    label = _write(tmp_path / "dump" / "train" / "utt2label", "a bonafide\n")
    with pytest.raises(DataError, match="overwrite the input"):
        make_list(spec, tmp_path / "dump", "train", spec.features, utt2label=label)
    assert label.read_text() == "a bonafide\n"


# ------------------------------------------------------------------ item 3: extraction provenance


def test_rerun_redoes_exactly_the_changed_missing_empty_and_partial_outputs(tmp_path):
    from pylib.features.extract import extract_job
    from pylib.io import read_f4, read_utt2num_frames

    conf, scp, wavs = _corpus(tmp_path, 6)
    out = tmp_path / "dump"
    first = extract_job(FEATURES, scp, out, progress=False)
    assert first["extracted"] == 6 and first["redo"] == {"missing": 6}
    records = [json.loads(x) for x in (out / "sources.jsonl").read_text().splitlines()]
    assert [r["utt"] for r in records] == sorted(wavs)
    src = records[0]["source"]
    assert src["path"] == str(wavs["utt0"]) and src["size"] == wavs["utt0"].stat().st_size
    assert src["mtime_ns"] == wavs["utt0"].stat().st_mtime_ns and len(records[0]["config"]) == 16

    (out / "mel" / "utt0.f4").unlink()  # missing
    (out / "mel" / "utt1.f4").write_bytes(b"")  # empty
    data = (out / "mel" / "utt2.f4").read_bytes()
    (out / "mel" / "utt2.f4").write_bytes(data[: len(data) // 2])  # partial (a cut copy)
    _wav(wavs["utt3"], seconds=0.4, freq=700.0)  # changed: the audio was replaced
    st = wavs["utt3"].stat()
    os.utime(wavs["utt3"], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    r = _extract(conf, scp, out)
    assert r.code == 0, r.err[-2000:]
    assert "4 utterances extracted (1 changed, 1 empty, 1 missing, 1 partial), 2 up to date" in r.out
    frames = read_utt2num_frames(out / "mel" / "utt2num_frames")
    assert frames["utt3"] == int(0.4 * SR) // 80 + 1 == read_f4(out / "mel" / "utt3.f4", 20).shape[0]
    assert frames["utt2"] == read_f4(out / "mel" / "utt2.f4", 20).shape[0]
    again = extract_job(FEATURES, scp, out, progress=False)
    assert again == {"extracted": 0, "skipped": 6, "bad": 0, "redo": {}}


def test_a_pipe_entry_is_recorded_and_redone_when_its_command_changes(tmp_path):
    from pylib.features.extract import extract_job

    conf, scp, wavs = _corpus(tmp_path, 1)
    scp.write_text(f"utt0 cat {wavs['utt0']} |\n")
    out = tmp_path / "dump"
    extract_job(FEATURES, scp, out, progress=False)
    rec = json.loads((out / "sources.jsonl").read_text())
    assert rec["source"] == {"command": f"cat {wavs['utt0']}"}
    assert extract_job(FEATURES, scp, out, progress=False)["skipped"] == 1
    scp.write_text(f"utt0 cat  {wavs['utt0']} | cat |\n")
    assert extract_job(FEATURES, scp, out, progress=False)["redo"] == {"changed": 1}


# ------------------------------------------------------------------ item 5: pipes are treated like files


def _read_entry_in_subprocess(entry, timeout=60, env=None):
    """read_wav_entry(entry) in a fresh process whose stdin is a pipe nobody writes to."""
    code = f"from pylib.io.audio import read_wav_entry\nprint(read_wav_entry({entry!r})[1].size)"
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail(f"`{entry}` hung for {timeout} s (it reads the caller's stdin)")
    return p.returncode, out, err


def test_a_pipe_runs_with_stdin_closed(tmp_path):
    code, out, err = _read_entry_in_subprocess("cat |")
    assert code != 0 and "DataError" in err and "gives no output" in err and "`cat`" in err


def test_a_failing_pipe_is_a_named_error_with_its_stderr(tmp_path):
    from pylib.io.audio import read_wav_entry

    w = _wav(tmp_path / "a.wav")
    with pytest.raises(DataError) as e:
        read_wav_entry(f"(cat {w}; echo decoder exploded >&2; exit 3) | cat |")
    msg = str(e.value)
    assert "exit 3" in msg and "decoder exploded" in msg and f"cat {w}" in msg


def test_a_truncated_pipe_is_refused_like_a_truncated_file(tmp_path):
    from pylib.io.audio import read_wav_entry

    w = _wav(tmp_path / "a.wav", seconds=0.3)
    with pytest.raises(DataError, match="truncated"):
        read_wav_entry(f"head -c 2000 {w} |")
    assert read_wav_entry(f"cat {w} |")[1].size == int(0.3 * SR)  # the whole stream is fine


def test_non_finite_and_stereo_pipe_output_is_refused(tmp_path):
    from pylib.io.audio import read_wav_entry

    x = sine(seconds=0.1)
    x[10] = np.nan
    nan = tmp_path / "nan.wav"
    sf.write(nan, x, SR, subtype="FLOAT")
    with pytest.raises(DataError, match="NaN"):
        read_wav_entry(f"cat {nan} |")
    st = tmp_path / "st.wav"
    sf.write(st, np.stack([x * 0, x * 0], 1), SR)
    with pytest.raises(DataError, match="2 channels"):
        read_wav_entry(f"cat {st} |")
    with pytest.raises(DataError, match="22050 Hz"):
        read_wav_entry(f"cat {_wav(tmp_path / 'r.wav', sr=22050)} |", sample_rate=SR)


def test_a_pipe_that_runs_too_long_is_stopped(tmp_path, monkeypatch):
    from pylib.io.audio import read_wav_entry

    marker = tmp_path / "still-running"
    monkeypatch.setenv("NNSP_PIPE_TIMEOUT", "0.5")
    t0 = time.monotonic()
    with pytest.raises(DataError) as e:
        read_wav_entry(f"echo waiting >&2; sleep 2; touch {marker}; cat x.wav |")
    assert time.monotonic() - t0 < 2.5
    assert "0.5 s" in str(e.value) and "NNSP_PIPE_TIMEOUT" in str(e.value) and "waiting" in str(e.value)
    time.sleep(2.2)
    assert not marker.exists(), "the pipe's processes were left running"
    monkeypatch.setenv("NNSP_PIPE_TIMEOUT", "soon")
    with pytest.raises(DataError, match="NNSP_PIPE_TIMEOUT"):
        read_wav_entry("cat x.wav |")


# ------------------------------------------------------------------ item 7: partial failure keeps the work


def test_extraction_keeps_the_work_before_a_bad_file_and_resumes(tmp_path):
    from pylib.features.extract import extract_job

    conf, scp, wavs = _corpus(tmp_path, 5)
    good = wavs["utt3"].read_bytes()
    wavs["utt3"].write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "dump"
    r = _extract(conf, scp, out)
    msg = assert_user_error(r, "utt3", wavs["utt3"], "--skip-bad")
    assert "3 utterance(s) before it are done and kept" in msg
    assert len(list((out / "mel").glob("*.f4"))) == 3
    wavs["utt3"].write_bytes(good)
    counts = extract_job(FEATURES, scp, out, progress=False)
    assert counts["extracted"] == 2 and counts["skipped"] == 3


def test_extraction_skip_bad_finishes_and_lists_bad_files(tmp_path):
    from pylib.io import read_table, read_utt2num_frames

    conf, scp, wavs = _corpus(tmp_path, 4)
    wavs["utt1"].write_bytes(b"RIFF0000WAVEjunk")
    out = tmp_path / "dump"
    r = _extract(conf, scp, out, "--skip-bad")
    assert r.code == 0, r.err[-2000:]
    bad = read_table(out / "bad_files.txt")
    assert list(bad) == ["utt1"] and str(wavs["utt1"]) in bad["utt1"]
    assert sorted(read_utt2num_frames(out / "mel" / "utt2num_frames")) == ["utt0", "utt2", "utt3"]


class _MeanModel(torch.nn.Module):
    """A stand-in countermeasure: the score is the mean of the waveform; counts what it scores."""

    def __init__(self):
        super().__init__()
        self.scored = []

    def infer(self, batch):
        self.scored += batch["utt_id"]
        x, n = batch["wav"][..., 0], batch["wav_len"]
        return [x[i, : n[i]].mean() * 1000 for i in range(len(n))]


@pytest.fixture
def mean_model(tmp_path, monkeypatch):
    import pylib.engine.score_folder as sf_mod
    from pylib.features.wave import ModelWave

    model = _MeanModel()
    path = tmp_path / "model.pt"
    path.write_bytes(b"model one")
    reader = ModelWave({"data": {"sample_rate": SR}}, "wav")
    monkeypatch.setattr(sf_mod, "load_scorer", lambda p, model_class, device="cpu": (model, reader))
    return model, path


def _wav_dir(root, n=4):
    for i in range(n):  # utt0 the longest, scored first (batches go longest first)
        _wav(Path(root) / f"utt{i}.wav", seconds=0.4 - 0.05 * i, freq=200 + 30 * i)
    return Path(root)


def test_score_wavs_keeps_scores_before_a_bad_file_and_resumes(tmp_path, mean_model):
    model, path = mean_model
    wavs = _wav_dir(tmp_path / "wavs")
    x = sine(seconds=0.1)
    x[5] = np.inf
    sf.write(wavs / "utt9.wav", x, SR, subtype="FLOAT")  # a valid header, bad samples; the shortest
    out = tmp_path / "scores" / "scores.txt"
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--out", out, "--batch-size", 1,
                  "--no-progress")
    msg = assert_user_error(r, wavs / "utt9.wav", "--skip-bad")
    assert "4 score(s) computed so far are kept" in msg
    assert not out.exists()
    assert (tmp_path / "scores" / "scores.txt.partial").read_text().count("\n") == 5  # header + 4
    _wav(wavs / "utt9.wav", seconds=0.1)
    model.scored.clear()
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--out", out, "--no-progress")
    assert r.code == 0, r.err[-2000:]
    assert model.scored == ["utt9"]  # resumed: only the file that failed
    assert len(out.read_text().splitlines()) == 5 and not Path(f"{out}.partial").exists()


def test_score_wavs_partial_scores_of_another_model_are_not_reused(tmp_path, mean_model):
    model, path = mean_model
    wavs = _wav_dir(tmp_path / "wavs", 3)
    out = tmp_path / "scores.txt"
    Path(f"{out}.partial").write_text("# model sha256 0123\nutt0 5.0\nutt1 6.0\n")
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--out", out, "--no-progress")
    assert r.code == 0, r.err[-2000:]
    assert sorted(model.scored) == ["utt0", "utt1", "utt2"]
    assert "5.000000" not in out.read_text() and not Path(f"{out}.partial").exists()


def test_score_wavs_skip_bad_lists_the_bad_files(tmp_path, mean_model):
    model, path = mean_model
    wavs = _wav_dir(tmp_path / "wavs", 3)
    (wavs / "broken.wav").write_bytes(b"RIFF garbage")
    out = tmp_path / "res" / "scores.txt"
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--out", out, "--skip-bad",
                  "--no-progress")
    assert r.code == 0, r.err[-2000:]
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["utt0", "utt1", "utt2"]
    bad = (tmp_path / "res" / "bad_files.txt").read_text()
    assert bad.startswith("broken ") and str(wavs / "broken.wav") in bad


def test_score_wavs_without_out_prints_the_scores_before_the_bad_file(tmp_path, mean_model):
    model, path = mean_model
    wavs = _wav_dir(tmp_path / "wavs", 2)
    x = sine(seconds=0.1)
    x[3] = np.nan
    sf.write(wavs / "utt9.wav", x, SR, subtype="FLOAT")
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--batch-size", 1, "--no-progress")
    assert_user_error(r, wavs / "utt9.wav")
    assert [line.split()[0] for line in r.out.splitlines()] == ["utt0", "utt1"]


def test_score_wavs_out_is_never_one_of_the_wavs(tmp_path, mean_model):
    _, path = mean_model
    wavs = _wav_dir(tmp_path / "wavs", 2)
    before = (wavs / "utt0.wav").read_bytes()
    r = run_stage("score_wavs", "--model", path, "--wav-dir", wavs, "--out", wavs / "utt0.wav")
    assert_user_error(r, "scores file")
    assert (wavs / "utt0.wav").read_bytes() == before


# ------------------------------------------------------------------ item 8: launchers leave no orphans


# a 3 s sleep whose command line carries a tag, so that the test can look for it in /proc
SLEEP3 = "python3 -c 'import time; time.sleep(3)'"


def _processes_with(text):
    """pids whose command line contains `text`."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if text in cmd:
                out.append(int(d.name))
    return out


def _wait_for(cond, timeout=20.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_to_run_py_stops_its_jobs(tmp_path, sig):
    tag = f"nnsp-orphan-test-{os.getpid()}-{int(sig)}"
    job = f"echo started > started.JOB; {SLEEP3} {tag}; touch marker.JOB"
    launcher = [str(ROOT / "utils" / "run.py"), "JOB=1:2", "log/j.JOB.log", job]
    p = subprocess.Popen(launcher, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        assert _wait_for(lambda: (tmp_path / "started.1").exists() and (tmp_path / "started.2").exists())
        p.send_signal(sig)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 128 + int(sig), err
    assert f"stopped by {signal.Signals(sig).name}" in err
    assert _wait_for(lambda: not _processes_with(tag), 5), "jobs were left running"
    time.sleep(3.5)
    assert not list(tmp_path.glob("marker.*")), "a job went on after run.py was stopped"
    assert f"stopped by {signal.Signals(sig).name}" in (tmp_path / "log" / "j.1.log").read_text()


def test_killing_the_recipe_shell_stops_run_py_and_its_jobs(tmp_path):
    tag = f"nnsp-orphan-recipe-{os.getpid()}"
    script = tmp_path / "run.sh"
    script.write_text(textwrap.dedent(f"""\
        #!/usr/bin/env bash
        . {ROOT}/utils/env.sh
        set -euo pipefail
        {ROOT}/utils/run.py log/j.log "echo started > started; {SLEEP3} {tag}; touch marker"
        echo finished > finished
        """))
    script.chmod(0o755)
    p = subprocess.Popen([str(script)], cwd=tmp_path, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: (tmp_path / "started").exists())
        p.send_signal(signal.SIGTERM)  # to run.sh only, not its process group
        p.wait(timeout=10)
        assert _wait_for(lambda: not _processes_with(tag), 10), "the job went on after run.sh died"
    finally:
        for pid in _processes_with(tag):
            os.kill(pid, signal.SIGKILL)
    time.sleep(3.5)
    assert not (tmp_path / "marker").exists() and not (tmp_path / "finished").exists()


# ------------------------------------------------------------------ item 9: scale


def test_data_stages_scale_linearly_quick():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "bench_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    shm = Path("/dev/shm")  # thousands of small files: on tmpfs the corpora cost ~0.5 s, not seconds
    workdir = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    result = bench.run(bench.QUICK_SIZES, verbose=False, retries=2, workdir=workdir)
    assert set(result) == set(bench.STAGES)
    assert all(0 < a < b for a, b, _ in result.values()), result  # it timed the work
    limit = bench.limit_for(bench.QUICK_SIZES)
    small, large = bench.QUICK_SIZES
    assert large / small < limit < 0.5 * (large / small) ** 2  # n log n passes, quadratic stays far above
    print(f"ratios {bench.QUICK_SIZES[1]}/{bench.QUICK_SIZES[0]} utterances (limit {limit:g}):",
          {s: round(r, 2) for s, (_, _, r) in result.items()})
    slow = {s: round(r, 1) for s, (_, _, r) in result.items() if r > limit}
    assert not slow, f"grows faster than linearly ({limit:g} at most): {slow}; full table: {result}"


# ------------------------------------------------------------------ item 10: clear errors


def test_a_bom_in_wav_scp_and_in_a_scores_file_is_ignored(tmp_path):
    from pylib.features.extract import extract_job
    from pylib.io.scores import read_scores

    conf, scp, wavs = _corpus(tmp_path, 2)
    scp.write_bytes(b"\xef\xbb\xbf" + scp.read_bytes())
    counts = extract_job(FEATURES, scp, tmp_path / "dump", progress=False)
    assert counts["extracted"] == 2
    assert sorted(p.name for p in (tmp_path / "dump" / "mel").glob("*.f4")) == ["utt0.f4", "utt1.f4"]
    scores = _write(tmp_path / "scores.txt", "\ufeffutt0 1.5\nutt1 -2\n")
    assert read_scores(scores) == {"utt0": 1.5, "utt1": -2.0}


def test_an_out_dir_whose_parent_is_a_file_is_a_named_error(tmp_path, mean_model):
    conf, scp, _ = _corpus(tmp_path, 1)
    blocker = _write(tmp_path / "dump", "a file where a folder should be")
    r = _extract(conf, scp, blocker / "train")
    assert_user_error(r, blocker, "is a file, not a folder")
    _, model = mean_model
    wavs = _wav_dir(tmp_path / "wavs", 1)
    r = run_stage("score_wavs", "--model", model, "--wav-dir", wavs, "--out", blocker / "x" / "scores.txt")
    assert_user_error(r, blocker, "is a file, not a folder")
    TALLY["bad"] += 2


def test_disk_full_during_extraction_names_the_file_mocked(tmp_path, monkeypatch):
    import pylib.io.atomic as atomic

    conf, scp, wavs = _corpus(tmp_path, 3)
    conf = write_yaml(tmp_path / "conf2.yaml", {"features": {
        **FEATURES, "extractors": {**FEATURES["extractors"], "wav": {"type": "wave", "format": "wav"}}}})
    real = atomic.os.replace
    calls = []

    def full(src, dst):  # features.yaml, utt0 mel+wav, utt1 mel; then the disk is full (no file named)
        calls.append(dst)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", full)
    r = _extract(conf, scp, tmp_path / "dump")
    monkeypatch.setattr(atomic.os, "replace", real)
    msg = assert_user_error(r, "disk full while writing", calls[4])
    assert "free space and rerun" in msg
    r = _extract(conf, scp, tmp_path / "dump")
    assert r.code == 0 and "2 missing" in r.out and "1 up to date" in r.out, r.err[-2000:]
    TALLY["crash"] += 1


def test_disk_full_during_extraction_on_a_small_tmpfs(tmp_path):
    """A real full file system (needs root to mount a tmpfs; skipped otherwise)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({m.stderr.strip()[:100]}); the mocked test covers it")
    try:
        conf, scp, _ = _corpus(tmp_path, 8)
        conf = write_yaml(tmp_path / "conf2.yaml", {"features": {
            **FEATURES, "extractors": {"wav": {"type": "wave", "format": "wav", "subtype": "FLOAT"}}}})
        r = _extract(conf, scp, mnt / "dump")
        msg = assert_user_error(r, "disk full while writing", mnt / "dump" / "wav")
        assert "LibsndfileError" not in r.err and "free space and rerun" in msg
        TALLY["crash"] += 1
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def _flac_claiming(frames):
    buf = io.BytesIO()
    sf.write(buf, sine(seconds=0.2), SR, subtype="PCM_16", format="FLAC")
    b = bytearray(buf.getvalue())
    assert b[:4] == b"fLaC" and b[4] & 0x7F == 0  # STREAMINFO first: 36-bit total samples at 18..22
    x = int.from_bytes(b[18:26], "big")
    x = (x & ~((1 << 36) - 1)) | frames
    b[18:26] = x.to_bytes(8, "big")
    return bytes(b)


def test_a_header_claiming_2_31_frames_is_refused_before_allocating(tmp_path):
    from pylib.io import audio_info, read_wav

    bad = tmp_path / "huge.flac"
    bad.write_bytes(_flac_claiming(2**31))
    with pytest.raises(DataError) as e:
        audio_info(bad)
    assert "2147483648 samples" in str(e.value) and str(bad) in str(e.value)
    with pytest.raises(DataError, match="header is damaged"):
        read_wav(bad)
    # a wav whose data chunk claims more than the file holds is refused the same way as before
    w = _wav(tmp_path / "w.wav")
    raw = bytearray(w.read_bytes())
    struct.pack_into("<I", raw, 40, 2**31)
    w.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="truncated"):
        read_wav(w)

