"""The `data:` section of a recipe yaml as dataclasses (see docs/INTERFACES.md).

Each fact once: a feature's `dim`, `hop` and `ext` and the sample rate are declared by the
`features:` section (what stage 1 extracts) and derived here, from the dumps' `features.yaml` when
they exist, else from the features section (`derive_facts`); a data entry needs only
`{name: mel, norm: true}`. A value restated in `data:` must agree (a ConfigError names both places).

Units: `hop` is waveform samples per frame (1 for a waveform); `truncate`, `min_len` and
`max_samples` are in samples; `length_tolerance` is in frames of the coarsest feature (the largest hop).
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pylib.config import from_dict, load_yaml
from pylib.data.augment.config import parse_augment
from pylib.errors import ConfigError

AUDIO_EXTS = (".wav", ".flac")
FACTS = ("dim", "hop", "ext")  # what the features section says of every feature


@dataclass
class FeatureSpec:
    """One feature: files `<data-dir>/<root>/<name>/<utt><ext>`, shape (frames, dim).

    dim, hop and ext are derived from the features section or the dump (`derive_facts`); where
    neither names the feature they default to 1, 1 and .f4."""

    RENAMED = {"reso": "hop"}

    name: str
    ext: str | None = None  # .f4 (raw <f4) or .wav/.flac (waveforms, dim 1, hop 1); derived
    dim: int | None = None  # values per frame; derived
    hop: int | None = None  # waveform samples per frame; derived
    norm: bool = False  # the model normalises it with <stats>/<name>.mean/.std
    f0: bool = False  # statistics over voiced frames (value > 0) only

    def __post_init__(self):
        if not self.name or "/" in self.name or self.name.endswith("_len") or self.name.endswith("_mask"):
            raise ConfigError(f"feature name {self.name!r}: must be a plain name not ending in _len/_mask")
        self.ext = ".f4" if self.ext is None else self.ext
        self.dim = 1 if self.dim is None else self.dim
        self.hop = 1 if self.hop is None else self.hop
        if self.ext and not self.ext.startswith("."):
            self.ext = "." + self.ext
        if self.dim < 1 or self.hop < 1:
            raise ConfigError(
                f"feature {self.name!r}: dim and hop must be >= 1 (got {self.dim}, {self.hop})"
            )
        if self.is_audio and (self.dim != 1 or self.hop != 1):
            raise ConfigError(f"feature {self.name!r}: a {self.ext} waveform has dim 1 and hop 1")

    @property
    def is_audio(self):
        return self.ext.lower() in AUDIO_EXTS


@dataclass
class CorpusSpec:
    """One corpus: a dump folder (relative to --data-dir), its list, optional labels and folders."""

    root: str
    list: str | None = None  # default <root>/<root-name>.lst; relative to --data-dir
    labels: bool = False  # read <root>/utt2label (bonafide/spoof [attack])
    dirs: dict[str, str] = field(default_factory=dict)  # {feature: folder} relative to --data-dir


@dataclass
class ViewsSpec:
    """Multi-view training batches (pylib.data.views): each training item comes with its vocoded
    copies and K augmented views of every row, cropped at the same position (the seed's project 09)."""

    vocoded: list[str] = field(default_factory=list)  # dump roots (relative to --data-dir) of
    # copy_synth data dirs; copies are matched by the root's utt2vocoder (or utt2label's attack)
    augmented: int = 0  # augmented views of each row (pylib.data.augment.views); 0 = none

    def __post_init__(self):
        if self.augmented < 0:
            raise ConfigError(f"data.views.augmented: must be >= 0, got {self.augmented}")


@dataclass
class DataSpec:
    """The loader's configuration; parse it with `spec_from_config(config)` (facts derived) or
    `load_data_spec(section)` (the data section as written)."""

    RENAMED = {"max_frames": "max_samples"}

    sample_rate: int | None = None  # Hz; derived from the features section (16000 where none says)
    inputs: list[FeatureSpec] = field(default_factory=list)
    outputs: list[FeatureSpec] = field(default_factory=list)
    truncate: int | None = None  # training segment in samples; None = whole utterances
    min_len: int = 0  # training utterances shorter than this (samples) are left out and counted
    length_tolerance: int = 2  # frames (of the coarsest feature) trimmed silently
    on_mismatch: Literal["error", "skip"] = "error"
    segments: Literal["crop", "split"] = "crop"  # crop: one random crop per utterance and epoch;
    # split: NII-style consecutive segments of `truncate`, the last kept if >= min_len
    batch_size: int = 8
    max_samples: int | None = None  # budget in padded samples per batch (replaces batch_size)
    bucket_batches: int = 50  # batches per length bucket when shuffling (bigger = less padding)
    balanced: bool = False  # training epochs draw as many spoof as bona fide utterances
    num_workers: int = 0
    stats: str = "train/stats"  # folder of <feat>.mean/.std relative to --data-dir
    train: list[CorpusSpec] = field(default_factory=list)
    dev: list[CorpusSpec] = field(default_factory=list)
    # training-only waveform augmentation, applied in order after cropping (docs/data.md#augmentation)
    augment: list[dict] = field(default_factory=list)
    views: ViewsSpec | None = None  # multi-view training batches (vocoded copies, augmented views)
    # where each fact came from, for errors: {"sample_rate" or "<feature>.<dim|hop|ext>": place}
    origins: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.sample_rate is None:
            self.sample_rate = 16000
        names = [f.name for f in self.inputs + self.outputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"data: feature name(s) {dup} appear more than once in inputs/outputs")
        if not self.inputs:
            raise ConfigError("data.inputs: at least one input feature is required")
        if self.batch_size < 1:
            raise ConfigError(f"data.batch_size: must be >= 1, got {self.batch_size}")
        if self.truncate is not None:
            step = frame_step(self.inputs + self.outputs)
            if self.truncate <= 0 or self.truncate % step:
                raise ConfigError(
                    f"data.truncate: {self.truncate} samples is not a positive multiple of {step} "
                    f"(the least common multiple of the features' hop); use e.g. "
                    f"{max(step, self.truncate // step * step)}"
                )
        if self.segments == "split" and self.truncate is None:
            raise ConfigError("data.segments: 'split' needs data.truncate (the segment length in samples)")
        self._check_augment()

    def _check_augment(self):
        """data.augment parses into its dataclasses; it and augmented views need waveform inputs."""
        self.augment = parse_augment(self.augment, "data.augment")
        k = self.views.augmented if self.views is not None else 0
        features = [f for f in self.inputs if f.dim != 1 or f.hop != 1]
        if k and features:
            raise ConfigError(
                f"data.views.augmented: augmented views change waveforms, but the inputs "
                f"{[f.name for f in features]} are not waveforms; use raw-wave inputs (a `wave` "
                f"extractor) or set augmented: 0"
            )
        if k and not self.augment:
            raise ConfigError(
                f"data.views.augmented = {k} needs data.augment (the augmentations each view is drawn "
                f"from); add entries or set augmented: 0"
            )
        if self.augment and features:
            named = ", ".join(f"{f.name!r} (dim {f.dim}, hop {f.hop})" for f in features)
            raise ConfigError(
                f"data.augment: augmentation works on waveform inputs only (dim 1, hop 1), but the "
                f"input(s) {named} are features; remove data.augment, or train a model "
                f"that reads the waveform (its front end computes the features)"
            )

    @property
    def features(self):
        return self.inputs + self.outputs

    def feature(self, name):
        for f in self.features:
            if f.name == name:
                return f
        raise ConfigError(f"data: no feature named {name!r}; known: {[f.name for f in self.features]}")


def frame_step(features):
    """Samples between common frame boundaries of `features`: the lcm of their hop."""
    step = 1
    for f in features:
        step = step * f.hop // math.gcd(step, f.hop)
    return step


def load_data_spec(section):
    """The `data:` mapping -> DataSpec; unknown keys and bad values are ConfigErrors naming the key."""
    return from_dict(DataSpec, section, where="data")


def as_corpora(corpora):
    """A list of CorpusSpec/dicts, one CorpusSpec, or a set name -> list[CorpusSpec]."""
    if isinstance(corpora, str):
        return [CorpusSpec(root=corpora)]
    if isinstance(corpora, CorpusSpec):
        return [corpora]
    out = []
    for i, c in enumerate(corpora):
        out.append(c if isinstance(c, CorpusSpec) else from_dict(CorpusSpec, c, where=f"corpora[{i}]"))
    if not out:
        raise ConfigError("no corpora given: set data.train / data.dev in the config or pass a set name")
    return out


def spec_from_config(config, data_dir=None, roots=()):
    """A recipe config (all sections) -> DataSpec with every fact derived (see `derive_facts`)."""
    data, origins = derive_facts(config, data_dir, roots)
    spec = load_data_spec(data)
    spec.origins = origins
    return spec


def derive_facts(config, data_dir=None, roots=()):
    """-> (the `data:` section with `sample_rate` and each feature's dim/hop/ext filled in, origins).

    The facts come from the dumps' `features.yaml` under `data_dir` (data.train and data.dev roots)
    (and of the extra dump `roots`, e.g. the set being listed) when they exist, and from the
    config's `features:` section; the sources must agree with each
    other, and a value the data section restates must agree with them: a ConfigError names both
    places. A feature no source names keeps what the data section says (default dim 1, hop 1, .f4).
    origins: {"sample_rate" | "<feature>.<key>": where the value is declared}.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of sections, got {config!r}")
    data = config.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"data: expected a mapping, got {data!r}")
    known = {}  # "sample_rate" / "<feature>.<key>" -> (value, origin)
    for path in _dump_settings(data, data_dir, roots):
        _merge(known, _dump_facts(path), "rerun stage 1 (features) with --overwrite for one of them")
    if config.get("features") is not None:
        _merge(known, features_facts(config["features"]), "the dump was made with other features settings: "
               "rerun stage 1 with --overwrite, or fix the config")
    data = dict(data)
    origins = {}
    if "sample_rate" in known:
        data["sample_rate"] = _restated(data, "sample_rate", known["sample_rate"], "data.sample_rate")
        origins["sample_rate"] = known["sample_rate"][1]
    for side in ("inputs", "outputs"):
        entries = data.get(side)
        if not isinstance(entries, list):
            continue
        data[side] = [_derive_entry(e, f"data.{side}[{i}]", known, origins) for i, e in enumerate(entries)]
    return data, origins


def _derive_entry(entry, where, known, origins):
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        return entry  # from_dict reports it
    name, entry = entry["name"], dict(entry)
    have = [k for k in FACTS if f"{name}.{k}" in known]
    if known and not have and not all(k in entry for k in FACTS):
        extracted = sorted({k.split(".")[0] for k in known if "." in k})
        raise ConfigError(
            f"{where}: feature {name!r} is not extracted (the features section and dumps declare "
            f"{', '.join(extracted) or 'none'}); add an extractor named {name!r} to "
            f"features.extractors and rerun stage 1, or rename the entry"
        )
    for k in have:
        entry[k] = _restated(entry, k, known[f"{name}.{k}"], f"{where}.{k}")
        origins[f"{name}.{k}"] = known[f"{name}.{k}"][1]
    return entry


def _restated(section, key, fact, where):
    value, origin = fact
    mine = section.get(key)
    if mine is not None and str(mine).lstrip(".") != str(value).lstrip("."):
        raise ConfigError(
            f"{origin} = {value!r} vs {where} = {mine!r}: {key} is declared once, in the features "
            f"section, and the data section takes it from there; remove {where} (or make the two agree)"
        )
    return value


def _merge(known, facts, fix):
    for key, (value, origin) in facts.items():
        if key in known and known[key][0] != value:
            raise ConfigError(f"{known[key][1]} = {known[key][0]!r} vs {origin} = {value!r}; {fix}")
        known.setdefault(key, (value, origin))


def _dump_settings(data, data_dir, roots=()):
    """features.yaml of every train/dev root, data.views.vocoded root and extra root under data_dir
    that has one."""
    if data_dir is None:
        return []
    out = []
    corpora = [c for side in ("train", "dev") for c in (data.get(side) or [])] + list(roots)
    views = data.get("views")
    if isinstance(views, dict) and isinstance(views.get("vocoded"), list):
        corpora += views["vocoded"]  # the vocoded copies are read with the same facts
    for c in corpora:
        root = c.get("root") if isinstance(c, dict) else c
        path = Path(data_dir) / str(root) / "features.yaml"
        if isinstance(root, str) and path.is_file() and path not in out:
            out.append(path)
    return out


def _dump_facts(path):
    """{"sample_rate"/"<name>.<key>": (value, origin)} from a dump's features.yaml (written by
    pylib.features.extract; an earlier release wrote `reso` for `hop`)."""
    settings = load_yaml(path)
    facts = {}
    if settings.get("sample_rate") is not None:
        facts["sample_rate"] = (int(settings["sample_rate"]), f"{path} sample_rate")
    for name, out in (settings.get("outputs") or {}).items():
        out = dict(out or {})
        if "hop" not in out and "reso" in out:
            out["hop"] = out["reso"]
        for k in FACTS:
            if out.get(k) is not None:
                value = str(out[k]) if k == "ext" else int(out[k])
                facts[f"{name}.{k}"] = (value, f"{path} outputs.{name}.{k}")
    return facts


def features_facts(section):
    """{"sample_rate"/"<name>.<key>": (value, origin)} that the `features:` section declares: what
    its extractors output, computed without running them (pylib.features.describe_outputs)."""
    from pylib.features.extractors import describe_outputs, parse_features

    cfg = parse_features(section)
    facts = {"sample_rate": (cfg.sample_rate, "features.sample_rate")}
    for name, out in describe_outputs(cfg).items():
        for k in FACTS:
            facts[f"{name}.{k}"] = (out[k], out["origins"][k])
    return facts


def corpus_paths(corpus, data_dir, features):
    """(root folder, list file, {feature name: folder}) of one CorpusSpec."""
    data_dir = Path(data_dir)
    root = data_dir / corpus.root
    lst = data_dir / corpus.list if corpus.list else root / f"{Path(corpus.root).name}.lst"
    names = {f.name for f in features}
    unknown = sorted(set(corpus.dirs) - names)
    if unknown:
        raise ConfigError(
            f"corpus {corpus.root!r}: dirs names unknown feature(s) {unknown}; known: {sorted(names)}"
        )
    dirs = {
        f.name: (data_dir / corpus.dirs[f.name] if f.name in corpus.dirs else root / f.name) for f in features
    }
    return root, lst, dirs
