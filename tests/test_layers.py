"""Layers that do not leak: import rules read from the sources, the explicit catalogues, pylib.nn."""

import ast
import sys
from pathlib import Path

import pytest
import torch

from pylib.errors import ConfigError
from pylib.features.extractors import FEATURES
from pylib.models.catalogue import CATALOGUE, SEED_ARCH_MODULES, get_model_class, model_lookup
from pylib.nn import FeatureNorm, frame_mask, length_mask

PYLIB = Path(__file__).resolve().parents[1] / "pylib"


def _modules(package):
    """(dotted module name, parsed AST, source) of every .py file under pylib/<package>."""
    for path in sorted((PYLIB / package).rglob("*.py")):
        rel = path.relative_to(PYLIB.parent).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        source = path.read_text(encoding="utf-8")
        yield ".".join(parts), ast.parse(source, str(path)), source


def _imported(tree):
    """Every module an AST imports: import / from-import statements (relative ones resolved to
    their text) and importlib.import_module("...") / __import__("...") calls with a literal name."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            out += [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                out.append(node.args[0].value)
    return out


def _hits(package, forbidden):
    bad = []
    for module, tree, _ in _modules(package):
        for name in _imported(tree):
            if name == forbidden or name.startswith(forbidden + "."):
                bad.append(f"{module} imports {name}")
    return bad


def test_models_never_import_data():
    assert _hits("models", "pylib.data") == []


def test_engine_never_imports_models():
    assert _hits("engine", "pylib.models") == []
    # nor names them anywhere (a docstring pointing there invites the import back)
    assert [m for m, _, src in _modules("engine") if "pylib.models" in src] == []


def test_nn_imports_no_other_layer():
    """pylib.nn sits below models, losses, data and features: it imports none of nnsp but itself."""
    names = [n for _, tree, _ in _modules("nn") for n in _imported(tree)]
    assert [n for n in names if n.startswith("pylib") and not n.startswith("pylib.nn")] == []


def test_the_import_scan_sees_every_form():
    tree = ast.parse(
        "import pylib.data.spec\nfrom pylib import data\nfrom pylib.data import norm\n"
        "import importlib\nimportlib.import_module('pylib.data')\n"
    )
    assert _imported(tree) == [
        "pylib.data.spec", "pylib", "pylib.data", "pylib.data", "pylib.data.norm", "importlib", "pylib.data"
    ]


def _public_classes_with_config(package):
    """{"module:Class"} of public classes under pylib/<package> whose body sets `Config = ...`."""
    out = set()
    for module, tree, _ in _modules(package):
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "Config" for t in stmt.targets
                    ):
                        out.add(f"{module}:{node.name}")
    return out


def test_every_model_class_is_in_the_catalogue():
    """A new model file missing from pylib/models/catalogue.py fails here, not in a user's run."""
    defined = _public_classes_with_config("models")
    assert defined, "the scan found no model class: the convention (a `Config` attribute) changed?"
    assert sorted(defined - set(CATALOGUE.entries.values())) == []
    for name in CATALOGUE.names():
        cls = get_model_class(name)
        assert isinstance(cls, type) and hasattr(cls, "Config"), name


def test_every_extractor_class_is_in_the_feature_catalogue():
    defined = _public_classes_with_config("features")
    assert sorted(defined - set(FEATURES.entries.values())) == []
    for name in FEATURES.names():
        assert hasattr(FEATURES.get(name), "Config"), name


def test_every_seed_arch_module_is_listed():
    declaring = {
        module
        for module, tree, _ in _modules("models")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "register_seed_arch"
    }
    assert declaring == set(SEED_ARCH_MODULES)


def test_unknown_model_names_the_known_ones_and_the_catalogue():
    with pytest.raises(ConfigError) as e:
        get_model_class("hifigann")
    msg = str(e.value)
    assert "hifigann" in msg and "hifigan, " in msg and "pylib/models/catalogue.py" in msg
    import pylib.models.vocoder.hifigan  # noqa: F401

    with pytest.raises(ConfigError, match="has no class 'Nope'"):
        get_model_class("pylib.models.vocoder.hifigan:Nope")
    with pytest.raises(ConfigError, match="has no class 'LRELU_SLOPE'"):
        get_model_class("pylib.models.vocoder.hifigan:LRELU_SLOPE")
    with pytest.raises(ConfigError, match="non-empty string"):
        get_model_class(None)


def test_a_config_never_makes_nnsp_import_a_module():
    """A model file's config is data: naming a module that is not imported is refused, not imported
    (`this` prints on import; any module's import-time code would run)."""
    was_imported = "this" in sys.modules
    with pytest.raises(ConfigError, match="module 'this' is not imported.*--import this"):
        get_model_class("this:Anything")
    assert ("this" in sys.modules) == was_imported
    with pytest.raises(ConfigError, match="feature 'nope_pkg:X'.*not imported"):
        FEATURES.get("nope_pkg:X")


def test_a_model_outside_nnsp_by_module_path_and_by_import():
    from tests.engine import toy_models

    assert get_model_class("tests.engine.toy_models:ToyLinear") is toy_models.ToyLinear
    lookup = model_lookup(["tests.engine.toy_models"])
    assert lookup("toy_gan") is toy_models.ToyGan and lookup("lcnn") is get_model_class("lcnn")
    with pytest.raises(ConfigError, match="models of --import: toy_gan, toy_linear"):
        lookup("toy_nope")
    assert model_lookup([]) is get_model_class


def test_feature_norm_and_masks():
    norm = FeatureNorm(3)
    norm.set_stats([1.0, 2.0, 3.0], [2.0, 2.0, 4.0])
    x = torch.tensor([[3.0, 2.0, 7.0]])
    assert torch.equal(norm(x), torch.tensor([[1.0, 0.0, 1.0]]))
    assert torch.equal(norm.inverse(norm(x)), x)
    with pytest.raises(ValueError, match="2 dims"):
        norm.set_stats([0.0, 0.0], [1.0, 1.0])
    lengths = torch.tensor([0, 3, 5])
    assert length_mask(lengths, 4).tolist() == [[False] * 4, [True] * 3 + [False], [True] * 4]
    # the centred-frame rule: frame k of hop h is valid for k < length // h + 1
    hop, n = 4, 6
    for length in range(0, 26):
        want = [k < length // hop + 1 for k in range(n)]
        assert frame_mask(torch.tensor([length]), hop, n)[0].tolist() == want, length
