#!/usr/bin/env bash
# Shared by the scripts that start test servers (ftp-servers.sh, sftp-server.sh,
# s3-server.sh). Sourced by them; runs nothing itself.

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
