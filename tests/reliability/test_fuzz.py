"""Fuzzing the readers with hypothesis: they return valid data or raise the documented error type
(DataError for files, ConfigError for configs), never anything else, never hang.

Deterministic (derandomize, no example database) so CI sees the same examples every run; the
example counts are tuned to about 20 s in all on 2 cores.
"""

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pylib.features  # noqa: F401  (registers the extractors parse_features checks against)
from pylib.config import from_dict, load_yaml
from pylib.data.spec import DataSpec, load_data_spec
from pylib.engine.config import parse_optim, parse_train
from pylib.errors import ConfigError, DataError
from pylib.features.extractors import parse_features
from pylib.io import audio_info, num_frames_f4, read_f4, read_list, read_table, read_utt2label, read_wav
from tests.conftest import sine
from tests.reliability.common import TALLY

FUZZ = settings(
    max_examples=400,
    deadline=3000,  # ms per example: a reader that hangs fails here
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
WORK = Path(tempfile.mkdtemp(prefix="nnsp-fuzz-"))  # hypothesis reuses it across examples


def _count():
    TALLY["fuzz"] += 1


def _valid_wav(subtype):
    buf = io.BytesIO()
    sf.write(buf, sine(440, sr=8000, seconds=0.01), 8000, subtype=subtype, format="WAV")
    return buf.getvalue()


WAVS = {s: _valid_wav(s) for s in ("PCM_16", "PCM_24", "FLOAT")}


@FUZZ
@given(
    subtype=st.sampled_from(sorted(WAVS)),
    edits=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 200)),
    tail=st.binary(max_size=24),
)
def test_fuzz_wav_header(subtype, edits, cut, tail):
    _count()
    raw = bytearray(WAVS[subtype])
    for pos, val in edits:  # mutations land in the header (44-80 bytes) and the first samples
        if pos < len(raw):
            raw[pos] = val
    raw = bytes(raw[:cut] if cut is not None else raw) + tail
    path = WORK / "x.wav"
    path.write_bytes(raw)
    try:
        sr, n = audio_info(path)
        assert sr > 0 and n >= 0
    except DataError as e:
        assert str(path) in str(e)
    try:
        sr, x = read_wav(path)
    except DataError as e:
        assert str(path) in str(e)
        return
    assert sr > 0 and x.dtype == np.float32 and x.ndim == 1 and x.size > 0 and np.isfinite(x).all()


@FUZZ
@given(data=st.binary(max_size=300), dim=st.integers(-2, 12), nan_at=st.one_of(st.none(), st.integers(0, 80)))
def test_fuzz_f4(data, dim, nan_at):
    _count()
    path = WORK / "x.f4"
    if nan_at is not None and 4 * nan_at + 4 <= len(data):
        arr = bytearray(data)
        arr[4 * nan_at : 4 * nan_at + 4] = np.array([np.nan], "<f4").tobytes()
        data = bytes(arr)
    path.write_bytes(data)
    try:
        x = read_f4(path, dim)
    except DataError as e:
        assert str(path) in str(e)
        assert dim < 1 or len(data) % (4 * dim) or not np.isfinite(np.frombuffer(data, "<f4")).all()
        return
    assert x.dtype == np.float32 and x.shape == (len(data) // (4 * dim), dim)
    assert np.isfinite(x).all() and num_frames_f4(path, dim) == x.shape[0]


TEXT = st.lists(
    st.sampled_from(list("ab_01 \t\n\r-|/.é\x85\u2028") + ["bonafide", "spoof"]), max_size=40
).map("".join)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=120), TEXT.map(lambda t: t.encode("utf-8"))), sort=st.booleans())
def test_fuzz_tables(raw, sort):
    _count()
    path = WORK / "table"
    path.write_bytes(raw)
    readers = [
        lambda: read_table(path, require_sorted=sort),
        lambda: read_list(path, require_nonempty=sort),
        lambda: read_utt2label(path),
    ]
    for read in readers:
        try:
            out = read()
        except DataError as e:
            assert str(path) in str(e)
            continue
        keys = list(out)
        assert len(keys) == len(set(keys))
        assert all(k and not any(c.isspace() for c in k) for k in keys)
        if isinstance(out, dict) and sort and read is readers[0]:
            assert keys == sorted(keys)


KEYS = [f.name for f in DataSpec.__dataclass_fields__.values()] + [
    "name",
    "ext",
    "dim",
    "reso",
    "root",
    "hop",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 50000),
    st.floats(allow_nan=True),
    st.sampled_from([".f4", ".wav", "mel", "x/y", "", "crop", "split", "error", "skip"]),
)
TREES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)
FEATURE = st.fixed_dictionaries(
    {"name": st.sampled_from(["mel", "wav", "f0", ""])},
    optional={
        "ext": st.sampled_from([".f4", ".wav", "f4", ".flac", 3]),
        "dim": st.integers(-1, 90),
        "hop": st.integers(-1, 400),
        "norm": st.booleans(),
        "f0": st.one_of(st.booleans(), st.just("yes")),
    },
)
SPECS = st.one_of(
    TREES,
    st.fixed_dictionaries(
        {"inputs": st.lists(FEATURE, max_size=3)},
        optional={k: TREES for k in ("truncate", "batch_size", "segments", "train", "outputs", "min_len")},
    ),
)


@FUZZ
@given(section=SPECS)
def test_fuzz_data_spec(section):
    _count()
    try:
        spec = load_data_spec(section)
    except ConfigError:
        return
    assert spec.inputs and all(f.dim >= 1 and f.hop >= 1 for f in spec.features)


@FUZZ
@given(
    section=st.one_of(
        TREES,
        st.dictionaries(
            st.sampled_from(
                [
                    "epochs",
                    "max_steps",
                    "seed",
                    "lr",
                    "type",
                    "betas",
                    "scheduler",
                    "grad_accum",
                    "extractors",
                    "sample_rate",
                    "mel",
                    "model",
                ]
            ),
            TREES,
            max_size=4,
        ),
    )
)
def test_fuzz_other_sections(section):
    _count()
    for parse in (parse_train, lambda s: parse_optim(s, ["model"]), parse_features):
        try:
            parse(section)
        except ConfigError:
            pass


@FUZZ
@given(
    text=st.lists(st.sampled_from(list("ab: -[]{}\n\t'\"#&*!%@|>0.9e") + ["data:", "  - "]), max_size=40).map(
        "".join
    )
)
def test_fuzz_yaml_file(text):
    _count()
    path = WORK / "conf.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        assert isinstance(load_yaml(path), dict)
    except ConfigError as e:
        assert str(path) in str(e)


@pytest.mark.parametrize("value", [{"inputs": [{"name": "mel", "dim": 2**40, "hop": 2**40}], "truncate": 3}])
def test_huge_values_are_config_errors_or_valid(value):
    try:
        from_dict(DataSpec, value, where="data")
    except ConfigError:
        pass
