#!/usr/bin/env bash
# Installs a pinned Python tool into its own project-local virtualenv (git-ignored) when it is
# missing or holds another version, then runs one of its commands. Idempotent and quiet when
# already right, so tests can call it on every run; concurrent installs are serialised.
# Needs Python 3 with venv.
#
#   bash scripts/tools/pip-tool.sh VENV REQUIREMENT [COMMAND [ARGS...]]
#
#   VENV         the virtualenv folder under the repository root, e.g. .venv-checkov
#   REQUIREMENT  an exact pin, extras allowed: "moto[server]==5.2.5"
#   COMMAND      a program in the venv's bin/ to run afterwards (none: only install)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$ROOT/$1"
REQUIREMENT="$2"
shift 2
NAME="${REQUIREMENT%%[*}"
NAME="${NAME%%==*}"
VERSION="${REQUIREMENT##*==}"
PY="$VENV/bin/python"

installed_version() {
  "$PY" -c "import importlib.metadata as m; print(m.version('$NAME'))" 2>/dev/null || true
}

if [ ! -x "$PY" ] || [ "$(installed_version)" != "$VERSION" ]; then
  exec 9>"/tmp/reccert-$NAME-install.lock"
  flock 9
  if [ ! -x "$PY" ] || [ "$(installed_version)" != "$VERSION" ]; then
    echo "installing $REQUIREMENT into $VENV" >&2
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "$REQUIREMENT" >&2
    echo "$NAME $(installed_version) ready" >&2
  fi
  exec 9>&-
fi

if [ "$#" -gt 0 ]; then
  COMMAND="$1"
  shift
  exec "$VENV/bin/$COMMAND" "$@"
fi
