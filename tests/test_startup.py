"""Start-up cost of the entry points: every stage is a fresh `python -m pylib.bin.X`, so what X imports
is paid once per process, many times per recipe run.

- the entry points whose work needs no torch (lists, statistics, data checks, labels, the toy corpus,
  score files) do not import it (~3.5 s of CPU a process), neither at import nor for --help;
- `pylib.bin.train` does not import transformers, matplotlib or tensorboard at import: the self-
  supervised front ends, curves.png and the event files import them when they are used.

One subprocess checks them all (each check is on sys.modules after that import), so the test costs
one interpreter start.
"""

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

TORCH_FREE = ("make_lists", "split_list", "validate_data_dir", "compute_stats", "asvspoof_labels",
              "make_toy_corpus", "fuse_scores", "compare_runs", "score_cm")
LAZY_IN_TRAIN = ("transformers", "matplotlib", "tensorboard", "torch.utils.tensorboard")

PROBE = """
import contextlib, importlib, io, json, sys
torch_free, lazy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
found = {}
for name in torch_free:
    mod = importlib.import_module("pylib.bin." + name)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        mod.main(["--help"])
    found[name] = sorted(m for m in ("torch", "transformers", "matplotlib") if m in sys.modules)
importlib.import_module("pylib.bin.train")
found["train"] = sorted(m for m in lazy if m in sys.modules)
print(json.dumps(found))
"""


def test_light_entry_points_skip_torch_and_train_skips_its_optional_imports():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(TORCH_FREE), json.dumps(LAZY_IN_TRAIN)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout.strip().splitlines()[-1])
    # cumulative: the first entry point that pulls torch in is the one named
    assert {name: found[name] for name in TORCH_FREE} == {name: [] for name in TORCH_FREE}, found
    assert found["train"] == [], f"pylib.bin.train imports {found['train']} eagerly: import them where used"
