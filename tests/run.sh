#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what the tests need, then lint, types and tests.
# Usage: bash tests/run.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing test dependencies"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if ! command -v claude >/dev/null 2>&1; then
    npm install --global --silent @anthropic-ai/claude-code
fi
claude --version

echo "== ruff"
python3 -m ruff check ccproxy_desktop tests bench
python3 -m ruff format --check ccproxy_desktop tests bench
echo "== mypy"
python3 -m mypy
echo "== pytest"
python3 -m pytest -q "$@"
