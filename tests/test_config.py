import dataclasses
from typing import Literal

import pytest

from pylib.config import apply_overrides, from_dict, load_yaml, save_yaml
from pylib.errors import ConfigError


@dataclasses.dataclass
class Inner:
    dim: int
    norm: bool = False


@dataclasses.dataclass
class Outer:
    lr: float = 1e-3
    name: str = "x"
    sched: Literal["step", "cosine"] = "step"
    feats: list[Inner] = dataclasses.field(default_factory=list)
    truncate: int | None = None


def test_from_dict_nested_and_types():
    c = from_dict(Outer, {"lr": 1, "feats": [{"dim": 80, "norm": True}], "truncate": None})
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.feats[0] == Inner(80, True)


def test_unknown_key_lists_known():
    with pytest.raises(ConfigError, match=r"train: unknown key\(s\) 'epoch'; known keys are: lr, name"):
        from_dict(Outer, {"epoch": 3}, where="train")
    with pytest.raises(ConfigError, match=r"feats\[0\]: unknown key\(s\) 'dims'"):
        from_dict(Outer, {"feats": [{"dims": 3}]})


@pytest.mark.parametrize(
    "data,msg",
    [
        ({"lr": "fast"}, "expected a number"),
        ({"feats": [{"dim": "a"}]}, "expected an integer"),
        ({"feats": [{"dim": 3, "norm": "yes"}]}, "true or false"),
        ({"sched": "linear"}, "not one of"),
        ({"feats": [{}]}, "required key 'dim'"),
    ],
)
def test_type_errors(data, msg):
    with pytest.raises(ConfigError, match=msg):
        from_dict(Outer, data)


def test_overrides_are_typed(tmp_path):
    d = {"train": {"epochs": 1, "lr": 0.1}, "data": {"inputs": [{"dim": 1}]}}
    apply_overrides(d, ["train.epochs=3", "train.lr=1e-4", "data.inputs.0.dim=80", "train.flag=true"])
    assert d["train"] == {"epochs": 3, "lr": 1e-4, "flag": True} and d["data"]["inputs"][0]["dim"] == 80
    with pytest.raises(ConfigError, match="no section 'optim'"):
        apply_overrides(d, ["optim.lr=1"])
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides(d, ["train.epochs"])


def test_yaml_round_trip_and_errors(tmp_path):
    save_yaml(tmp_path / "c.yaml", {"b": 1, "a": [1, 2]})
    assert list(load_yaml(tmp_path / "c.yaml")) == ["b", "a"]
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid yaml"):
        load_yaml(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(tmp_path / "list.yaml")
