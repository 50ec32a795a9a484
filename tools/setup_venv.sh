#!/usr/bin/env bash
# Create or repair tools/venv: pylib in editable mode with the pinned dependencies of pyproject.toml.
# Idempotent: a stamp holds the hash of pyproject.toml; a venv that fails its import check is rebuilt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/tools/venv
stamp=$venv/.nnsp-stamp
python=${PYTHON:-python3}
# pip warns about every local index folder a package is not in; keep real messages only.
quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }
want=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)

check() {
  "$venv/bin/python" -c "import torch, numpy, scipy, kaldiio, soundfile, yaml, tqdm, matplotlib, pyworld, pytest, librosa, pylib" \
    >/dev/null 2>&1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && check; then
  exit 0
fi

if [ -d "$venv" ]; then
  if [ -f "$stamp" ] && check; then
    echo "tools/venv: pyproject.toml changed, updating"
  else
    echo "tools/venv is missing pieces or broken: rebuilding it"
    rm -rf "$venv"
  fi
fi
if [ ! -x "$venv/bin/python" ]; then
  command -v "$python" >/dev/null || { echo "error: $python not found; install Python >= 3.10" >&2; exit 1; }
  "$python" -m venv "$venv"
fi
rm -f "$stamp"
pip_args=(--disable-pip-version-check --quiet)
# The CPU build of torch lies on local disk on our machines; elsewhere PyPI's torch==2.13.0 is used.
[ -d /opt/wheels ] && pip_args+=(--find-links /opt/wheels)
echo "tools/venv: installing pylib and its pinned dependencies (a few minutes the first time)"
"$venv/bin/python" -m pip install "${pip_args[@]}" "setuptools==80.10.2" wheel 2>&1 | quiet
"$venv/bin/python" -m pip install "${pip_args[@]}" -e "$root[dev]" 2>&1 | quiet
if ! check; then
  echo "error: tools/venv was installed but its import check fails; run:" >&2
  echo "  $venv/bin/python -c 'import torch, pyworld, librosa, pylib'" >&2
  exit 1
fi
echo "$want" > "$stamp"
echo "tools/venv ready"
