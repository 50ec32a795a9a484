# shellcheck shell=bash
# Sourced by every recipe's path.sh (through its `utils` link): finds the repository as the
# physical parent of this utils/ folder, checks the install, puts the venv first on PATH.
# A copy of a recipe anywhere (the suite's tests run one in a temp folder) works as long as its
# `utils` link points at the repository's utils/.

NNSP_ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ ! -f "$NNSP_ROOT/pyproject.toml" ] || [ ! -d "$NNSP_ROOT/pylib" ]; then
  echo "utils/env.sh: $NNSP_ROOT is not an nnsp repository; the recipe's utils link must point at its utils/" >&2
  return 1
fi
if [ ! -x "$NNSP_ROOT/tools/venv/bin/python" ]; then
  echo "path.sh: $NNSP_ROOT/tools/venv is missing or broken: run \`make\` at the repository root ($NNSP_ROOT)" >&2
  return 1
fi

export NNSP_ROOT
# utils/run.py started from this recipe stops its jobs when this shell dies (SIGTERM/SIGHUP to run.sh)
export NNSP_RECIPE_PID=$$
export PATH="$NNSP_ROOT/tools/venv/bin:$PATH"
export PYTHONPATH="$NNSP_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1  # job logs show progress as it happens
export LC_ALL=C            # byte-order sorting, as Kaldi tables require
