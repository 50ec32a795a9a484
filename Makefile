# nnsp: `make` sets up tools/venv; `make demo` runs the toy recipes; `make test` runs the suite.
SHELL := /bin/bash
VENV := tools/venv
PY := $(VENV)/bin/python
DEMO_RECIPES := $(wildcard egs/toy/*/run.sh)
# pytest-xdist workers of `make test` (TEST_JOBS=1: one process, in file order); on the 2-core CI
# machine 2 workers took 723 s of pytest, 3 took 774 s. --no-loadscope-reorder: the groups go out in
# the order tests/conftest.py gives them (the longest first), not by how many tests each holds
TEST_JOBS ?= 2

.PHONY: all setup test demo bench lint clean

all: setup

setup:
	@tools/setup_venv.sh
	@command -v ffmpeg >/dev/null || echo "note: ffmpeg not found; only codec augmentation (data.augment"\
	  "type: codec) needs it: apt-get install ffmpeg (Debian/Ubuntu) or conda install ffmpeg"

test: setup
	@tools/install_system_packages.sh
	$(PY) -m pytest $(if $(filter 1,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadgroup --no-loadscope-reorder) --durations=10 $(PYTEST_ARGS)

demo: setup
	@if [ -z "$(DEMO_RECIPES)" ]; then echo "make demo: no toy recipe exists yet (egs/toy/*/run.sh)"; exit 1; fi
	@set -e; for r in $(DEMO_RECIPES); do \
	  echo "=== demo: $$r ==="; (cd $$(dirname $$r) && ./run.sh $(DEMO_ARGS)); done

bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

lint: setup
	$(PY) -m ruff check pylib tests utils bench egs
	@if command -v shellcheck >/dev/null; then \
	  git ls-files '*.sh' | xargs -r shellcheck -x -e SC1091,SC2034; \
	else echo "shellcheck not installed: shell scripts not linted"; fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
