#!/usr/bin/env bash
# The pinned cfn-lint (.venv-cfnlint/), installed on first use; arguments go to cfn-lint, e.g.:
# bash scripts/tools/cfn-lint.sh cdk.out/Reccert.template.json
set -euo pipefail
exec bash "$(dirname "$0")/pip-tool.sh" .venv-cfnlint "cfn-lint==1.58.0" cfn-lint "$@"
