#!/usr/bin/env bash
# The pinned checkov (.venv-checkov/), installed on first use; arguments go to checkov (none: only
# install).
set -euo pipefail
exec bash "$(dirname "$0")/../tools/pip-tool.sh" .venv-checkov "checkov==3.3.30" ${1+checkov "$@"}
