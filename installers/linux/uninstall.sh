#!/usr/bin/env bash
# Removes what installers/linux/install.sh created; see usage below. Idempotent: running it again is harmless.
set -euo pipefail

PROG=uninstall.sh
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$SCRIPT_DIR/common.sh"

CONFIG_DIR=${CCPROXY_CONFIG_DIR:-$HOME/.ccproxy}

usage() {
    cat <<EOF
Usage: bash installers/linux/uninstall.sh [--prefix DIR] [--purge]

Removes what install.sh created: the venv (default: $DEFAULT_PREFIX), the ~/.local/bin links
that point into it, the menu entry and the launch-at-login entry when they start it, the icon, and the folders
the installer had to create. Your config folder ($CONFIG_DIR) stays unless --purge.

Options:
  --prefix DIR   the venv to remove (the --prefix given to install.sh)
  --purge        also delete the config folder ($CONFIG_DIR: config files, usage ledger, logs);
                 credentials in the OS keyring (service "ccproxy-desktop") stay: remove them first with
                 \`ccproxy auth remove\`
  -h, --help     this help
EOF
}

PREFIX=$DEFAULT_PREFIX
PURGE=false
while (($#)); do
    case $1 in
    --prefix) PREFIX=${2:?--prefix needs a folder} && shift ;;
    --purge) PURGE=true ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && die "unknown argument: $1" ;;
    esac
    shift
done
PREFIX=$(normalized_path "$PREFIX")
if [[ -e $PREFIX && ! -f $PREFIX/pyvenv.cfg ]]; then
    die "$PREFIX is not a virtual environment: not removing it (wrong --prefix?)"
fi

remove() {
    rm -f -- "$1"
    say "removed $1"
}

# The entries: only those that start this venv's ccproxy-desktop (the tray may have written the autostart one).
for entry in "$AUTOSTART_ENTRY" "$MENU_ENTRY"; do
    if entry_starts_from "$entry" "$PREFIX"; then
        remove "$entry"
    elif [[ -e $entry ]]; then
        say "leaving $entry alone: it does not start $PREFIX/bin/$APP_ID"
    fi
done

for command in "${COMMANDS[@]}"; do
    link=$BIN_DIR/$command
    if [[ -L $link && $(readlink -- "$link") == "$PREFIX/bin/$command" ]]; then
        remove "$link"
    elif [[ -e $link || -L $link ]]; then
        say "leaving $link alone: it is not a link into $PREFIX"
    fi
done

mapfile -t icons < <(icon_files)
for icon in "${icons[@]}"; do
    if [[ -e $icon ]]; then remove "$icon"; fi
done

created_folders=()
if [[ -f $PREFIX/$MANIFEST_NAME ]]; then mapfile -t created_folders < <(sort -r -- "$PREFIX/$MANIFEST_NAME"); fi
if [[ -e $PREFIX ]]; then
    rm -rf -- "$PREFIX"
    say "removed the venv $PREFIX"
fi
refresh_icon_theme

# Deepest first, and only when empty: anything else put there since stays, with its folder.
removed_folders=0
for folder in "${created_folders[@]}"; do
    if [[ -d $folder ]] && rmdir -- "$folder" 2>/dev/null; then
        removed_folders=$((removed_folders + 1))
    fi
done
if ((removed_folders)); then say "removed $removed_folders empty folders that install.sh had created"; fi

if $PURGE; then
    config_dir=$(normalized_path "$CONFIG_DIR")
    if [[ $config_dir == / || $config_dir == "$(normalized_path "$HOME")" ]]; then
        die "refusing to delete the config folder $config_dir"
    fi
    if [[ -e $config_dir ]]; then
        rm -rf -- "$config_dir"
        say "removed the config folder $config_dir"
    fi
elif [[ -e $CONFIG_DIR ]]; then
    say "kept your config folder $CONFIG_DIR (--purge removes it)"
fi
say "done"
