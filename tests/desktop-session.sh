#!/usr/bin/env bash
# Runs a command inside one private, throw-away desktop session, as shared/DESKTOP-TESTING.md describes:
# its own HOME and XDG_RUNTIME_DIR, its own D-Bus session bus, an X server (Xvfb), a system tray (trayer),
# a notification server (dunst) and an unlocked Secret Service (gnome-keyring).
#
# Usage: bash tests/desktop-session.sh CMD [ARGS...]
#   e.g. bash tests/desktop-session.sh python3 -m pytest tests/desktop -q
#
# CMD runs in the caller's directory with DISPLAY, DBUS_SESSION_BUS_ADDRESS, NO_AT_BRIDGE=1 and:
#   CCPROXY_DESKTOP_SESSION=1          tests check it to refuse running outside a session
#   CCPROXY_REAL_HOME                  the caller's HOME (HOME itself is the temporary one)
#   CCPROXY_DESKTOP_SESSION_LOGS       folder with the daemons' logs (deleted with the session)
#   CCPROXY_DESKTOP_KEYRING_PASSWORD   the login keyring's password, to unlock it again after locking it
# Exits with CMD's exit code; 125 when a component of the session did not come up (CMD is then not run);
# 128+N when the script itself is stopped by signal N. However it ends (CMD exits, Ctrl-C, TERM or HUP), it
# stops every process it started, by PID, and removes the temporary folders. CMD's own stray children are
# CMD's business. Needs the packages of installers/deps-debian.sh.
set -euo pipefail

readonly STARTUP_DEADLINE_S=15
readonly STOP_DEADLINE_S=5
readonly KEYRING_PASSWORD=ccproxy-desktop-test

log() { echo "desktop-session: $*" >&2; }

# True while process PID exists and has not exited (an exited process stays a zombie until reaped).
is_running() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}

# Waits for process PID (not necessarily a child) to exit; kills it after the stop deadline.
await_exit() {
    local name=$1 pid=$2 deadline=$((SECONDS + STOP_DEADLINE_S))
    while is_running "$pid" && ((SECONDS < deadline)); do
        sleep 0.05
    done
    if is_running "$pid"; then
        log "$name (pid $pid) did not stop within ${STOP_DEADLINE_S} s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# Waits for child PID and returns its exit status. A trapped signal makes `wait` return early while the child
# still runs, hence the loop; bash remembers the status of a child it has reaped, so the last `wait` has it.
wait_for_child() {
    local pid=$1 status=0
    while is_running "$pid"; do
        wait "$pid" || true
    done
    wait "$pid" || status=$?
    return "$status"
}

# ---- outside the bus: private folders, then the bus -------------------------------------------------------
# Processes: this script -> dbus-run-session -> dbus-daemon, and -> this script --inside-bus -> daemons, CMD.

run_outside() {
    local script root session_pid status=0
    script=$(realpath "${BASH_SOURCE[0]}")
    root=$(mktemp -d "${TMPDIR:-/tmp}/ccproxy-desktop-session.XXXXXX")
    # shellcheck disable=SC2064  # $root is meant to be expanded now.
    trap "rm -rf -- '$root'" EXIT
    mkdir -m 0700 "$root/home" "$root/runtime" "$root/logs"

    # dbus-daemon, and every service it starts, logs to a file rather than onto CMD's stderr (as root it
    # always warns that it cannot raise its fd limit). Its PID is kept so that this script can wait for it:
    # dbus-run-session signals it when CMD ends but does not wait for it.
    printf '#!/bin/sh\necho $$ >"%s"\nexec dbus-daemon "$@" 2>>"%s"\n' \
        "$root/dbus-daemon.pid" "$root/logs/dbus-daemon.log" >"$root/dbus-daemon"
    chmod +x "$root/dbus-daemon"

    # Set before the bus starts, so that neither it nor a service it starts sees the real HOME.
    export CCPROXY_REAL_HOME=$HOME
    export HOME=$root/home XDG_RUNTIME_DIR=$root/runtime CCPROXY_DESKTOP_SESSION_LOGS=$root/logs
    export NO_AT_BRIDGE=1 GDK_BACKEND=x11
    unset DISPLAY WAYLAND_DISPLAY XAUTHORITY DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL SSH_AUTH_SOCK \
        XDG_CONFIG_HOME XDG_DATA_HOME XDG_CACHE_HOME XDG_STATE_HOME CCPROXY_DESKTOP_SESSION

    # In the background so that this shell can pass on a TERM sent to it alone. Bash makes background commands
    # ignore INT: everything but CMD keeps ignoring it, so a Ctrl-C reaches CMD alone and the session ends when
    # CMD does.
    dbus-run-session --dbus-daemon="$root/dbus-daemon" -- "$BASH" "$script" --inside-bus "$root" "$@" <&0 &
    session_pid=$!
    trap 'pass_on_term "$root"' TERM HUP
    trap ':' INT
    wait_for_child "$session_pid" || status=$?
    # dbus-run-session may have died of a signal before the inner shell finished stopping the daemons.
    if [[ -s $root/inside.pid ]]; then
        await_exit "the session" "$(cat "$root/inside.pid")"
    fi
    if [[ -s $root/dbus-daemon.pid ]]; then
        await_exit dbus-daemon "$(cat "$root/dbus-daemon.pid")"
    fi
    exit "$status"
}

# shellcheck disable=SC2317  # run from a trap
pass_on_term() {
    local root=$1
    # The flag covers a TERM that arrives before the inner shell has written its PID.
    touch "$root/terminate"
    if [[ -s $root/inside.pid ]]; then
        kill -TERM "$(cat "$root/inside.pid")" 2>/dev/null || true
    fi
}

# ---- inside the bus: the daemons, then CMD ----------------------------------------------------------------

declare -a started_pids=() started_names=()

remember() { started_pids+=("$1") started_names+=("$2"); }

# Stops what this shell started, newest first, by PID: TERM to all, then KILL to whatever outlives the deadline.
# shellcheck disable=SC2317  # run from a trap
stop_started() {
    local i
    trap '' TERM HUP
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${started_pids[i]}" 2>/dev/null || true
    done
    for ((i = ${#started_pids[@]} - 1; i >= 0; i--)); do
        await_exit "${started_names[i]}" "${started_pids[i]}"
        wait "${started_pids[i]}" 2>/dev/null || true
    done
}

# Polls CHECK... until it succeeds; fails after the start-up deadline, or as soon as process PID exits.
await_ready() {
    local name=$1 pid=$2
    shift 2
    local deadline=$((SECONDS + STARTUP_DEADLINE_S))
    until "$@" >/dev/null 2>&1; do
        if ! is_running "$pid"; then
            startup_failed "$name" "exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            startup_failed "$name" "did not come up within ${STARTUP_DEADLINE_S} s"
        fi
        sleep 0.05
    done
}

startup_failed() {
    local name=$1 why=$2
    log "$name $why; not running the command"
    if [[ -s $CCPROXY_DESKTOP_SESSION_LOGS/$name.log ]]; then
        log "last lines of $name's log:"
        tail -n 20 "$CCPROXY_DESKTOP_SESSION_LOGS/$name.log" >&2
    fi
    exit 125
}

# shellcheck disable=SC2317  # run by await_ready
bus_name_has_owner() {
    [[ $(dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner "string:$1") == *"boolean true"* ]]
}

start_xvfb() {
    local fifo=$XDG_RUNTIME_DIR/xvfb-displayfd display_number
    mkfifo "$fifo"
    # -displayfd picks a free display and writes its number once the server accepts connections.
    Xvfb -displayfd 3 -screen 0 1024x768x24 -nolisten tcp 3>"$fifo" >"$CCPROXY_DESKTOP_SESSION_LOGS/Xvfb.log" 2>&1 &
    remember $! Xvfb
    if ! read -r -t "$STARTUP_DEADLINE_S" display_number <"$fifo" || [[ ! $display_number =~ ^[0-9]+$ ]]; then
        startup_failed Xvfb "did not report a display within ${STARTUP_DEADLINE_S} s"
    fi
    rm -f "$fifo"
    export DISPLAY=:$display_number
    dbus-update-activation-environment DISPLAY ||
        startup_failed dbus-update-activation-environment "failed"
}

start_trayer() {
    trayer --edge top --align right --widthtype request --height 32 --SetDockType true \
        >"$CCPROXY_DESKTOP_SESSION_LOGS/trayer.log" 2>&1 &
    remember $! trayer
    await_ready trayer $! xwininfo -name panel
}

start_dunst() {
    dunst >"$CCPROXY_DESKTOP_SESSION_LOGS/dunst.log" 2>&1 &
    remember $! dunst
    # Not notify-send or dunstctl: if dunst is not up yet, they would have D-Bus start a second one.
    await_ready dunst $! bus_name_has_owner org.freedesktop.Notifications
}

start_keyring() {
    local env_file=$CCPROXY_DESKTOP_SESSION_LOGS/gnome-keyring.env
    # In the foreground, so that its PID is ours to stop. It creates the login keyring with this password.
    printf '%s' "$KEYRING_PASSWORD" |
        gnome-keyring-daemon --foreground --unlock --components=secrets \
            >"$env_file" 2>"$CCPROXY_DESKTOP_SESSION_LOGS/gnome-keyring.log" &
    remember $! gnome-keyring
    await_ready gnome-keyring $! bus_name_has_owner org.freedesktop.secrets
    # It prints variable assignments for the session (none today with only the secrets component).
    set -a
    eval "$(cat "$env_file")"
    set +a
    export CCPROXY_DESKTOP_KEYRING_PASSWORD=$KEYRING_PASSWORD
}

elapsed_since() {
    local start=${1/./} now=${EPOCHREALTIME/./}
    printf '%d.%02d' $(((now - start) / 1000000)) $(((now - start) / 10000 % 100))
}

run_inside() {
    local root=$1 started_at=$EPOCHREALTIME cmd_pid status=0
    shift
    trap stop_started EXIT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    echo "$$" >"$root/inside.pid"
    if [[ -e $root/terminate ]]; then
        exit 143
    fi

    start_xvfb
    start_trayer
    start_dunst
    start_keyring
    log "up in $(elapsed_since "$started_at") s (DISPLAY=$DISPLAY)"

    export CCPROXY_DESKTOP_SESSION=1
    # In the background so that this shell can act on TERM while CMD runs; `env` gives CMD back the INT and QUIT
    # that bash ignores in background commands, and stdin is passed on explicitly.
    env --default-signal=INT,QUIT "$@" <&0 &
    cmd_pid=$!
    remember "$cmd_pid" "$1"
    wait_for_child "$cmd_pid" || status=$?
    exit "$status"
}

if (($# == 0)); then
    echo "usage: $0 CMD [ARGS...]" >&2
    exit 2
fi
if [[ $1 == --inside-bus ]]; then
    shift
    run_inside "$@"
else
    run_outside "$@"
fi
