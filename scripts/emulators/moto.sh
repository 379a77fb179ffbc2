#!/usr/bin/env bash
# Installs the pinned moto server into a project-local virtualenv (.venv-moto/, git-ignored) when
# it is missing or holds another version. Idempotent and quiet when already right, so the aws test
# project's global setup can call it on every run. Needs only Python 3 with venv.
set -euo pipefail
MOTO_VERSION="5.2.5"
cd "$(dirname "$0")/../.."
VENV=".venv-moto"
PY="$VENV/bin/python"

installed_version() {
  "$PY" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true
}

if [ -x "$PY" ] && [ "$(installed_version)" = "$MOTO_VERSION" ]; then
  exit 0
fi

# Serialise concurrent installs (several jest workers or helpers may call this at once).
exec 9>"/tmp/reccert-moto-install.lock"
flock 9
if [ -x "$PY" ] && [ "$(installed_version)" = "$MOTO_VERSION" ]; then
  exit 0
fi

echo "installing moto[server]==$MOTO_VERSION into $VENV" >&2
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
"$PY" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
echo "moto $(installed_version) ready" >&2
