#!/usr/bin/env bash
# Installs the pinned moto server into .venv-moto/ when it is missing or holds another version.
set -euo pipefail
exec bash "$(dirname "$0")/../tools/pip-tool.sh" .venv-moto "moto[server]==5.2.5"
