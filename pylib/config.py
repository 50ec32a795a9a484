"""YAML configs parsed into dataclasses: unknown keys fail, types are checked, `--set a.b=v` overrides.

A recipe yaml has the sections `data`, `features`, `model`, `optim`, `train`; each consumer parses
its own section with `from_dict(TheConfig, section, where="model")`.
"""

import dataclasses
import difflib
import types
import typing
from pathlib import Path

import yaml

from pylib.errors import ConfigError
from pylib.io.atomic import write_text_atomic
from pylib.io.text import read_utf8

# the top-level sections of a recipe yaml
SECTIONS = ("data", "features", "model", "optim", "train")


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping (yaml would keep the last one)."""

    _top = None

    def construct_document(self, node):
        self._top = node
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue
                if key in seen:
                    where, hint = "key", ""
                    if node is self._top:
                        where = "top-level section"
                        given = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
                        absent = [s for s in SECTIONS if s not in given]
                        hint = f" (did you mean {absent[0]!r} for one of them?)" if absent else ""
                    raise _DuplicateKey(
                        f"{where} {key!r} is written twice (lines {seen[key] + 1} and "
                        f"{key_node.start_mark.line + 1}){hint}; yaml would silently keep only the "
                        "second: merge them into one or rename one"
                    )
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def did_you_mean(word, choices):
    """' (did you mean 'x'?)' for the closest of `choices`, or ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_yaml(path):
    """Read a yaml mapping; a missing file, non-UTF-8 text, a duplicated key or a non-mapping is a
    ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = read_utf8(path, ConfigError)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid yaml: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {type(data).__name__}")
    return data


def check_sections(data, path, sections=SECTIONS):
    """A recipe config's top level holds only `sections`; a misspelt one is a ConfigError."""
    for key in data:
        if key not in sections:
            raise ConfigError(
                f"{path}: unknown top-level section {key!r}{did_you_mean(key, sections)}; a recipe "
                f"config has the sections {', '.join(sections)}: rename or remove it"
            )
    return data


def load_config(path):
    """A recipe yaml (load_yaml + only the known top-level sections)."""
    return check_sections(load_yaml(path), path)


def save_yaml(path, data):
    """Write a mapping as yaml atomically (key order kept)."""
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def parse_override(text):
    """'a.b.c=value' -> (['a', 'b', 'c'], value) with the value typed by yaml (3, 1e-3, true, [1, 2])."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form key.path=value")
    key, raw = text.split("=", 1)
    keys = [k for k in key.strip().split(".")]
    if not all(keys):
        raise ConfigError(f"override {text!r}: empty key in {key!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        try:  # yaml 1.1 reads 1e-4 (no dot) as a string
            value = float(value)
        except ValueError:
            pass
    return keys, value


def apply_overrides(data, overrides):
    """Apply `key.path=value` overrides to a nested dict in place and return it.

    The path must exist down to the parent mapping; a new leaf key is allowed (and will be checked
    against the dataclass when the section is parsed).
    """
    for text in overrides or []:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            if isinstance(node, list):
                try:
                    node = node[int(k)]
                    continue
                except (ValueError, IndexError):
                    where = ".".join(keys[: i + 1])
                    raise ConfigError(f"override {text!r}: {where} is not a list index") from None
            if not isinstance(node, dict) or k not in node:
                raise ConfigError(f"override {text!r}: no section {'.'.join(keys[: i + 1])!r} in the config")
            node = node[k]
        last = keys[-1]
        if isinstance(node, list):
            try:
                node[int(last)] = value
            except (ValueError, IndexError):
                raise ConfigError(f"override {text!r}: {last!r} is not a valid list index") from None
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"override {text!r}: {'.'.join(keys[:-1])!r} is not a section")
    return data


def _type_name(tp):
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp, value, where):
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else typing.Any
        out = [_convert(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else typing.Any
        return {str(k): _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls, data, where="config"):
    """Build dataclass `cls` from a mapping; unknown keys and missing required keys are ConfigErrors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields), key=str)
    renamed = [k for k in unknown if k in getattr(cls, "RENAMED", {})]
    if renamed:
        new = cls.RENAMED[renamed[0]]
        raise ConfigError(
            f"{where}.{renamed[0]}: this key was renamed to {new!r} (one name per quantity across "
            f"features, data and models); write {where}.{new} instead"
        )
    if unknown:
        hint = did_you_mean(unknown[0], fields)
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}{hint}; known keys are: "
            f"{', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: required key {name!r} is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: {e}") from None


def to_dict(obj):
    """Dataclass (nested) -> plain dict, ready for yaml."""
    return dataclasses.asdict(obj)


def take_fact(cfg, key, value, origin, where="model", mine_origin=None):
    """Fill `cfg.<key>` with a fact declared elsewhere (the features section or a dump's
    features.yaml, see pylib.data.spec), or check a restated value against it.

    None in `cfg` takes `value`; the same value is accepted; another value is a ConfigError naming
    both places, e.g. `features.extractors.mel.hop = 256 vs model.hop = 200`.
    """
    mine = getattr(cfg, key)
    if mine is None:
        setattr(cfg, key, value)
    elif value is not None and mine != value:
        if mine_origin is not None:  # both values come from the data: two features disagree
            raise ConfigError(
                f"{origin} = {value!r} vs {mine_origin} = {mine!r}: {where} needs one {key} for both; "
                "make them agree in the features section and rerun stage 1"
            )
        raise ConfigError(
            f"{origin} = {value!r} vs {where}.{key} = {mine!r}: the {key} is declared once, in the "
            f"features section, and {where} takes it from there; remove {where}.{key} from the config "
            f"(or make the two agree)"
        )
    return getattr(cfg, key)


def take_facts(cfg, spec, pairs, defaults, where="model"):
    """Fill or check a model Config's facts from the data spec the engine passes (see take_fact).

    pairs: (Config key, Config key naming the feature or None for the sample rate, fact: "dim",
    "hop" or "ext"), e.g. ("n_mels", "mel", "dim"); a None Config key only checks that the named
    feature exists. Without a spec (a model built by hand) an unset
    key takes `defaults[key]`."""
    filled = {}  # key -> origin of the value this call filled in
    for key, feature_key, fact in pairs:
        if spec is None and key is None:
            continue
        if spec is None:
            if getattr(cfg, key) is None:
                setattr(cfg, key, defaults.get(key))
            continue
        name = None if feature_key is None else getattr(cfg, feature_key)
        if name is None:
            value = getattr(spec, "sample_rate", None)
            origin = getattr(spec, "origins", {}).get("sample_rate", "data.sample_rate")
        else:
            feats = list(getattr(spec, "inputs", [])) + list(getattr(spec, "outputs", []))
            feats = {f.name: f for f in feats}
            if name not in feats:
                raise ConfigError(
                    f"{where}.{feature_key} = {name!r} is not a feature of the data section (it has "
                    f"{', '.join(sorted(feats)) or 'none'}); set {where}.{feature_key} to one of them"
                )
            if key is None:  # the feature must exist; the model takes nothing from it
                continue
            value = getattr(feats[name], fact)
            origin = getattr(spec, "origins", {}).get(f"{name}.{fact}", f"data feature {name!r} {fact}")
        if getattr(cfg, key) is None:
            filled[key] = origin
        take_fact(cfg, key, value, origin, where, filled.get(key))


# Keys renamed so that one quantity has one name across features, data and models:
# {section path: {old key: new key}}; "data.inputs[]" stands for every entry of the list.
LEGACY_RENAMES = {
    "data": {"max_frames": "max_samples"},
    "data.inputs[]": {"reso": "hop"},
    "data.outputs[]": {"reso": "hop"},
    "model": {"mel_dim": "n_mels"},
}


def upgrade_legacy_config(config):
    """A config stored by an earlier release (a checkpoint's or model.pt's `config`) in today's
    key names (LEGACY_RENAMES), as a new dict; today's configs pass through unchanged."""
    if not isinstance(config, dict):
        return config
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in config.items()}

    def rename(node, table):
        if not isinstance(node, dict):
            return node
        return {table.get(k, k) if table.get(k, k) not in node else k: v for k, v in node.items()}

    for path, table in LEGACY_RENAMES.items():
        section, _, entry = path.partition(".")
        if not isinstance(out.get(section), dict):
            continue
        if not entry:
            out[section] = rename(out[section], table)
            continue
        items = out[section].get(entry[:-2])
        if isinstance(items, list):
            out[section][entry[:-2]] = [rename(item, table) for item in items]
    return out
