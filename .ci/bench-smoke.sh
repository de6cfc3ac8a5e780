#!/usr/bin/env bash
# Bench smoke pass (issue 8): compiles every bench and runs each once on small inputs, so
# the benches cannot rot. Figures come from full runs by hand (BENCHMARKS.md); this measures
# nothing. Budget: about 3 minutes on top of a built workspace.
#
# - criterion benches: `cargo test --bench '*'` runs each benchmark once (test mode);
# - harnesses (src/bin): `--quick` (small histories, few samples) against a private vsftpd
#   each starts on 127.0.0.1 (root and vsftpd needed, as .ci/ftp-servers.sh provides), or
#   against FTPCHAT_TEST_VSFTPD_URL when no private vsftpd can be started (`store`, the
#   local store, needs no server: 3,000 messages in a temporary folder);
# - Python baselines: the venv .ci/work/bench-venv is created on first use
#   (cryptography, pyftpdlib from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

start=$SECONDS
step() { printf '\n=== bench smoke: %s (%d s)\n' "$*" $((SECONDS - start)); }

# .ci/test passes the package selection and features of its other builds
# (FTPCHAT_CI_CARGO: the workspace with every store feature) so nothing is built again.
read -ra selection <<<"${FTPCHAT_CI_CARGO:--p ftpchat-benches}"

# `--bench '*'`: the bench targets only (`--benches` would also run every selected
# crate's library and binaries as benchmarks, i.e. their unit tests again).
step "criterion benches, each once (cargo test ${selection[*]} --bench '*')"
cargo test "${selection[@]}" --bench '*' --locked

step "harness binaries"
cargo build "${selection[@]}" --bins --locked

server=()
if [[ $(id -u) != 0 ]] || { ! command -v vsftpd >/dev/null 2>&1 && [[ ! -x /usr/sbin/vsftpd ]]; }; then
    if [[ -n "${FTPCHAT_TEST_VSFTPD_URL:-}" ]]; then
        server=(--server "url:$FTPCHAT_TEST_VSFTPD_URL")
    else
        echo "bench smoke: no vsftpd to start and no FTPCHAT_TEST_VSFTPD_URL (source .ci/ftp-servers.sh)" >&2
        exit 1
    fi
fi

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT
failed=0
bins=(codec-throughput poll-cost latency writers memory presence-poll store attachments scaling)
for bin in "${bins[@]}"; do
    step "$bin --quick"
    if timeout 300 "target/debug/$bin" --quick "${server[@]}" >"$log/$bin.md" 2>"$log/$bin.err"; then
        tail -n 4 "$log/$bin.md"
    else
        failed=$((failed + 1))
        echo "bench smoke: $bin failed; its output:" >&2
        cat "$log/$bin.md" "$log/$bin.err" >&2
    fi
done

runs=${#bins[@]}
# The attachments again over a 1 Gbit/s link between two private network namespaces
# (root and iproute2; the private vsftpd runs in one of them).
if [[ ${#server[@]} == 0 ]]; then
    if ! command -v ip >/dev/null 2>&1 || ! command -v tc >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null; }
    fi
    runs=$((runs + 1))
    step "attachments --quick --link 1gbit"
    if timeout 300 target/debug/attachments --quick --link 1gbit >"$log/link.md" 2>"$log/link.err"; then
        tail -n 4 "$log/link.md"
    else
        failed=$((failed + 1))
        echo "bench smoke: attachments --link failed; its output:" >&2
        cat "$log/link.md" "$log/link.err" >&2
    fi
fi

passed=$((runs - failed))
echo
echo "bench smoke: $passed passed, $failed failed in $((SECONDS - start)) s"
[[ $failed == 0 ]]
