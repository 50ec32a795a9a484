# shellcheck shell=bash
# Sourced by run.sh: the repository's venv first on PATH, the repository on PYTHONPATH (utils/env.sh).
# shellcheck source=../../../utils/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/utils/env.sh"
