#!/usr/bin/env bash
# Installs the pinned schemathesis into a project-local virtualenv (.venv-schemathesis/,
# git-ignored) when it is missing or holds another version, then runs `schemathesis` with the given
# arguments (no arguments: only install). Idempotent, so the reliability tests call it on every
# run. Needs Python 3 (>= 3.9) with venv.
set -euo pipefail
SCHEMATHESIS_VERSION="4.32.5"
cd "$(dirname "$0")/../.."
VENV=".venv-schemathesis"
PY="$VENV/bin/python"

installed_version() {
  "$PY" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true
}

if [ ! -x "$PY" ] || [ "$(installed_version)" != "$SCHEMATHESIS_VERSION" ]; then
  # Serialise concurrent installs (several jest workers or helpers may call this at once).
  exec 9>"/tmp/reccert-schemathesis-install.lock"
  flock 9
  if [ ! -x "$PY" ] || [ "$(installed_version)" != "$SCHEMATHESIS_VERSION" ]; then
    echo "installing schemathesis==$SCHEMATHESIS_VERSION into $VENV" >&2
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
    echo "schemathesis $(installed_version) ready" >&2
  fi
  exec 9>&-
fi

if [ "$#" -gt 0 ]; then
  exec "$VENV/bin/schemathesis" "$@"
fi
