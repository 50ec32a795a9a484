# shellcheck shell=bash
# Command-line options for recipe scripts, with Kaldi's behaviour. Source it after the settings:
#
#   stage=0            # first stage to run
#   use_gpu=false      # a boolean: only true/false are accepted
#   help_message="Usage: $0 [options]"
#   . utils/parse_options.sh
#
# `--foo-bar v` and `--foo-bar=v` set the existing variable foo_bar; an option with no such
# variable is an error, so a typo never passes silently. A variable whose default is true or false
# only takes true or false. `--help`/`-h` prints $help_message and exits 0. `--config FILE` sources
# FILE (shell assignments) first, so options given after it on the command line win.
# Parsing stops at the first argument that is not an option, or after `--`; the rest stay in "$@".

_po_fail() {
  echo "$0: $*" >&2
  exit 1
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --help | -h)
      if [ -n "${help_message:-}" ]; then
        printf '%s\n' "$help_message"
      else
        echo "$0: no help_message is set in this script; read its settings at the top"
      fi
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      _po_name="${1%%=*}"
      _po_value="${1#*=}"
      shift
      ;;
    --*)
      [ "$#" -ge 2 ] || _po_fail "option $1 needs a value (e.g. $1 VALUE or $1=VALUE)"
      _po_name="$1"
      _po_value="$2"
      shift 2
      ;;
    *)
      break
      ;;
  esac
  _po_var="${_po_name#--}"
  _po_var="${_po_var//-/_}"
  # The name goes into an indirect expansion below, so it must be a plain identifier.
  [[ "$_po_var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || _po_fail "invalid option name $_po_name"
  if [ "$_po_var" = config ] && [ -z "${config+set}" ]; then
    [ -f "$_po_value" ] || _po_fail "--config $_po_value: file not found"
    # shellcheck disable=SC1090
    . "$_po_value"
    continue
  fi
  if [ -z "${!_po_var+set}" ]; then
    _po_fail "unknown option $_po_name (there is no setting '$_po_var' in this script; see $0 --help)"
  fi
  _po_old="${!_po_var}"
  if [ "$_po_old" = true ] || [ "$_po_old" = false ]; then
    if [ "$_po_value" != true ] && [ "$_po_value" != false ]; then
      _po_fail "option $_po_name is a boolean: give true or false, not '$_po_value'"
    fi
  fi
  printf -v "$_po_var" '%s' "$_po_value"
done

unset -v _po_name _po_value _po_var _po_old
unset -f _po_fail
true
