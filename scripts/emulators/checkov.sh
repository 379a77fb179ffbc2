#!/usr/bin/env bash
# Installs the pinned checkov into a project-local virtualenv (.venv-checkov/, git-ignored) when it
# is missing or holds another version, then runs it with the given arguments (no arguments: only
# install). Idempotent, so the infra tests can call it on every run. Needs Python 3 with venv.
set -euo pipefail
CHECKOV_VERSION="3.3.30"
cd "$(dirname "$0")/../.."
VENV=".venv-checkov"
PY="$VENV/bin/python"

installed_version() {
  "$PY" -c 'import importlib.metadata as m; print(m.version("checkov"))' 2>/dev/null || true
}

if [ ! -x "$PY" ] || [ "$(installed_version)" != "$CHECKOV_VERSION" ]; then
  # Serialise concurrent installs (several jest workers or helpers may call this at once).
  exec 9>"/tmp/reccert-checkov-install.lock"
  flock 9
  if [ ! -x "$PY" ] || [ "$(installed_version)" != "$CHECKOV_VERSION" ]; then
    echo "installing checkov==$CHECKOV_VERSION into $VENV" >&2
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
    echo "checkov $(installed_version) ready" >&2
  fi
  exec 9>&-
fi

if [ "$#" -gt 0 ]; then
  exec "$VENV/bin/checkov" "$@"
fi
