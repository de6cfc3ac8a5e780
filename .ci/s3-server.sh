#!/usr/bin/env bash
# Installs and starts an S3 server (moto in server mode, from PyPI, in a venv) on 127.0.0.1
# with a bucket for the S3 transport tests, and announces it through FTPCHAT_TEST_S3_*
# environment variables:
#
#   FTPCHAT_TEST_S3_URL          s3://ftpchat-test/chat  (bucket and prefix)
#   FTPCHAT_TEST_S3_ENDPOINT     http://127.0.0.1:<port>
#   FTPCHAT_TEST_S3_ACCESS_KEY   the access key id (moto accepts any)
#   FTPCHAT_TEST_S3_SECRET_KEY   its secret
#   FTPCHAT_TEST_S3_REGION       us-east-1
#   FTPCHAT_TEST_S3_REQUEST_LOG  moto's log, one line per HTTP request (tests count them)
#
# moto is pinned (MOTO_VERSION); the script checks that it honours `If-None-Match: *` on
# PutObject (the transport's create-only write) and refuses to announce a server that does
# not.
#
# Usage:
#   eval "$(bash .ci/s3-server.sh [WORK_DIR])"    # prints `export ...` lines on stdout
#   source .ci/s3-server.sh [WORK_DIR]            # exports them into the current shell
#   bash .ci/s3-server.sh --stop [WORK_DIR]       # stops the server started from WORK_DIR
# WORK_DIR defaults to .ci/work/s3-server (git-ignored). FTPCHAT_S3_PORT sets the port
# (default 9000; when 9000 is taken by another program, a free port is chosen).

_ftpchat_s3_server_main() {
    set -euo pipefail

    local stop_only=0
    if [[ "${1:-}" == "--stop" ]]; then
        stop_only=1
        shift
    fi
    local repo
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    local work="${1:-$repo/.ci/work/s3-server}"
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"

    local moto_version=5.2.6
    local bucket=ftpchat-test
    local access_key=ftpchat-test-key
    local secret_key='ftpchat-test-secret/+='

    log() { echo "s3-server: $*" >&2; }

    # Stop a server we started earlier (its command line names our venv).
    ftpchat_stop_pidfile s3-server "$work/moto.pid" "$work/venv"
    if [[ $stop_only == 1 ]]; then
        return 0
    fi

    if [[ ! -x "$work/venv/bin/moto_server" ]] \
        || ! "$work/venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
        if ! python3 -m venv --help >/dev/null 2>&1; then
            log "installing python3-venv with apt-get"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -qq >&2
            apt-get install -y -qq python3 python3-venv >&2
        fi
        log "installing moto[server]==$moto_version into $work/venv"
        rm -rf "$work/venv"
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install -q "moto[server]==$moto_version" >&2
    fi

    local port="${FTPCHAT_S3_PORT:-9000}"
    for _ in $(seq 30); do
        ftpchat_port_open "$port" || break
        sleep 0.1
    done
    if ftpchat_port_open "$port"; then
        if [[ -n "${FTPCHAT_S3_PORT:-}" ]]; then
            log "port $port is taken by a process this script did not start; stop it first"
            return 1
        fi
        port="$("$work/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
        log "port 9000 is taken; using $port"
    fi

    log "starting moto $moto_version on 127.0.0.1:$port"
    setsid nohup "$work/venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
        >"$work/moto.log" 2>&1 </dev/null &
    echo $! >"$work/moto.pid"
    for _ in $(seq 150); do
        ftpchat_port_open "$port" && break
        sleep 0.1
    done
    if ! ftpchat_port_open "$port"; then
        log "moto did not start; its log:"
        tail -n 30 "$work/moto.log" >&2 || true
        return 1
    fi

    # The bucket, and a check that a conditional put of an existing key is refused (412).
    AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
        "$work/venv/bin/python" - "$port" "$bucket" <<'EOF' >&2
import sys
import boto3
from botocore.exceptions import ClientError

port, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
try:
    s3.create_bucket(Bucket=bucket)
except ClientError as e:
    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
key = ".ftpchat-s3-server-check"
s3.delete_object(Bucket=bucket, Key=key)
s3.put_object(Bucket=bucket, Key=key, Body=b"first", IfNoneMatch="*")
try:
    s3.put_object(Bucket=bucket, Key=key, Body=b"second", IfNoneMatch="*")
except ClientError as e:
    if e.response["ResponseMetadata"]["HTTPStatusCode"] != 412:
        raise
else:
    sys.exit("s3-server: this moto does not honour If-None-Match: * on PutObject")
assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"
s3.delete_object(Bucket=bucket, Key=key)
print(f"s3-server: bucket {bucket} ready; If-None-Match: * honoured")
EOF

    cat >"$work/env.sh" <<EOF
export FTPCHAT_TEST_S3_URL='s3://$bucket/chat'
export FTPCHAT_TEST_S3_ENDPOINT='http://127.0.0.1:$port'
export FTPCHAT_TEST_S3_ACCESS_KEY='$access_key'
export FTPCHAT_TEST_S3_SECRET_KEY='$secret_key'
export FTPCHAT_TEST_S3_REGION='us-east-1'
export FTPCHAT_TEST_S3_REQUEST_LOG='$work/moto.log'
EOF
    log "moto ready; variables in $work/env.sh"
}

# shellcheck source=.ci/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ftpchat_server_entry _ftpchat_s3_server_main s3-server "${BASH_SOURCE[0]}" "$0" "$@"
