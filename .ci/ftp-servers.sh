#!/usr/bin/env bash
# Installs and starts the external FTP servers that the transport tests run against, all on
# 127.0.0.1, and announces them through FTPCHAT_TEST_* environment variables:
#
#   vsftpd            ftp://127.0.0.1:2121/pub                 anonymous, writable pub/
#   vsftpd (FTPS)     ftps://127.0.0.1:2124/pub                anonymous over explicit TLS
#   pyftpdlib         ftp://ftpchat:<pw>@127.0.0.1:2122        user account, ThreadedFTPServer
#   pyftpdlib (FTPS)  ftps://ftpchat:<pw>@127.0.0.1:2123       TLS_FTPHandler, TLS required
#   OpenSSH sshd      sftp://ftpchat-sftp:<pw>@127.0.0.1:2222/chat  SFTP-only user
#                     (.ci/sftp-server.sh, work dir WORK_DIR/sftp; FTPCHAT_TEST_SFTP_*)
#   moto (S3)         s3://ftpchat-test/chat at http://127.0.0.1:9000 (or a free port)
#                     (.ci/s3-server.sh, work dir WORK_DIR/s3; FTPCHAT_TEST_S3_*)
#   wsgidav (WebDAV)  webdav://127.0.0.1:8089/chat and webdavs://127.0.0.1:8090/chat (or
#                     free ports), HTTP Basic user (.ci/webdav-server.sh, work dir
#                     WORK_DIR/webdav; FTPCHAT_TEST_WEBDAV_*)
#
# The FTPS servers use a self-signed certificate (CA:FALSE, SAN localhost and 127.0.0.1),
# which is also the CA the tests trust (FTPCHAT_TEST_FTPS_CA).
#
# Usage (as root, on Debian):
#   eval "$(bash .ci/ftp-servers.sh [WORK_DIR])"    # prints `export ...` lines on stdout
#   source .ci/ftp-servers.sh [WORK_DIR]            # exports them into the current shell
#   bash .ci/ftp-servers.sh --stop [WORK_DIR]       # stops the servers started from WORK_DIR
# WORK_DIR defaults to .ci/work/ftp-servers (git-ignored); it holds roots, logs, pid files,
# the certificate, a Python venv and env.sh (the same export lines).
# Idempotent: a second run stops the servers started by the first and starts fresh ones.

_ftpchat_ftp_servers_main() {
    set -euo pipefail

    local stop_only=0
    if [[ "${1:-}" == "--stop" ]]; then
        stop_only=1
        shift
    fi
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local work="${1:-$repo/.ci/work/ftp-servers}"
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"

    local vsftpd_port=2121 pyftpdlib_port=2122 pyftpdlib_tls_port=2123 vsftpd_tls_port=2124
    local user=ftpchat
    # Exercises percent-decoding in the tests: ':' and '@' must be escaped in URLs.
    local password='s3cret:p@ss'
    local password_url='s3cret%3Ap%40ss'

    log() { echo "ftp-servers: $*" >&2; }

    wait_for_port() {
        local port="$1" name="$2" logfile="$3"
        for _ in $(seq 300); do
            if ftpchat_port_open "$port"; then
                log "$name is listening on 127.0.0.1:$port"
                return 0
            fi
            sleep 0.1
        done
        log "$name did not start on port $port; its log:"
        tail -n 30 "$logfile" >&2 || true
        return 1
    }

    ftpchat_stop_pidfile ftp-servers "$work/vsftpd.pid" "$work/vsftpd.conf"
    ftpchat_stop_pidfile ftp-servers "$work/vsftpd-tls.pid" "$work/vsftpd-tls.conf"
    ftpchat_stop_pidfile ftp-servers "$work/pyftpdlib.pid" "$work/pyftpdlib_server.py"
    bash "$repo/.ci/sftp-server.sh" --stop "$work/sftp" >&2
    bash "$repo/.ci/s3-server.sh" --stop "$work/s3" >&2
    bash "$repo/.ci/webdav-server.sh" --stop "$work/webdav" >&2
    if [[ $stop_only == 1 ]]; then
        return 0
    fi

    for port in $vsftpd_port $pyftpdlib_port $pyftpdlib_tls_port $vsftpd_tls_port; do
        for _ in $(seq 50); do
            ftpchat_port_open "$port" || break
            sleep 0.1
        done
        if ftpchat_port_open "$port"; then
            log "port $port is taken by a process this script did not start; stop it first"
            return 1
        fi
    done

    # --- packages -------------------------------------------------------------------------
    if ! command -v vsftpd >/dev/null 2>&1 && [[ ! -x /usr/sbin/vsftpd ]] \
        || ! command -v openssl >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
        log "installing vsftpd, openssl and python3 with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq vsftpd openssl python3 python3-venv >&2
    fi
    local vsftpd_bin
    vsftpd_bin="$(command -v vsftpd || echo /usr/sbin/vsftpd)"
    id ftp >/dev/null 2>&1 || useradd --system --home-dir /srv/ftp --shell /usr/sbin/nologin ftp
    mkdir -p /var/run/vsftpd/empty

    local venv="$work/venv"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pyftpdlib, OpenSSL' 2>/dev/null; then
        log "installing pyftpdlib and pyopenssl into $venv"
        if ! python3 -m venv "$venv" >&2 2>/dev/null; then
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq python3-venv >&2
            rm -rf "$venv"
            python3 -m venv "$venv" >&2
        fi
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check pyftpdlib pyopenssl >&2
    fi

    # --- certificate ----------------------------------------------------------------------
    local tls="$work/tls"
    mkdir -p "$tls"
    if [[ ! -s "$tls/cert.pem" || ! -s "$tls/key.pem" ]]; then
        log "making a self-signed certificate for localhost and 127.0.0.1"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
            -keyout "$tls/key.pem" -out "$tls/cert.pem" -subj "/CN=localhost" \
            -addext "basicConstraints=critical,CA:FALSE" \
            -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -addext "keyUsage=critical,digitalSignature,keyEncipherment" \
            -addext "extendedKeyUsage=serverAuth" 2>/dev/null
        chmod 600 "$tls/key.pem"
    fi

    # --- vsftpd ---------------------------------------------------------------------------
    # The anonymous root must not be writable by `ftp`; uploads go to pub/, owned by ftp.
    write_vsftpd_conf() {
        local conf="$1" port="$2" pasv_min="$3" pasv_max="$4" root="$5" ssl="$6"
        mkdir -p "$root/pub"
        chown root:root "$root"
        chmod 755 "$root"
        chown ftp:ftp "$root/pub"
        chmod 755 "$root/pub"
        cat >"$conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$port
background=NO
seccomp_sandbox=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$root
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
anon_world_readable_only=YES
ftp_username=ftp
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$pasv_min
pasv_max_port=$pasv_max
connect_from_port_20=NO
secure_chroot_dir=/var/run/vsftpd/empty
xferlog_enable=YES
vsftpd_log_file=$work/$(basename "$conf" .conf).log
dirmessage_enable=NO
use_localtime=NO
max_clients=200
max_per_ip=200
idle_session_timeout=600
EOF
        if [[ "$ssl" == yes ]]; then
            cat >>"$conf" <<EOF
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=NO
ssl_tlsv1=YES
ssl_sslv2=NO
ssl_sslv3=NO
rsa_cert_file=$tls/cert.pem
rsa_private_key_file=$tls/key.pem
EOF
        fi
        chown root:root "$conf"
        chmod 600 "$conf"
    }

    write_vsftpd_conf "$work/vsftpd.conf" $vsftpd_port 40000 40199 "$work/vsftpd-root" no
    write_vsftpd_conf "$work/vsftpd-tls.conf" $vsftpd_tls_port 40200 40399 "$work/vsftpd-tls-root" yes

    log "starting vsftpd on $vsftpd_port and (FTPS) $vsftpd_tls_port"
    setsid nohup "$vsftpd_bin" "$work/vsftpd.conf" >"$work/vsftpd.out" 2>&1 </dev/null &
    echo $! >"$work/vsftpd.pid"
    setsid nohup "$vsftpd_bin" "$work/vsftpd-tls.conf" >"$work/vsftpd-tls.out" 2>&1 </dev/null &
    echo $! >"$work/vsftpd-tls.pid"

    # --- pyftpdlib ------------------------------------------------------------------------
    mkdir -p "$work/pyftpdlib-root"
    cat >"$work/pyftpdlib_server.py" <<'EOF'
"""pyftpdlib for the ftpchat transport tests: a plain and an FTPS server in one process.

Both servers register with pyftpdlib's one global acceptor I/O loop (IOLoop.instance()),
which must run in one thread only: running serve_forever() of each server in its own
thread made two threads poll the same loop, and sessions then got the 220 banner twice or
crashed in asynchat. ThreadedFTPServer gives every session its own thread and loop.
FTPCHAT_PYFTPDLIB_SERVER may name another class of pyftpdlib.servers (e.g. FTPServer).

CWD must not change the process's working directory (see SessionFS).
"""
import errno
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
from pyftpdlib.handlers.ftp.dispatchers import PassiveDTP
from pyftpdlib import servers


class ExclusivePassiveDTP(PassiveDTP):
    """A passive data port bound without SO_REUSEADDR.

    With it, bind() succeeds on a port another socket of the process still holds, and the
    collision only shows in listen(), which pyftpdlib does not retry: the session dies
    with EADDRINUSE (seen in CI as a lost APPE). Without it, bind() fails and pyftpdlib
    tries the next port of the range.
    """

    def set_reuse_addr(self):
        pass


class SessionFS(AbstractedFS):
    """A session's current directory that is the session's alone.

    pyftpdlib's CWD checks the target with os.chdir() and goes back afterwards, but the
    working directory belongs to the process, which every session thread of
    ThreadedFTPServer shares: when one session removes a directory while another one is
    inside it for that check, the process is left in a deleted directory and every later
    CWD of every session fails (os.getcwd() raises ENOENT; seen in CI as connections
    closed before the response). Here CWD only checks the directory.
    """

    def chdir(self, path):
        if not os.path.isdir(path):
            code = errno.ENOTDIR if os.path.lexists(path) else errno.ENOENT
            raise OSError(code, os.strerror(code), path)
        if not os.access(path, os.X_OK):
            raise OSError(errno.EACCES, os.strerror(errno.EACCES), path)
        self.cwd = self.fs2ftp(path)

ServerClass = getattr(servers, os.environ.get("FTPCHAT_PYFTPDLIB_SERVER", "ThreadedFTPServer"))

root, user, password, port, tls_port, cert, key = sys.argv[1:8]
# A working directory no test removes (ftp_CWD still reads it).
os.chdir(root)

authorizer = DummyAuthorizer()
authorizer.add_user(user, password, root, perm="elradfmwMT")


class Plain(FTPHandler):
    pass


class Secure(TLS_FTPHandler):
    pass


# Wide passive ranges: session threads pick ports independently (a taken one is skipped,
# see ExclusivePassiveDTP).
for handler, pasv in ((Plain, range(40400, 40900)), (Secure, range(40900, 41400))):
    handler.authorizer = authorizer
    handler.abstracted_fs = SessionFS
    handler.passive_dtp = ExclusivePassiveDTP
    handler.passive_ports = list(pasv)
    handler.banner = "ftpchat test pyftpdlib"
Secure.certfile = cert
Secure.keyfile = key
Secure.tls_control_required = True
Secure.tls_data_required = True

running = [
    ServerClass(("127.0.0.1", int(port)), Plain),
    ServerClass(("127.0.0.1", int(tls_port)), Secure),
]
for server in running:
    server.max_cons = 256
    server.max_cons_per_ip = 0
# One acceptor loop serves both listening sockets.
running[0].serve_forever()
EOF
    log "starting pyftpdlib on $pyftpdlib_port and (FTPS) $pyftpdlib_tls_port"
    setsid nohup "$venv/bin/python" "$work/pyftpdlib_server.py" "$work/pyftpdlib-root" \
        "$user" "$password" $pyftpdlib_port $pyftpdlib_tls_port "$tls/cert.pem" "$tls/key.pem" \
        >"$work/pyftpdlib.log" 2>&1 </dev/null &
    echo $! >"$work/pyftpdlib.pid"

    wait_for_port $vsftpd_port vsftpd "$work/vsftpd.out"
    wait_for_port $vsftpd_tls_port "vsftpd (FTPS)" "$work/vsftpd-tls.out"
    wait_for_port $pyftpdlib_port pyftpdlib "$work/pyftpdlib.log"
    wait_for_port $pyftpdlib_tls_port "pyftpdlib (FTPS)" "$work/pyftpdlib.log"
    # Sessions making, entering and removing folders at once must not break the server for
    # the others (SessionFS in pyftpdlib_server.py; without it this fails every time).
    if ! "$venv/bin/python" - "$pyftpdlib_port" "$user" "$password" >&2 <<'EOF'; then
import ftplib, sys, threading
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
errors = []
def session(i):
    try:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login(user, password)
        for k in range(50):
            name = f".cwd-check-{i}-{k}"
            ftp.mkd(name); ftp.cwd(name); ftp.cwd("/"); ftp.rmd(name)
        ftp.quit()
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=session, args=(i,)) for i in range(6)]
for t in threads: t.start()
for t in threads: t.join()
sys.exit(f"pyftpdlib broke under concurrent CWD and RMD: {errors[0]}" if errors else 0)
EOF
        log "pyftpdlib failed its concurrency check; its log:"
        tail -n 30 "$work/pyftpdlib.log" >&2 || true
        return 1
    fi

    cat >"$work/env.sh" <<EOF
export FTPCHAT_TEST_VSFTPD_URL='ftp://127.0.0.1:$vsftpd_port/pub'
export FTPCHAT_TEST_VSFTPD_FTPS_URL='ftps://127.0.0.1:$vsftpd_tls_port/pub'
export FTPCHAT_TEST_PYFTPDLIB_URL='ftp://$user:$password_url@127.0.0.1:$pyftpdlib_port'
export FTPCHAT_TEST_FTPS_URL='ftps://$user:$password_url@127.0.0.1:$pyftpdlib_tls_port'
export FTPCHAT_TEST_FTPS_CA='$tls/cert.pem'
EOF
    # OpenSSH sshd with an SFTP-only user (prints its own export lines).
    bash "$repo/.ci/sftp-server.sh" "$work/sftp" >>"$work/env.sh"
    # moto, an S3 server, with a bucket (prints its own export lines).
    bash "$repo/.ci/s3-server.sh" "$work/s3" >>"$work/env.sh"
    # wsgidav, a WebDAV server, plain and over TLS (prints its own export lines).
    bash "$repo/.ci/webdav-server.sh" "$work/webdav" >>"$work/env.sh"
    log "servers ready; variables in $work/env.sh"
}

# shellcheck source=.ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ftpchat_server_entry _ftpchat_ftp_servers_main ftp-servers "${BASH_SOURCE[0]}" "$0" "$@"
