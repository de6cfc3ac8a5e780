#!/usr/bin/env bash
# Runs every benchmark in full (release builds) and collects the Markdown each prints in
# target/bench-results/ (one file per bench, plus criterion's output). About 30 minutes on
# 2 cores. Needs root and vsftpd for the networked benches (bash .ci/ftp-servers.sh installs
# it) and python3-venv for the baselines (the venv is created on first use).
#
#   bash benches/run-all.sh            # everything
#   bash benches/run-all.sh poll-cost  # some harnesses only (codec-throughput, poll-cost,
#                                      # latency, writers, memory, presence-poll,
#                                      # store, attachments, criterion)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=target/bench-results
mkdir -p "$out"
which=("$@")
[[ ${#which[@]} == 0 ]] && which=(codec-throughput poll-cost writers memory latency store attachments criterion)

cargo build --release -p ftpchat-benches --bins --locked
for b in "${which[@]}"; do
    echo "=== $b ($(date -u +%H:%M:%S), $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    case "$b" in
        criterion)
            if ! cargo bench -p ftpchat-benches --locked >"$out/criterion.txt" 2>&1; then
                echo "criterion failed; see $out/criterion.txt" >&2
                exit 1
            fi
            grep -E '^[a-z_0-9]+/|time:' "$out/criterion.txt" >&2 || true
            ;;
        *)
            rm -f "$out/$b.md"
            "target/release/$b" --out "$out/$b.md" >/dev/null
            ;;
    esac
done
echo "results in $out/" >&2
