#!/usr/bin/env bash
# Install the system packages some tests use (Slurm and munge for tests/cluster; ffmpeg for the codec
# augmentation tests with NNSP_INSTALL_FFMPEG=1, left out by default to keep CI inside its time) with
# apt-get, where the machine allows it: root, apt-get present, something missing.
# Idempotent and fast when everything is there; never fails the build: when it cannot install, it
# prints one line saying what was skipped and how to install by hand, and exits 0.
# `make test` calls it before pytest. NNSP_NO_SYSTEM_PACKAGES=1 skips it.
set -uo pipefail

packages=(slurm-wlm munge)
commands=(sbatch munged)
if [ -n "${NNSP_INSTALL_FFMPEG:-}" ]; then packages+=(ffmpeg); commands+=(ffmpeg); fi
hint="sudo tools/install_system_packages.sh (or: apt-get install ${packages[*]})"

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
else
  for c in "${commands[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

skip() { echo "install_system_packages: $1; skipped ${missing[*]} (the tests that need them skip). To install: $hint"; exit 0; }
[ -n "${NNSP_NO_SYSTEM_PACKAGES:-}" ] && skip "NNSP_NO_SYSTEM_PACKAGES is set"
command -v apt-get >/dev/null 2>&1 || skip "no apt-get on this machine"
[ "$(id -u)" -eq 0 ] || skip "not root"

log=$(mktemp "${TMPDIR:-/tmp}/nnsp-apt.XXXXXX")
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: slurm-wlm recommends every optional plugin (and their -dev packages).
apt_install() { timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }
if ! apt_install; then
  # a fresh machine has no package lists yet
  if ! { timeout 300 apt-get update -qq >>"$log" 2>&1 && apt_install; }; then
    skip "apt-get failed ($(tail -n 1 "$log"); full log: $log)"
  fi
fi
rm -f "$log"
echo "install_system_packages: installed ${missing[*]} in $(( $(date +%s) - start )) s"
exit 0
