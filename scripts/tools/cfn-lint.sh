#!/usr/bin/env bash
# Runs the pinned cfn-lint from a project-local virtualenv (.venv-cfnlint/, git-ignored),
# installing it first when it is missing or holds another version. Arguments go to cfn-lint,
# e.g.: bash scripts/tools/cfn-lint.sh cdk.out/Reccert.template.json
set -euo pipefail
CFN_LINT_VERSION="1.58.0"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/.venv-cfnlint"
PY="$VENV/bin/python"

installed_version() {
  "$PY" -c 'import importlib.metadata as m; print(m.version("cfn-lint"))' 2>/dev/null || true
}

if [ ! -x "$PY" ] || [ "$(installed_version)" != "$CFN_LINT_VERSION" ]; then
  # Serialise concurrent installs (parallel test projects may call this at once).
  exec 9>"/tmp/reccert-cfnlint-install.lock"
  flock 9
  if [ ! -x "$PY" ] || [ "$(installed_version)" != "$CFN_LINT_VERSION" ]; then
    echo "installing cfn-lint==$CFN_LINT_VERSION into $VENV" >&2
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" >&2
  fi
  exec 9>&-
fi

exec "$VENV/bin/cfn-lint" "$@"
