#!/usr/bin/env bash
# Installs ccproxy-desktop for the current user; see usage below. Idempotent: run it again to update.
set -euo pipefail

PROG=install.sh
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$SCRIPT_DIR/common.sh"

usage() {
    cat <<EOF
Usage: bash installers/linux/install.sh [OPTIONS] [SOURCE]

Installs ccproxy-desktop for the current user, in a virtual environment of its own:
  - the venv (default: $DEFAULT_PREFIX), with the project pip-installed into it from
    SOURCE: a wheel, an sdist or a project folder (default: the checkout this script is in, $REPO_DIR);
  - symlinks ~/.local/bin/ccproxy and ~/.local/bin/ccproxy-desktop to the venv's commands
    (an existing file there that is not such a symlink is left alone, with a warning);
  - the application-menu entry $MENU_ENTRY;
  - the icon, $ICON_THEME_DIR/<size>/apps/$APP_ID.png and scalable/apps/$APP_ID.svg;
  - with --autostart, the launch-at-login entry $AUTOSTART_ENTRY.
Running it again updates the installation in place. Your config folder (~/.ccproxy) is never touched.
Undo it with installers/linux/uninstall.sh (same --prefix).

Options:
  --prefix DIR             where the venv goes (default: \${XDG_DATA_HOME:-~/.local/share}/$APP_ID/venv)
  --python PYTHON          the Python 3.11+ that creates the venv (default: python3)
  --system-site-packages   let the venv see PYTHON's installed packages: pip then installs only what PYTHON
                           lacks (with LiteLLM already there, only ccproxy-desktop itself, in seconds rather
                           than minutes), and the venv uses PYTHON's pip instead of getting its own
  --pip-args ARGS          extra arguments for \`pip install\`, split on whitespace (e.g. "--no-deps",
                           "--no-build-isolation", "--index-url URL")
  --autostart              launch ccproxy-desktop at login (same as its tray menu's "Launch at login")
  -h, --help               this help
EOF
}

PREFIX=$DEFAULT_PREFIX
PYTHON=python3
SYSTEM_SITE_PACKAGES=false
PIP_ARGS=""
AUTOSTART=false
SOURCE=$REPO_DIR
while (($#)); do
    case $1 in
    --prefix) PREFIX=${2:?--prefix needs a folder} && shift ;;
    --python) PYTHON=${2:?--python needs an interpreter} && shift ;;
    --system-site-packages) SYSTEM_SITE_PACKAGES=true ;;
    --pip-args) PIP_ARGS=${2?--pip-args needs a value} && shift ;;
    --autostart) AUTOSTART=true ;;
    -h | --help) usage && exit 0 ;;
    -*) usage >&2 && die "unknown option: $1" ;;
    *) SOURCE=$1 ;;
    esac
    shift
done
PREFIX=$(normalized_path "$PREFIX")
VENV_PYTHON=$PREFIX/bin/python
MANIFEST=$PREFIX/$MANIFEST_NAME

command -v "$PYTHON" >/dev/null || die "no $PYTHON: install Python 3.11 or newer, or name one with --python"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PYTHON is Python $("$PYTHON" -c 'import platform; print(platform.python_version())'); 3.11 or newer is needed"
if [[ -e $PREFIX && ! -f $PREFIX/pyvenv.cfg ]] && [[ -n $(ls -A -- "$PREFIX") ]]; then
    die "$PREFIX exists and is not a virtual environment: choose another --prefix"
fi

# Folders created here are written to the manifest so that the uninstaller can remove them again.
created_folders=()
make_folder() {
    local folder missing=()
    folder=$1
    while [[ ! -d $folder ]]; do
        missing+=("$folder")
        folder=$(dirname -- "$folder")
    done
    ((${#missing[@]})) || return 0
    mkdir -p -- "$1"
    created_folders+=("${missing[@]}")
    if [[ -f $MANIFEST ]]; then save_manifest; fi
}
save_manifest() {
    local previous=()
    if [[ -f $MANIFEST ]]; then mapfile -t previous <"$MANIFEST"; fi
    printf '%s\n' "${previous[@]}" "${created_folders[@]}" | sed '/^$/d' | sort -u >"$MANIFEST.tmp"
    mv -- "$MANIFEST.tmp" "$MANIFEST"
    created_folders=()
}

# 1. The venv. Re-running `venv` on an existing one is quick and keeps its packages; it brings the
# system-site-packages setting in line with this run's options.
make_folder "$(dirname -- "$PREFIX")"
venv_options=(--without-pip)
if $SYSTEM_SITE_PACKAGES; then venv_options+=(--system-site-packages); fi
if [[ -f $PREFIX/pyvenv.cfg ]]; then say "updating the venv $PREFIX"; else say "creating the venv $PREFIX"; fi
"$PYTHON" -m venv "${venv_options[@]}" "$PREFIX"
save_manifest
if ! "$VENV_PYTHON" -I -c 'import pip' 2>/dev/null; then
    "$PYTHON" -c 'import ensurepip' 2>/dev/null ||
        die "$PYTHON has no ensurepip (Debian: apt-get install python3-venv), or use --system-site-packages with a Python that has pip"
    say "installing pip into the venv"
    "$VENV_PYTHON" -I -m ensurepip --upgrade --default-pip >/dev/null
fi

# 2. The project. A folder is copied first, so that pip's build leaves no build/ or *.egg-info in it.
stage=""
trap '[[ -z $stage ]] || rm -rf -- "$stage"' EXIT
if [[ -d $SOURCE ]]; then
    [[ -f $SOURCE/pyproject.toml ]] || die "$SOURCE has no pyproject.toml: not a project folder"
    stage=$(mktemp -d)
    tar -C "$SOURCE" --exclude-vcs --exclude='./.*' --exclude=./build --exclude=./dist \
        --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$stage" -xf -
    target=$stage
else
    [[ -f $SOURCE ]] || die "no such wheel, sdist or folder: $SOURCE"
    target=$(normalized_path "$SOURCE")
fi
read -r -a pip_extra <<<"$PIP_ARGS"
pip_install=("$VENV_PYTHON" -I -m pip install --quiet --disable-pip-version-check "${pip_extra[@]}")
say "pip-installing $SOURCE and what it needs into the venv${PIP_ARGS:+ (pip args: $PIP_ARGS)}; the first time" \
    "this downloads LiteLLM and its dependencies (a few minutes) unless --system-site-packages finds them"
# pip always reinstalls a folder, but skips a wheel or sdist whose version is installed already: force that
# one, so that a re-run with a rebuilt file still replaces the code.
[[ -n $stage ]] || "${pip_install[@]}" --force-reinstall --no-deps "$target"
"${pip_install[@]}" "$target"
say "installed ccproxy-desktop $("$VENV_PYTHON" -I -c 'import importlib.metadata as m; print(m.version("ccproxy-desktop"))')"

# 3. The commands on PATH.
make_folder "$BIN_DIR"
for command in "${COMMANDS[@]}"; do
    link=$BIN_DIR/$command
    if [[ -L $link && $(readlink -- "$link") == "$PREFIX/bin/$command" ]]; then
        say "$link already links to the venv"
    elif [[ -e $link || -L $link ]]; then
        say "warning: leaving $link alone: it is not a link into $PREFIX (use $PREFIX/bin/$command)"
    else
        ln -s -- "$PREFIX/bin/$command" "$link"
        say "linked $link -> $PREFIX/bin/$command"
    fi
done
case ":$PATH:" in
*":$BIN_DIR:"*) ;;
*) say "note: $BIN_DIR is not on your PATH; add it to run ccproxy by name" ;;
esac

# 4. The application-menu entry, from the same code that writes the autostart entry. `python -I` everywhere: the
# venv's own code, even when this script runs from inside a checkout (`-m` would put the current folder first).
make_folder "$(dirname -- "$MENU_ENTRY")"
"$VENV_PYTHON" -I -m ccproxy_desktop.desktop.autostart desktop-entry >"$MENU_ENTRY.tmp"
mv -- "$MENU_ENTRY.tmp" "$MENU_ENTRY"
say "wrote the menu entry $MENU_ENTRY"

# 5. The icon (assets/ of the checkout this script is in).
mapfile -t icons < <(icon_files)
for icon in "${icons[@]}"; do
    folder=$(dirname -- "$icon")
    size=$(basename -- "$(dirname -- "$folder")")
    if [[ $size == scalable ]]; then asset=$REPO_DIR/assets/$APP_ID.svg; else asset=$REPO_DIR/assets/$APP_ID-${size%%x*}.png; fi
    [[ -f $asset ]] || die "missing icon $asset: run this script from a complete ccproxy-desktop checkout"
    make_folder "$folder"
    install -m 0644 -- "$asset" "$icon"
done
refresh_icon_theme
say "installed the icon into $ICON_THEME_DIR (${ICON_SIZES[*]} px and scalable)"

# 6. Launch at login, through the installed code (the tray's checkbox calls the same function).
if $AUTOSTART; then
    make_folder "$(dirname -- "$AUTOSTART_ENTRY")"
    "$VENV_PYTHON" -I -m ccproxy_desktop.desktop.autostart enable | sed "s/^/$PROG: /"
fi

say "done: run \`ccproxy install\` to write the default config, then start ccproxy-desktop from the menu"
