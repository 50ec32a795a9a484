# shellcheck shell=bash
# Sourced by run.sh: finds the repository root, checks the install, puts the venv first on PATH.
# A recipe lives at egs/<corpus>/<model>/ (the root is three levels up); this TEMPLATE at
# egs/TEMPLATE/ (two levels up). The root is the first folder above with pyproject.toml and pylib/.
# A copy of the recipe outside the repository (the suite's tests run one) sets NNSP_ROOT itself.

_recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_preset=${NNSP_ROOT:-}
NNSP_ROOT=""
for _up in "$_preset" ../../.. ../.. ..; do
  [ -n "$_up" ] || continue
  case "$_up" in /*) ;; *) _up="$_recipe_dir/$_up" ;; esac
  if [ -f "$_up/pyproject.toml" ] && [ -d "$_up/pylib" ]; then
    NNSP_ROOT=$(cd "$_up" && pwd)
    break
  fi
done
unset _up _preset

if [ -z "$NNSP_ROOT" ]; then
  echo "path.sh: no nnsp repository found above $_recipe_dir; recipes live in egs/<corpus>/<model>/" >&2
  return 1
fi
if [ ! -x "$NNSP_ROOT/tools/venv/bin/python" ]; then
  echo "path.sh: $NNSP_ROOT/tools/venv is missing or broken: run \`make\` at the repository root ($NNSP_ROOT)" >&2
  return 1
fi
unset _recipe_dir

export NNSP_ROOT
export PATH="$NNSP_ROOT/tools/venv/bin:$PATH"
export PYTHONPATH="$NNSP_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1  # job logs show progress as it happens
export LC_ALL=C            # byte-order sorting, as Kaldi tables require
