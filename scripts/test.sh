#!/usr/bin/env bash
# The one test command (README: npm ci && npm test). It installs and starts what the tests need
# (moto, Azurite, Chromium) through each test project's global setup.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== lint and format (biome)"
npx biome ci .
echo "== typecheck (tsc)"
npx tsc -p tsconfig.json --noEmit
# The admin page's ES modules, checked from their JSDoc (// @ts-check).
npx tsc -p tsconfig.web.json --noEmit
echo "== tests (jest)"
# Every temporary file of the run (data dirs, sealed test keys, generated recordings) lives under
# one folder that is removed afterwards, whatever the outcome.
RUN_TMP="$(mktemp -d -t reccert-test-run.XXXXXX)"
trap 'rm -rf "$RUN_TMP"' EXIT
TMPDIR="$RUN_TMP" npx jest --ci "$@"
