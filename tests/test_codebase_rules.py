"""Rules of the code base, checked on the syntax tree of every file under pylib/ (issue 13):

- no function longer than MAX_FUNCTION_LINES lines (a newcomer reads each one in a sitting);
- layers do not leak: `pylib/models` never imports `pylib.data`, `pylib/engine` never imports
  `pylib.models` (by an import statement or `importlib.import_module("pylib.models...")`);
- no test hook behind an environment variable: no `NNSP_DEBUG*` name in production code;
- every `torch.load` passes `weights_only=True` (a checkpoint never runs code when read).

Each test lists every offence with its file and line, so one run shows all there is to fix.
"""

import ast
from functools import cache

from tests.conftest import ROOT

PYLIB = ROOT / "pylib"
MAX_FUNCTION_LINES = 85
DEBUG_PREFIX = "NNSP_DEBUG"


@cache
def _trees():
    """{path relative to the repository: syntax tree} of every .py file under pylib/."""
    return {
        p.relative_to(ROOT).as_posix(): ast.parse(p.read_text(encoding="utf-8"), filename=str(p))
        for p in sorted(PYLIB.rglob("*.py"))
    }


def _imported_modules(tree):
    """[(line, dotted module name)] of every import in `tree`: `import a.b`, `from a import b`
    (as a.b and a), and `importlib.import_module("a.b")` with a literal name."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append((node.lineno, node.args[0].value))
    return out


def _is_within(module, package):
    return module == package or module.startswith(package + ".")


def _layer_offences(importer, forbidden):
    """'<file>:<line>: imports <module>' for each import line of a module within `importer` that
    reaches into `forbidden`."""
    found = {}
    for path, tree in _trees().items():
        if _is_within(path[:-3].replace("/", "."), importer):
            for line, module in _imported_modules(tree):
                if _is_within(module, forbidden):
                    found.setdefault((path, line), module)  # `from a.b import c`: a.b, not a.b.c too
    return [f"{path}:{line}: imports {module}" for (path, line), module in found.items()]


def _docstring_nodes(tree):
    nodes = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                nodes.add(id(body[0].value))
    return nodes


def test_the_rules_see_every_pylib_file():
    assert len(_trees()) > 50 and "pylib/engine/trainer.py" in _trees()
    found = _imported_modules(ast.parse("import a.b\nfrom c import d\nimportlib.import_module('e.f')\n"))
    assert found == [(1, "a.b"), (2, "c"), (2, "c.d"), (3, "e.f")]


def test_no_function_is_longer_than_the_limit():
    long = [
        f"{path}:{node.lineno}: {node.name} has {node.end_lineno - node.lineno + 1} lines"
        for path, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    why = f"split these into named steps (at most {MAX_FUNCTION_LINES} lines each):\n"
    assert not long, why + "\n".join(long)


def test_models_never_import_the_data_layer():
    bad = _layer_offences("pylib.models", "pylib.data")
    assert not bad, "models take what they share with data from a lower layer (pylib/nn):\n" + "\n".join(bad)


def test_the_engine_never_imports_the_models():
    bad = _layer_offences("pylib.engine", "pylib.models")
    assert not bad, "the engine gets its model from the entry point, never by name:\n" + "\n".join(bad)


def test_no_test_hook_behind_an_environment_variable():
    hooks = []
    for path, tree in _trees().items():
        docstrings = _docstring_nodes(tree)
        hooks += [
            f"{path}:{node.lineno}: {node.value}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.startswith(DEBUG_PREFIX)
            and id(node) not in docstrings
        ]
    assert not hooks, "test hooks live in the tests (monkeypatch or a callback):\n" + "\n".join(hooks)


def _is_torch_load(func):
    return isinstance(func, ast.Attribute) and func.attr == "load" and (
        isinstance(func.value, ast.Name) and func.value.id == "torch"
    )


def test_every_torch_load_is_weights_only():
    bad, seen = [], 0
    for path, tree in _trees().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "torch" and any(
                a.name == "load" for a in node.names
            ):
                bad.append(f"{path}:{node.lineno}: from torch import load (call torch.load: it is checked)")
            if isinstance(node, ast.Call) and _is_torch_load(node.func):
                seen += 1
                safe = any(
                    k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in node.keywords
                )
                if not safe:
                    bad.append(f"{path}:{node.lineno}: torch.load without weights_only=True")
    assert seen, "no torch.load found: the rule checks nothing (did the reader move?)"
    assert not bad, "read checkpoints with weights_only=True (pylib.engine.checkpoint):\n" + "\n".join(bad)
