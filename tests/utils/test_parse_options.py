"""utils/parse_options.sh: run a tiny recipe-like script under bash and check what it sets."""

import subprocess

import pytest

from tests.conftest import ROOT

SCRIPT = """
stage=0                # first stage
stop_stage=100         # last stage
use_gpu=false          # a boolean
tag=""                 # a string that may be empty
help_message="Usage: demo.sh [--stage N] [--use-gpu true|false]"
. {root}/utils/parse_options.sh
set -euo pipefail
echo "stage=$stage stop_stage=$stop_stage use_gpu=$use_gpu tag=$tag rest=$*"
"""


@pytest.fixture
def demo(tmp_path):
    path = tmp_path / "demo.sh"
    path.write_text(SCRIPT.format(root=ROOT))

    def call(*args):
        return subprocess.run(["bash", str(path), *args], capture_output=True, text=True, cwd=tmp_path)

    return call


def test_sets_variables_both_forms(demo):
    r = demo("--stage", "3", "--stop-stage=4", "--use-gpu", "true", "--tag", "a b", "x", "y")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=3 stop_stage=4 use_gpu=true tag=a b rest=x y"


def test_defaults_and_double_dash(demo):
    r = demo("--tag=", "--", "--stage")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=0 stop_stage=100 use_gpu=false tag= rest=--stage"


def test_unknown_option_fails(demo):
    r = demo("--stgae", "3")
    assert r.returncode != 0
    assert "unknown option --stgae" in r.stderr
    assert r.stdout == ""


def test_bad_boolean_fails(demo):
    r = demo("--use-gpu", "yes")
    assert r.returncode != 0
    assert "boolean" in r.stderr and "'yes'" in r.stderr


def test_missing_value_and_bad_name(demo):
    r = demo("--stage")
    assert r.returncode != 0 and "needs a value" in r.stderr
    r = demo("--a;b=1")
    assert r.returncode != 0 and "invalid option name" in r.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_help_message(demo, flag):
    r = demo(flag)
    assert r.returncode == 0
    assert r.stdout.strip() == "Usage: demo.sh [--stage N] [--use-gpu true|false]"


def test_config_file_then_command_line_wins(demo, tmp_path):
    (tmp_path / "my.conf").write_text("stage=5\ntag=fromconf\n")
    r = demo("--config", "my.conf", "--stage", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("stage=2 stop_stage=100 use_gpu=false tag=fromconf")
    r = demo("--config", "nope.conf")
    assert r.returncode != 0 and "nope.conf: file not found" in r.stderr
