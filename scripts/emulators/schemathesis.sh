#!/usr/bin/env bash
# The pinned schemathesis (.venv-schemathesis/), installed on first use; arguments go to
# schemathesis (none: only install).
set -euo pipefail
exec bash "$(dirname "$0")/../tools/pip-tool.sh" .venv-schemathesis "schemathesis==4.32.5" ${1+schemathesis "$@"}
