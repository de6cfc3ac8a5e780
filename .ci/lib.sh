#!/usr/bin/env bash
# Shared by the scripts that start test servers (ftp-servers.sh, sftp-server.sh,
# s3-server.sh, webdav-server.sh). Sourced by them; runs nothing itself.

# Runs a server script's MAIN function the way the script was invoked:
# - sourced (`source .ci/x.sh [WORK_DIR]`): MAIN runs in a subshell, so its `set -e` and
#   helper functions stay out of the caller's shell, then WORK_DIR/env.sh is sourced, so
#   the caller gets the FTPCHAT_TEST_* variables;
# - run (`bash .ci/x.sh [WORK_DIR]`): MAIN runs, then the export lines are printed.
# `--stop [WORK_DIR]` only runs MAIN. NAME is the default work folder under .ci/work/.
# Usage: ftpchat_server_entry MAIN NAME "${BASH_SOURCE[0]}" "$0" "$@"
ftpchat_server_entry() {
    local main="$1" name="$2" script="$3" invoked="$4"
    shift 4
    local repo work
    repo="$(cd "$(dirname "$script")/.." && pwd)"
    work="${1:-$repo/.ci/work/$name}"
    if [[ "$script" != "$invoked" ]]; then
        if ! ("$main" "$@"); then
            echo "$name: failed" >&2
            return 1
        fi
        if [[ "${1:-}" != "--stop" ]]; then
            # shellcheck disable=SC1090,SC1091
            source "$work/env.sh"
        fi
    else
        "$main" "$@"
        if [[ "${1:-}" != "--stop" ]]; then
            cat "$work/env.sh"
        fi
    fi
}

# `true` when something listens on 127.0.0.1:PORT.
ftpchat_port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Stops a server a script started earlier: the process in PIDFILE, only if its command
# line contains MARKER (a file of that script's work folder, so nothing else is ever
# killed); SIGTERM, then SIGKILL after 5 s. NAME prefixes the log line.
# Usage: ftpchat_stop_pidfile NAME PIDFILE MARKER
ftpchat_stop_pidfile() {
    local name="$1" pidfile="$2" marker="$3" pid
    [[ -f "$pidfile" ]] || return 0
    pid="$(cat "$pidfile")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$marker"; then
        echo "$name: stopping old $(basename "$pidfile" .pid) (pid $pid)" >&2
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}
