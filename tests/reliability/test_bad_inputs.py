"""Bad inputs through the entry points: exit 2 with one paragraph naming the file and the fix, no
traceback, and nothing half-written in the output folders.

Each case damages a copy of a tiny recipe folder (sines -> features -> lists -> statistics) and
runs one stage on it. Cases where the stage is documented to skip and report (make_lists) check the
report instead.
"""

import struct

import numpy as np
import pytest
import torch

from tests.reliability.common import (
    ALL_SUBPROCESS,
    MODEL,
    SR,
    TALLY,
    TINY,
    assert_outputs_valid,
    assert_user_error,
    config,
    copy_project,
    run_stage,
    train_tiny,
    wav_bytes,
    write_yaml,
)

# ---------------------------------------------------------------- damaged audio files


def _truncated_header(p):
    return wav_bytes()[:30]


def _data_chunk_too_big(p):
    b = bytearray(wav_bytes())
    struct.pack_into("<I", b, 40, 10_000_000)  # the data chunk claims 10 MB
    return bytes(b)


def _cut_in_data(p):
    return wav_bytes()[:144]  # an interrupted copy: header intact, most samples missing


def _unknown_format_tag(p):
    b = bytearray(wav_bytes())
    struct.pack_into("<H", b, 20, 0x55)  # MPEG layer 3 tag in a PCM file
    return bytes(b)


def _zero_length_data(p):
    b = bytearray(wav_bytes()[:44])
    struct.pack_into("<I", b, 40, 0)
    struct.pack_into("<I", b, 4, 36)
    return bytes(b)


def _garbage_after_riff(p):
    return wav_bytes()[:12] + bytes(range(256)) * 4


def _stereo(p):
    return wav_bytes(channels=2)


def _eight_bit(p):
    return wav_bytes(subtype="PCM_U8")


def _wrong_rate(p):
    return wav_bytes(sr=22050)


def _flac_as_wav(p):
    return wav_bytes(fmt="FLAC")


def _empty_file(p):
    return b""


AUDIO = {
    "truncated_header": (_truncated_header, "damaged"),
    "data_chunk_larger_than_file": (_data_chunk_too_big, "truncated"),
    "cut_inside_data": (_cut_in_data, "truncated"),
    "unknown_format_tag": (_unknown_format_tag, "not a readable"),
    "zero_length_data": (_zero_length_data, "no samples"),
    "garbage_after_riff": (_garbage_after_riff, "not a readable"),
    "empty_file": (_empty_file, "not a readable"),
    "stereo": (_stereo, "channels"),
    "8bit": (_eight_bit, "PCM_U8"),
    "wrong_sample_rate": (_wrong_rate, "22050"),
    "flac_named_wav": (_flac_as_wav, "FLAC"),
}


@pytest.fixture
def proj(base_project, tmp_path):
    TALLY["bad"] += 1
    return copy_project(base_project, tmp_path / "proj")


def _damage_wav(proj, make, index=2):
    utt = proj.ids()[index]
    path = proj.wav(utt)
    path.write_bytes(make(path))
    return utt, path


@pytest.mark.parametrize("case", sorted(AUDIO))
def test_damaged_wav_in_extract_features(proj, case):
    make, what = AUDIO[case]
    utt, path = _damage_wav(proj, make)
    out = proj.root / "dump2" / "train"
    r = run_stage(
        "extract_features",
        "--conf",
        proj.conf,
        "--wav-scp",
        proj.data() / "wav.scp",
        "--out-dir",
        out,
        "--no-progress",
    )
    msg = assert_user_error(r, path, utt, "--skip-bad")
    assert what in msg
    # the utterances before it are complete; no utt2num_frames claims a finished set
    assert_outputs_valid(out)
    assert not (out / "mel" / "utt2num_frames").exists()
    assert not (out / "mel" / f"{utt}.f4").exists()


@pytest.mark.parametrize("case", ["stereo", "8bit", "data_chunk_larger_than_file", "flac_named_wav"])
def test_damaged_wav_skip_bad_is_reported(proj, case):
    make, what = AUDIO[case]
    utt, path = _damage_wav(proj, make)
    out = proj.root / "dump2" / "train"
    r = run_stage(
        "extract_features",
        "--conf",
        proj.conf,
        "--wav-scp",
        proj.data() / "wav.scp",
        "--out-dir",
        out,
        "--no-progress",
        "--skip-bad",
    )
    assert r.code == 0 and "Traceback" not in r.err, r.err[-3000:]
    bad = (out / "bad_files.txt").read_text()
    assert utt in bad and str(path) in bad and what in bad
    assert utt not in (out / "mel" / "utt2num_frames").read_text()
    assert_outputs_valid(out)


@pytest.mark.parametrize("case", sorted(AUDIO))
def test_damaged_wav_in_validate_data_dir(proj, case):
    make, what = AUDIO[case]
    utt, path = _damage_wav(proj, make)
    r = run_stage("validate_data_dir", proj.data(), "--sample-rate", SR)
    assert r.code == 2 and "Traceback" not in r.err, (r.code, r.err[-3000:])
    text = " ".join((r.out + r.err).split())
    assert str(path) in text and "fix" in text


@pytest.mark.parametrize(
    "case", ["stereo", "data_chunk_larger_than_file", "zero_length_data", "wrong_sample_rate"]
)
def test_damaged_dumped_wav_is_dropped_by_make_lists(proj, case):
    """Stage 2 reads the dumped waveforms: a damaged one is dropped and reported with its file."""
    make, what = AUDIO[case]
    utt = proj.ids()[1]
    path = proj.dump() / "wav" / f"{utt}.wav"
    path.write_bytes(make(path))
    (proj.dump() / ".lengths.json").unlink(missing_ok=True)
    r = run_stage("make_lists", "--conf", proj.conf, "--data-dir", proj.root / "dump", "--subset", "train")
    assert r.code == 0 and "Traceback" not in r.err, r.err[-3000:]
    dropped = (proj.dump() / "train.dropped.txt").read_text()
    assert utt in dropped and str(path) in " ".join(dropped.split())
    assert utt not in (proj.dump() / "train.lst").read_text().split()
    assert_outputs_valid(proj.dump(), skip=[path])


# ---------------------------------------------------------------- tables


def _scp_lines(proj):
    return (proj.data() / "wav.scp").read_text().splitlines(keepends=True)


def _dup_ids(proj):
    lines = _scp_lines(proj)
    lines.insert(2, lines[1])
    return "".join(lines).encode(), "duplicate"


def _unsorted_ids(proj):
    lines = _scp_lines(proj)
    lines[1], lines[3] = lines[3], lines[1]
    return "".join(lines).encode(), "sort"


def _non_utf8(proj):
    raw = "".join(_scp_lines(proj)).encode()
    return raw.replace(b"spk1_train03", b"spk1_tr\xe9in03", 1), "UTF-8"


def _empty(proj):
    return b"", "no utterances"


TABLES = {"duplicate_ids": _dup_ids, "unsorted_ids": _unsorted_ids, "non_utf8": _non_utf8, "empty": _empty}


@pytest.mark.parametrize("case", sorted(TABLES))
def test_bad_wav_scp_in_extract_features(proj, case):
    raw, what = TABLES[case](proj)
    scp = proj.data() / "wav.scp"
    scp.write_bytes(raw)
    out = proj.root / "dump2" / "train"
    r = run_stage(
        "extract_features", "--conf", proj.conf, "--wav-scp", scp, "--out-dir", out, "--no-progress"
    )
    msg = assert_user_error(r, scp)
    assert what in msg
    assert_outputs_valid(out)
    assert not list(out.rglob("*.f4"))


@pytest.mark.parametrize("case", sorted(TABLES))
def test_bad_wav_scp_in_validate_data_dir(proj, case):
    raw, what = TABLES[case](proj)
    scp = proj.data() / "wav.scp"
    scp.write_bytes(raw)
    r = run_stage("validate_data_dir", proj.data())
    assert r.code == 2 and "Traceback" not in r.err, (r.code, r.err[-3000:])
    assert str(scp) in " ".join((r.out + r.err).split())


def test_id_with_space_in_wav_scp(proj):
    utt = proj.ids()[1]
    scp = proj.data() / "wav.scp"
    scp.write_text(scp.read_text().replace(utt, utt.replace("_", " "), 1))
    out = proj.root / "dump2" / "train"
    r = run_stage(
        "extract_features", "--conf", proj.conf, "--wav-scp", scp, "--out-dir", out, "--no-progress"
    )
    assert_user_error(r, scp)
    assert_outputs_valid(out)


def test_id_with_space_in_list(proj):
    lst = proj.dump() / "train.lst"
    ids = lst.read_text().split()
    lst.write_text("\n".join([ids[0], ids[1].replace("_", " "), *ids[2:]]) + "\n")
    r = run_stage("compute_stats", "--conf", proj.conf, "--data-dir", proj.root / "dump")
    assert_user_error(r, lst, "whitespace")
    assert_outputs_valid(proj.dump(), skip=[lst])


@pytest.mark.parametrize("case", ["non_utf8", "bad_label", "id_with_space"])
def test_bad_utt2label_in_make_lists(proj, case):
    lab = proj.data() / "utt2label"
    raw = lab.read_bytes()
    if case == "non_utf8":
        raw = raw.replace(b"spoof", b"sp\xf6of", 1)
    elif case == "bad_label":
        raw = raw.replace(b"bonafide", b"genuine", 1)
    else:
        raw = raw.replace(b"spk1_", b"spk1 ", 1)
    lab.write_bytes(raw)
    r = run_stage(
        "make_lists",
        "--conf",
        proj.conf,
        "--data-dir",
        proj.root / "dump",
        "--subset",
        "train",
        "--utt2label",
        lab,
    )
    assert_user_error(r, lab)
    assert_outputs_valid(proj.dump())


@pytest.mark.parametrize("stage", ["compute_stats", "train"])
def test_empty_list(proj, stage, tmp_path):
    lst = proj.dump() / "train.lst"
    lst.write_text("")
    r = _run(stage, proj, tmp_path / "exp")
    assert_user_error(r, lst, "empty")
    assert_outputs_valid(proj.dump(), tmp_path / "exp")
    assert not list((tmp_path / "exp").glob("checkpoint*"))


# ---------------------------------------------------------------- feature files


def _run(stage, proj, exp, *extra):
    if stage == "train":
        return train_tiny(proj.conf, proj.root, exp, *extra)
    if stage == "make_lists":
        return run_stage(
            "make_lists", "--conf", proj.conf, "--data-dir", proj.root / "dump", "--subset", "train", *extra
        )
    return run_stage(stage, "--conf", proj.conf, "--data-dir", proj.root / "dump", *extra)


def _bad_size(path):
    with open(path, "ab") as f:
        f.write(b"\0\0\0")  # 3 stray bytes: not a multiple of dim*4


def _nan(path):
    x = np.fromfile(path, dtype="<f4")
    x[7::20] = np.nan  # one in every frame: any training crop holds one
    x.tofile(path)


def _inf(path):
    x = np.fromfile(path, dtype="<f4")
    x[19::20] = -np.inf
    x.tofile(path)


def _missing(path):
    path.unlink()


FEATS = {
    "size_not_multiple_of_dim": (_bad_size, "multiple"),
    "nan": (_nan, "NaN"),
    "inf": (_inf, "Inf"),
    "missing_in_one_folder": (_missing, "not found"),
}


@pytest.mark.parametrize("case", sorted(FEATS))
@pytest.mark.parametrize("stage", ["compute_stats", "train"])
def test_bad_feature_file_after_lists(proj, case, stage, tmp_path):
    """The list was made before the file went bad: the stage stops and names it."""
    damage, what = FEATS[case]
    utt = proj.ids()[3]
    path = proj.dump() / "mel" / f"{utt}.f4"
    damage(path)
    stats_before = (proj.dump() / "stats" / "mel.mean").read_bytes()
    r = _run(stage, proj, tmp_path / "exp")
    msg = assert_user_error(r, path)
    assert what in msg
    assert_outputs_valid(proj.dump(), tmp_path / "exp", skip=[path])
    assert (proj.dump() / "stats" / "mel.mean").read_bytes() == stats_before


@pytest.mark.parametrize("case", sorted(FEATS))
def test_bad_feature_file_dropped_by_make_lists(proj, case):
    damage, what = FEATS[case]
    utt = proj.ids()[3]
    path = proj.dump() / "mel" / f"{utt}.f4"
    damage(path)
    r = _run("make_lists", proj, None)
    assert r.code == 0 and "Traceback" not in r.err, r.err[-3000:]
    dropped = " ".join((proj.dump() / "train.dropped.txt").read_text().split())
    assert utt in dropped and str(path) in dropped and what in dropped
    assert utt not in (proj.dump() / "train.lst").read_text().split()
    assert_outputs_valid(proj.dump(), skip=[path])


@pytest.mark.parametrize("stage", ["make_lists", "compute_stats", "train"])
def test_wrong_dim_in_config(proj, stage, tmp_path):
    """The features section changed after stage 1: every stage stops before reading a file, naming
    the dump's record and the config key (the dims are derived, so no file is read at a wrong dim)."""
    cfg = config()
    cfg["features"]["extractors"]["mel"]["n_mels"] = 24  # the dump has 20
    write_yaml(proj.conf, cfg)
    r = _run(stage, proj, tmp_path / "exp")
    assert_user_error(r, f"{proj.dump() / 'features.yaml'} outputs.mel.dim = 20",
                      "features.extractors.mel.n_mels = 24", "rerun stage 1")
    assert_outputs_valid(proj.dump() / "stats", tmp_path / "exp")


@pytest.mark.parametrize("stage", ["make_lists", "compute_stats", "train"])
def test_wrong_dim_in_a_dump(proj, stage, tmp_path):
    """A dump whose features.yaml disagrees with its files (a feature folder replaced by hand): the
    files are refused with the reason, naming the folder."""
    settings = proj.dump() / "features.yaml"
    settings.write_text(settings.read_text().replace("dim: 20", "dim: 24"))
    write_yaml(proj.conf, config(features=None))  # only the dump says the dim
    r = _run(stage, proj, tmp_path / "exp")
    if stage == "make_lists":  # every utterance dropped, each with the reason
        assert_user_error(r, proj.dump() / "train.dropped.txt", "dim 24")
        dropped = (proj.dump() / "train.dropped.txt").read_text()
        assert "dim 24" in dropped and str(proj.dump() / "mel") in dropped
    else:
        assert_user_error(r, proj.dump() / "mel", "dim")
    assert_outputs_valid(proj.dump() / "stats", tmp_path / "exp")


# ---------------------------------------------------------------- configs


def _unknown_key(section, where):
    def edit(cfg):
        node = cfg[section]
        for k in where:
            node = node[k]
        node["hop_size"] = 80

    return edit


CONFIGS = {
    "unknown_data_key": (_unknown_key("data", []), ["make_lists", "compute_stats", "train"], "data"),
    "unknown_feature_key": (_unknown_key("features", ["extractors", "mel"]), ["extract_features"], "mel"),
    "unknown_model_key": (_unknown_key("model", []), ["train"], "model"),
    "unknown_train_key": (_unknown_key("train", []), ["train"], "train"),
    "unknown_optim_key": (lambda c: c["optim"]["model"].update(betas1=0.9), ["train"], "optim"),
}


@pytest.mark.parametrize(
    "case,stage", [(c, s) for c, (_, stages, _) in sorted(CONFIGS.items()) for s in stages]
)
def test_unknown_yaml_key(proj, case, stage, tmp_path):
    edit, _, where = CONFIGS[case]
    cfg = config()
    edit(cfg)
    write_yaml(proj.conf, cfg)
    if stage == "extract_features":
        out = tmp_path / "dump2"
        r = run_stage(
            "extract_features",
            "--conf",
            proj.conf,
            "--wav-scp",
            proj.data() / "wav.scp",
            "--out-dir",
            out,
            "--no-progress",
        )
    else:
        out = tmp_path / "exp"
        r = _run(stage, proj, out)
    msg = assert_user_error(r, where)
    assert "unknown key" in msg and "known keys" in msg
    assert_outputs_valid(out)
    assert not list(out.rglob("*.f4")) and not list(out.rglob("*.pt"))


@pytest.mark.parametrize("stage", ["extract_features", "make_lists", "train"])
def test_config_not_yaml(proj, stage, tmp_path):
    proj.conf.write_text("data: {inputs: [\n  - oops\n")
    if stage == "extract_features":
        r = run_stage(
            "extract_features",
            "--conf",
            proj.conf,
            "--wav-scp",
            proj.data() / "wav.scp",
            "--out-dir",
            tmp_path / "d",
            "--no-progress",
        )
    else:
        r = _run(stage, proj, tmp_path / "exp")
    assert_user_error(r, proj.conf, "yaml")


# ---------------------------------------------------------------- checkpoints of another model


@pytest.fixture(scope="module")
def trained(base_project, tmp_path_factory):
    """One finished 1-epoch run of the tiny model at hidden 8 (checkpoints), and its model.pt."""
    exp = tmp_path_factory.mktemp("trained") / "exp"
    r = train_tiny(base_project.conf, base_project.root, exp, "--set", "train.epochs=1")
    assert r.code == 0, r.err[-3000:]
    r = run_stage("export_model", exp, exp / "model.pt", subprocess_=False)  # needs tiny_reg registered
    assert r.code == 0, r.err[-3000:]
    return exp


def _other_model_conf(proj):
    cfg = config()
    cfg["model"] = {**MODEL, "hidden": 12}
    return write_yaml(proj.root / "other.yaml", cfg)


@pytest.mark.parametrize("src", ["checkpoint_last.pt", "model.pt"])
def test_init_from_another_model(proj, trained, src, tmp_path):
    conf = _other_model_conf(proj)
    exp = tmp_path / "exp"
    r = train_tiny(conf, proj.root, exp, "--init-from", trained / src)
    assert_user_error(r, trained / src, "--allow-partial")
    assert not list(exp.glob("checkpoint*")) and not list(exp.glob(".*"))


@pytest.mark.parametrize("how", ["resume_path", "resume_auto"])
def test_resume_from_another_model(proj, trained, how, tmp_path):
    conf = _other_model_conf(proj)
    exp = tmp_path / "exp"
    extra = ["--resume", trained / "checkpoint_last.pt"]
    if how == "resume_auto":  # the config changed, the same --exp-dir reused
        exp.mkdir()
        (exp / "checkpoint_last.pt").write_bytes((trained / "checkpoint_last.pt").read_bytes())
        extra = []
    before = sorted(p.name for p in exp.glob("*")) if exp.is_dir() else []
    r = train_tiny(conf, proj.root, exp, *extra)
    ck = trained / "checkpoint_last.pt" if how == "resume_path" else exp / "checkpoint_last.pt"
    assert_user_error(r, ck, "model")
    assert sorted(p.name for p in exp.glob("*")) == before if exp.is_dir() else True
    assert_outputs_valid(exp)


@pytest.mark.parametrize("case", ["truncated", "not_a_checkpoint", "text", "unregistered_model"])
def test_infer_with_a_bad_checkpoint(proj, trained, case, tmp_path):
    ck = tmp_path / "ck.pt"
    if case == "truncated":
        raw = (trained / "checkpoint_last.pt").read_bytes()
        ck.write_bytes(raw[: len(raw) // 2])
    elif case == "not_a_checkpoint":
        torch.save({"weights": torch.zeros(3)}, ck)
    elif case == "text":
        ck.write_text("this is not a model\n")
    else:
        blob = torch.load(trained / "model.pt", weights_only=False)
        blob["config"]["model"]["name"] = "tiny_reg_v2"
        torch.save(blob, ck)
    out = tmp_path / "out"
    r = run_stage(
        "infer",
        "--checkpoint",
        ck,
        "--data-dir",
        proj.root / "dump",
        "--subset",
        "train",
        "--out-dir",
        out,
        "--import",
        TINY,
    )
    assert_user_error(r, ck) if case != "unregistered_model" else assert_user_error(r, "tiny_reg_v2")
    assert not out.exists() or not list(out.iterdir())


def test_infer_checkpoint_of_another_data_config(proj, trained, tmp_path):
    """A checkpoint whose model reads features this set does not have: the missing file is named."""
    blob = torch.load(trained / "model.pt", weights_only=False)
    blob["config"]["data"]["inputs"][0]["name"] = "lfcc"
    blob["config"]["model"]["input"] = "lfcc"
    blob["state_dict"] = {k.replace("norm.mel", "norm.lfcc"): v for k, v in blob["state_dict"].items()}
    ck = tmp_path / "model.pt"
    torch.save(blob, ck)
    out = tmp_path / "out"
    r = run_stage(
        "infer",
        "--checkpoint",
        ck,
        "--data-dir",
        proj.root / "dump",
        "--subset",
        "train",
        "--out-dir",
        out,
        "--import",
        TINY,
    )
    assert_user_error(r, proj.dump() / "lfcc")
    assert_outputs_valid(out)


# ---------------------------------------------------------------- the real entry points, once each


def test_subprocess_entry_points(proj, tmp_path):
    """`python -m pylib.bin.<stage>` in fresh processes: the same one paragraph and exit 2 as the
    in-process runs above (all six stages with NNSP_RELIABILITY_SUBPROCESS=1)."""
    from concurrent.futures import ThreadPoolExecutor

    scp = proj.data() / "wav.scp"
    bad = proj.wav(proj.ids()[0])
    bad.write_bytes(_stereo(bad))
    conf = proj.root / "bad_min_len.yaml"
    cfg = config()
    cfg["data"]["min_len"] = "long"
    write_yaml(conf, cfg)
    common = ["--conf", conf, "--data-dir", proj.root / "dump"]
    runs = {
        "extract_features": (
            ["--conf", proj.conf, "--wav-scp", scp, "--out-dir", tmp_path / "d", "--no-progress"],
            bad,
        ),
        "validate_data_dir": ([proj.data()], bad),
        "make_lists": ([*common, "--subset", "train"], "data.min_len"),
        "compute_stats": (common, "data.min_len"),
        "train": ([*common, "--exp-dir", tmp_path / "exp", "--import", TINY], "data.min_len"),
        "infer": (
            [
                "--checkpoint",
                scp,
                "--data-dir",
                proj.root / "dump",
                "--subset",
                "train",
                "--out-dir",
                tmp_path / "out",
            ],
            scp,
        ),
    }
    if not ALL_SUBPROCESS:  # one stage per layer (features, loader, engine): each costs a torch import
        runs = {k: v for k, v in runs.items() if k in ("extract_features", "make_lists", "train")}
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {k: pool.submit(run_stage, k, *a, subprocess_=True) for k, (a, _) in runs.items()}
    for stage, (_, name) in runs.items():
        r = futures[stage].result()
        if stage == "validate_data_dir":  # lists every problem with a fix: line, then exits 2
            assert r.code == 2 and "Traceback" not in r.err and str(name) in " ".join((r.out + r.err).split())
        else:
            assert_user_error(r, name)
    TALLY["bad"] += len(runs) - 1
    assert not (tmp_path / "exp").exists() or not list((tmp_path / "exp").glob("*.pt"))
