#!/usr/bin/env bash
# Builds the PyInstaller bundle from ccproxy-desktop.spec: dist/ccproxy-desktop/ (executables `ccproxy` and
# `ccproxy-desktop` sharing one runtime) and, on macOS, dist/ccproxy-desktop.app.
#
# Usage: bash installers/pyinstaller/build.sh [--venv DIR] [--dist DIR] [--work DIR]
#   --venv DIR  the build venv (default build/pyinstaller-venv): created if missing, with the project (its gtk extra
#               on Linux when PyGObject is not importable) and PyInstaller installed into it
#   --dist DIR  where the bundle goes (default dist)
#   --work DIR  PyInstaller's work folder (default build/pyinstaller)
# Runs from any directory; paths are relative to the repository root. Works on Linux, macOS and Windows (Git Bash).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$REPO/build/pyinstaller-venv
DIST=$REPO/dist
WORK=$REPO/build/pyinstaller
PYTHON=${PYTHON:-python3}
while [[ $# -gt 0 ]]; do
    case $1 in
        --venv) VENV=$2; shift 2 ;;
        --dist) DIST=$2; shift 2 ;;
        --work) WORK=$2; shift 2 ;;
        -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -x $VENV/Scripts/python.exe ]]; then VPY=$VENV/Scripts/python.exe; else VPY=$VENV/bin/python; fi
if [[ ! -x $VPY ]]; then
    # A clean venv: whatever else this Python has installed (a pyenv or CI Python holds hundreds of packages)
    # stays out of the bundle. Only a distro Python with its PyGObject (python3-gi) lends its site-packages,
    # so the tray gets the distro's GTK bindings without building them.
    venv_options=()
    if [[ $(uname -s) == Linux && $("$PYTHON" -c 'import sys; print(sys.prefix)') == /usr ]] \
        && "$PYTHON" -c 'import gi' 2>/dev/null; then
        venv_options=(--system-site-packages)
    fi
    "$PYTHON" -m venv "${venv_options[@]}" "$VENV"
    if [[ -x $VENV/Scripts/python.exe ]]; then VPY=$VENV/Scripts/python.exe; else VPY=$VENV/bin/python; fi
fi
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet "$REPO" "pyinstaller>=6,<7"
if [[ $(uname -s) == Linux ]] && ! "$VPY" -c 'import gi' 2>/dev/null; then
    "$VPY" -m pip install --quiet "$REPO[gtk]"
fi

export LITELLM_LOCAL_MODEL_COST_MAP=True
start=$(date +%s)
(cd "$REPO" && "$VPY" -m PyInstaller --noconfirm --distpath "$DIST" --workpath "$WORK" \
    installers/pyinstaller/ccproxy-desktop.spec)
echo "build.sh: built $DIST/ccproxy-desktop in $(($(date +%s) - start)) s ($(du -sh "$DIST/ccproxy-desktop" | cut -f1))"
