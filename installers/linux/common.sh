# Paths and helpers shared by install.sh and uninstall.sh (sourced by both, not run on its own).
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this file

# The XDG base directory spec says to ignore a relative XDG_*_HOME.
if [[ ${XDG_DATA_HOME:-} == /* ]]; then DATA_HOME=$XDG_DATA_HOME; else DATA_HOME=$HOME/.local/share; fi
if [[ ${XDG_CONFIG_HOME:-} == /* ]]; then CONFIG_HOME=$XDG_CONFIG_HOME; else CONFIG_HOME=$HOME/.config; fi

APP_ID=ccproxy-desktop
DEFAULT_PREFIX=$DATA_HOME/$APP_ID/venv
BIN_DIR=$HOME/.local/bin
COMMANDS=(ccproxy ccproxy-desktop)
MENU_ENTRY=$DATA_HOME/applications/$APP_ID.desktop
# Written by `python -m ccproxy_desktop.desktop.autostart enable` (ccproxy_desktop.desktop.autostart.autostart_file).
AUTOSTART_ENTRY=$CONFIG_HOME/autostart/$APP_ID.desktop
ICON_THEME_DIR=$DATA_HOME/icons/hicolor
ICON_SIZES=(16 32 48 64 128 256)
# Inside the venv: the folders the installer created outside it, one a line, for the uninstaller to remove.
MANIFEST_NAME=$APP_ID-created-folders.txt

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() {
    printf '%s: error: %s\n' "$PROG" "$*" >&2
    exit 1
}

# An absolute path with `.`, `..` and repeated slashes removed, symlinks kept (the venv's Python reports its
# own path the way it was started, so the entries it writes name the prefix exactly like this).
normalized_path() { realpath --canonicalize-missing --no-symlinks -- "$1"; }

icon_files() {
    local size
    for size in "${ICON_SIZES[@]}"; do
        echo "$ICON_THEME_DIR/${size}x$size/apps/$APP_ID.png"
    done
    echo "$ICON_THEME_DIR/scalable/apps/$APP_ID.svg"
}

# Whether the Desktop Entry $1 starts an executable inside the venv $2 (its TryExec line names it).
entry_starts_from() {
    local line
    [[ -f $1 ]] || return 1
    while IFS= read -r line; do
        [[ $line == "TryExec=$2/"* ]] && return 0
    done <"$1"
    return 1
}

# GTK reads a user icon theme's cache when there is one: update it, never create one the uninstaller would
# have to know about. Without a cache the new mtime is what tells running desktops to look again.
refresh_icon_theme() {
    [[ -d $ICON_THEME_DIR ]] || return 0
    if [[ -f $ICON_THEME_DIR/icon-theme.cache ]] && command -v gtk-update-icon-cache >/dev/null; then
        gtk-update-icon-cache --quiet --ignore-theme-index "$ICON_THEME_DIR" ||
            say "warning: gtk-update-icon-cache failed; the icon shows after the next login"
    else
        touch "$ICON_THEME_DIR"
    fi
}
