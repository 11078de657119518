#!/usr/bin/env bash
# The whole test suite from a fresh machine: installs what the tests need, then lint, types and tests.
# The desktop tests (tests/desktop) run inside a private headless desktop session (Xvfb, a tray host,
# a notification server, an unlocked keyring): tests/desktop-session.sh.
# Usage: bash tests/run.sh [pytest args for the main suite...]
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== system packages"
bash installers/deps-debian.sh
test_packages=(zsh fish procps desktop-file-utils tmux chromium chromium-driver xterm)
missing=()
for package in "${test_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "== python packages"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,gtk]'
# The newest Claude Code CLI (a bare `npm install` can resolve to an older release): install it whenever
# the installed version differs from the registry's latest, or the registry cannot be asked and none is there.
claude_latest="$(npm view @anthropic-ai/claude-code version 2>/dev/null || true)"
claude_installed="$(claude --version 2>/dev/null | awk '{print $1}' || true)"
if [ -n "$claude_latest" ] && [ "$claude_installed" != "$claude_latest" ]; then
    npm install --global --silent "@anthropic-ai/claude-code@$claude_latest"
elif [ -z "$claude_installed" ]; then
    npm install --global --silent @anthropic-ai/claude-code
fi
claude --version

echo "== ruff"
python3 -m ruff check ccproxy_desktop tests bench
python3 -m ruff format --check ccproxy_desktop tests bench
echo "== mypy"
python3 -m mypy
echo "== pytest"
python3 -m pytest -q --ignore=tests/desktop "$@"
echo "== pytest: desktop tests in a headless desktop session"
bash tests/desktop-session.sh python3 -m pytest -q tests/desktop
echo "== installers: the PyInstaller bundle and .deb, built, installed and run (about 9 min: docs/benchmarks.md)"
if [ "$(id -u)" -eq 0 ]; then
    CCPROXY_BUNDLE_TEST=1 bash tests/desktop-session.sh python3 -m pytest -q tests/installers/test_bundle_deb.py
else
    echo "skipped: dpkg -i needs root (run tests/installers/test_bundle_deb.py as root, see installers/README.md)"
fi
