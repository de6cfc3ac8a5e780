#!/usr/bin/env bash
# Installs and starts OpenSSH's sshd on 127.0.0.1 with an SFTP-only user for the SFTP
# transport tests, and announces it through FTPCHAT_TEST_SFTP_* environment variables:
#
#   FTPCHAT_TEST_SFTP_URL          sftp://ftpchat-sftp:<pw>@127.0.0.1:2222/chat (password login)
#   FTPCHAT_TEST_SFTP_KEY          the user's private key (ed25519, no passphrase)
#   FTPCHAT_TEST_SFTP_KNOWN_HOSTS  a known_hosts file listing the server's host key
#   FTPCHAT_TEST_SFTP_FINGERPRINT  the host key's SHA256:... fingerprint
#   FTPCHAT_TEST_SFTP_PIDFILE      sshd's pid file (the reconnect test kills its sessions)
#
# The user `ftpchat-sftp` (made with useradd if missing; its password is set with chpasswd)
# gets `ForceCommand internal-sftp`: no shell, no forwarding. Its home is /var/tmp/ftpchat-sftp-<hash of WORK_DIR>/home
# `chat/` in it is the tests' root directory.
#
# Usage (as root, on Debian):
#   eval "$(bash .ci/sftp-server.sh [WORK_DIR])"    # prints `export ...` lines on stdout
#   source .ci/sftp-server.sh [WORK_DIR]            # exports them into the current shell
#   bash .ci/sftp-server.sh --stop [WORK_DIR]       # stops the sshd started from WORK_DIR
# WORK_DIR defaults to .ci/work/sftp-server (git-ignored). FTPCHAT_SFTP_PORT sets the port.

_ftpchat_sftp_server_main() {
    set -euo pipefail

    local stop_only=0
    if [[ "${1:-}" == "--stop" ]]; then
        stop_only=1
        shift
    fi
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local work="${1:-$repo/.ci/work/sftp-server}"
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"

    local port="${FTPCHAT_SFTP_PORT:-2222}"
    local user=ftpchat-sftp
    # ':' and '@' exercise percent-decoding of the URL.
    local password='s3cret:p@ss'
    local password_url='s3cret%3Ap%40ss'

    log() { echo "sftp-server: $*" >&2; }

    # Stop an sshd we started earlier (its command line names our config).
    ftpchat_stop_pidfile sftp-server "$work/sshd.pid" "$work/sshd_config"
    if [[ $stop_only == 1 ]]; then
        return 0
    fi
    for _ in $(seq 50); do
        ftpchat_port_open "$port" || break
        sleep 0.1
    done
    if ftpchat_port_open "$port"; then
        log "port $port is taken by a process this script did not start; stop it first"
        return 1
    fi

    if [[ ! -x /usr/sbin/sshd ]] || ! command -v ssh-keygen >/dev/null 2>&1; then
        log "installing openssh-server with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq openssh-server >&2
    fi
    mkdir -p /run/sshd
    chmod 755 /run/sshd

    # What sshd reads or serves as the user (its home, authorized_keys) must be reachable
    # by that user: not under $work, whose parents may be private (a clone in a `mktemp -d`
    # folder is 0700). So they live in a folder of their own under /var/tmp, one per $work.
    local visible
    visible="/var/tmp/ftpchat-sftp-$(printf '%s' "$work" | sha256sum | cut -c1-12)"
    mkdir -p "$visible"
    chmod 755 "$visible"
    if ! id "$user" >/dev/null 2>&1; then
        log "creating the SFTP-only user $user"
        useradd --home-dir "$visible/home" --no-create-home --shell /usr/sbin/nologin "$user"
    fi
    usermod --home "$visible/home" "$user" >/dev/null 2>&1 || true
    echo "$user:$password" | chpasswd
    mkdir -p "$visible/home/chat"
    chown -R "$user:" "$visible/home"
    chmod 755 "$visible/home"

    [[ -s "$work/host_key" ]] || ssh-keygen -q -t ed25519 -N '' -C ftpchat-test-host -f "$work/host_key"
    [[ -s "$work/user_key" ]] || ssh-keygen -q -t ed25519 -N '' -C ftpchat-test-user -f "$work/user_key"
    cp "$work/user_key.pub" "$visible/authorized_keys"
    chmod 644 "$visible/authorized_keys"
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
    local fingerprint
    fingerprint="$(ssh-keygen -l -E sha256 -f "$work/host_key.pub" | awk '{print $2}')"

    cat >"$work/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin no
PasswordAuthentication yes
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $visible/authorized_keys
AllowUsers $user
MaxStartups 100:30:200
MaxSessions 100
LoginGraceTime 30
Subsystem sftp internal-sftp
Match User $user
    ForceCommand internal-sftp
    AllowTcpForwarding no
    X11Forwarding no
    PermitTTY no
EOF
    /usr/sbin/sshd -t -f "$work/sshd_config"
    log "starting sshd on 127.0.0.1:$port"
    setsid nohup /usr/sbin/sshd -D -e -f "$work/sshd_config" >"$work/sshd.log" 2>&1 </dev/null &
    for _ in $(seq 100); do
        ftpchat_port_open "$port" && break
        sleep 0.1
    done
    if ! ftpchat_port_open "$port"; then
        log "sshd did not start; its log:"
        tail -n 30 "$work/sshd.log" >&2 || true
        return 1
    fi

    cat >"$work/env.sh" <<EOF
export FTPCHAT_TEST_SFTP_URL='sftp://$user:$password_url@127.0.0.1:$port/chat'
export FTPCHAT_TEST_SFTP_KEY='$work/user_key'
export FTPCHAT_TEST_SFTP_KNOWN_HOSTS='$work/known_hosts'
export FTPCHAT_TEST_SFTP_FINGERPRINT='$fingerprint'
export FTPCHAT_TEST_SFTP_PIDFILE='$work/sshd.pid'
EOF
    log "sshd ready; variables in $work/env.sh"
}

# shellcheck source=.ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ftpchat_server_entry _ftpchat_sftp_server_main sftp-server "${BASH_SOURCE[0]}" "$0" "$@"
