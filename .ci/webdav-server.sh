#!/usr/bin/env bash
# Installs and starts a WebDAV server (WsgiDAV on cheroot, from PyPI, in a venv) on
# 127.0.0.1 with a user and password (HTTP Basic) and a folder for the WebDAV transport
# tests, and announces it through FTPCHAT_TEST_WEBDAV_* environment variables:
#
#   FTPCHAT_TEST_WEBDAV_URL        webdav://127.0.0.1:<port>/chat  (no credentials in it)
#   FTPCHAT_TEST_WEBDAV_USER       the user name
#   FTPCHAT_TEST_WEBDAV_PASSWORD   its password
#   FTPCHAT_TEST_WEBDAVS_URL       webdavs://127.0.0.1:<port>/chat  (the same folder over HTTPS)
#   FTPCHAT_TEST_WEBDAV_CA         the PEM certificate the HTTPS server uses (and the CA to trust)
#
# WsgiDAV and cheroot are pinned (wsgidav_version, cheroot_version below). Stock WsgiDAV
# honours `If-None-Match: *` on PUT but not atomically (racing creators can both win) and
# writes PUT bodies in place, so the server runs .ci/webdav_atomic_provider.py (PUT bodies
# staged in a temporary file, then renamed over the target or, for a create-only PUT,
# hard-linked to it so that exactly one racing creator wins). Before announcing the server, the script checks that a create-only
# PUT over an existing file answers 412 and keeps the old content, that of 8 racing
# create-only PUTs exactly one wins (10 rounds), and that a wrong password answers 401;
# it fails otherwise.
#
# Usage:
#   eval "$(bash .ci/webdav-server.sh [WORK_DIR])"    # prints `export ...` lines on stdout
#   source .ci/webdav-server.sh [WORK_DIR]            # exports them into the current shell
#   bash .ci/webdav-server.sh --stop [WORK_DIR]       # stops the server started from WORK_DIR
# WORK_DIR defaults to .ci/work/webdav-server (git-ignored). FTPCHAT_WEBDAV_PORT and
# FTPCHAT_WEBDAVS_PORT set the ports (default 8089 for HTTP and 8090 for HTTPS; when one is
# taken by another program, a free port is chosen).

_ftpchat_webdav_server_main() {
    set -euo pipefail

    local stop_only=0
    if [[ "${1:-}" == "--stop" ]]; then
        stop_only=1
        shift
    fi
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local work="${1:-$repo/.ci/work/webdav-server}"
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"

    local wsgidav_version=4.4.0
    local cheroot_version=11.1.2
    local user=ftpchat-dav
    # Characters that need %-escapes in a URL, so the tests exercise the decoding.
    local password='dav p@ss:w/rd%#'

    log() { echo "webdav-server: $*" >&2; }

    # Stop a server we started earlier (its command line names our venv).
    ftpchat_stop_pidfile webdav-server "$work/wsgidav.pid" "$work/venv"
    ftpchat_stop_pidfile webdav-server "$work/wsgidav-tls.pid" "$work/venv"
    if [[ $stop_only == 1 ]]; then
        return 0
    fi

    if [[ ! -x "$work/venv/bin/wsgidav" ]] \
        || ! "$work/venv/bin/python" -c "
import sys
from importlib.metadata import version
sys.exit((version('wsgidav'), version('cheroot')) != ('$wsgidav_version', '$cheroot_version'))
" 2>/dev/null; then
        if ! python3 -m venv --help >/dev/null 2>&1; then
            log "installing python3-venv with apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq python3 python3-venv >&2
        fi
        log "installing wsgidav==$wsgidav_version cheroot==$cheroot_version into $work/venv"
        rm -rf "$work/venv"
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install -q "wsgidav==$wsgidav_version" "cheroot==$cheroot_version" >&2
    fi

    # A port for each server: the default unless another program holds it, then a free one.
    pick_port() {
        local wanted="$1" fixed="$2" port="$1"
        for _ in $(seq 30); do
            ftpchat_port_open "$port" || break
            sleep 0.1
        done
        if ftpchat_port_open "$port"; then
            if [[ -n "$fixed" ]]; then
                log "port $port is taken by a process this script did not start; stop it first"
                return 1
            fi
            port="$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
            log "port $wanted is taken; using $port"
        fi
        echo "$port"
    }
    local port tls_port
    port="$(pick_port "${FTPCHAT_WEBDAV_PORT:-8089}" "${FTPCHAT_WEBDAV_PORT:-}")"
    tls_port="$(pick_port "${FTPCHAT_WEBDAVS_PORT:-8090}" "${FTPCHAT_WEBDAVS_PORT:-}")"
    if [[ "$tls_port" == "$port" ]]; then
        log "the HTTP and HTTPS ports are both $port; set FTPCHAT_WEBDAV_PORT and FTPCHAT_WEBDAVS_PORT"
        return 1
    fi

    # The HTTPS server's certificate (CA:FALSE with a SAN, which rustls accepts), also the
    # CA the tests trust.
    local tls="$work/tls"
    mkdir -p "$tls"
    if [[ ! -s "$tls/cert.pem" || ! -s "$tls/key.pem" ]]; then
        command -v openssl >/dev/null 2>&1 || {
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq openssl >&2
        }
        log "making a self-signed certificate for localhost and 127.0.0.1"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
            -keyout "$tls/key.pem" -out "$tls/cert.pem" -subj "/CN=localhost" \
            -addext "basicConstraints=critical,CA:FALSE" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
            -addext "extendedKeyUsage=serverAuth" 2>/dev/null
        chmod 600 "$tls/key.pem"
    fi

    # A fresh folder each start, shared by both servers; the tests work under root/chat.
    # The provider stages PUTs and makes create-only PUTs atomic (a hard link, so also
    # between the two server processes; see .ci/webdav_atomic_provider.py).
    rm -rf "$work/root" "$work/tmp"
    mkdir -p "$work/root/chat"
    cp "$repo/.ci/webdav_atomic_provider.py" "$work/ftpchat_wsgidav.py"

    # start_server NAME PORT [EXTRA_YAML]: writes NAME.yaml, starts wsgidav with it
    # (pid in NAME.pid, log in NAME.log) and waits for the port.
    start_server() {
        local name="$1" port="$2" extra="${3:-}"
        cat >"$work/$name.yaml" <<EOF
host: 127.0.0.1
port: $port
server: cheroot
provider_mapping:
  "/":
    class: ftpchat_wsgidav.AtomicFilesystemProvider
    args: ["$work/root"]
http_authenticator:
  domain_controller: null
  accept_basic: true
  accept_digest: false
  default_to_digest: false
  trusted_auth_header: null
simple_dc:
  user_mapping:
    "*":
      "$user":
        password: "$password"
dir_browser:
  enable: false
property_manager: null
lock_storage: true
verbose: 1
logging:
  enable_loggers: []
$extra
EOF
        log "starting $name: wsgidav $wsgidav_version (cheroot $cheroot_version) on 127.0.0.1:$port"
        PYTHONPATH="$work" setsid nohup "$work/venv/bin/wsgidav" --config "$work/$name.yaml" \
            >"$work/$name.log" 2>&1 </dev/null &
        echo $! >"$work/$name.pid"
        for _ in $(seq 150); do
            ftpchat_port_open "$port" && return 0
            sleep 0.1
        done
        log "$name did not start; its log:"
        tail -n 30 "$work/$name.log" >&2 || true
        return 1
    }
    start_server wsgidav "$port"
    start_server wsgidav-tls "$tls_port" "ssl_certificate: $tls/cert.pem
ssl_private_key: $tls/key.pem"

    # Create-only PUT is refused over an existing file (412, content kept), and a wrong
    # password is refused (401).
    "$work/venv/bin/python" - "$port" "$user" "$password" "$tls_port" "$tls/cert.pem" <<'EOF' >&2
import base64
import ssl
import sys
import urllib.error
import urllib.request

port, user, password, tls_port, ca = sys.argv[1:6]
url = f"http://127.0.0.1:{port}/chat/.ftpchat-webdav-server-check"
tls_url = f"https://127.0.0.1:{tls_port}/chat/.ftpchat-webdav-server-check"

def call(method, data=None, headers=None, secret=password, url=url):
    auth = base64.b64encode(f"{user}:{secret}".encode()).decode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"Basic {auth}", **(headers or {})})
    context = ssl.create_default_context(cafile=ca) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

call("DELETE")
status, _ = call("PUT", b"first", {"If-None-Match": "*"})
assert status in (200, 201, 204), f"create-only PUT of a new file answered {status}"
status, _ = call("PUT", b"second", {"If-None-Match": "*"})
if status != 412:
    sys.exit(f"webdav-server: this wsgidav does not honour If-None-Match: * on PUT (answered {status})")
status, body = call("GET")
assert (status, body) == (200, b"first"), (status, body)
call("DELETE")

# Racing create-only PUTs: exactly one winner, the others 412.
import threading
for round in range(10):
    barrier = threading.Barrier(8)
    statuses = [None] * 8
    def claim(i):
        barrier.wait()
        statuses[i] = call("PUT", f"client {i}".encode(), {"If-None-Match": "*"})[0]
    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, s in enumerate(statuses) if s in (200, 201, 204)]
    if len(winners) != 1 or any(s not in (200, 201, 204, 412) for s in statuses):
        sys.exit(f"webdav-server: racing create-only PUTs are not atomic (round {round}: {statuses})")
    status, body = call("GET")
    assert body == f"client {winners[0]}".encode(), (status, body)
    status, _ = call("DELETE")
    assert status in (200, 204), f"DELETE answered {status}"
status, _ = call("GET", secret="wrong password")
assert status == 401, f"a wrong password answered {status}"
# The HTTPS server sees the same folder.
status, _ = call("PUT", b"tls", url=tls_url)
assert status in (200, 201, 204), f"PUT over HTTPS answered {status}"
assert call("GET") == (200, b"tls")
status, _ = call("PUT", b"again", {"If-None-Match": "*"}, url=tls_url)
assert status == 412, f"create-only PUT over HTTPS answered {status}"
call("DELETE")
print("webdav-server: If-None-Match: * honoured (atomic under a race), wrong password refused")
EOF

    cat >"$work/env.sh" <<EOF
export FTPCHAT_TEST_WEBDAV_URL='webdav://127.0.0.1:$port/chat'
export FTPCHAT_TEST_WEBDAVS_URL='webdavs://127.0.0.1:$tls_port/chat'
export FTPCHAT_TEST_WEBDAV_CA='$tls/cert.pem'
export FTPCHAT_TEST_WEBDAV_USER='$user'
export FTPCHAT_TEST_WEBDAV_PASSWORD='$password'
EOF
    log "wsgidav ready; variables in $work/env.sh"
}

# shellcheck source=.ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ftpchat_server_entry _ftpchat_webdav_server_main webdav-server "${BASH_SOURCE[0]}" "$0" "$@"
