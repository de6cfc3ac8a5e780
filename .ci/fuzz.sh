#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time and fails on any crash, hang
# (an input running over 10 s) or memory blow-up (over 2 GiB RSS).
#
# Steps: installs cargo-fuzz if missing, builds all targets, seeds their corpora from
# ftpchat-core/tests/testdata (fuzz/seed_corpus.py; corpora are git-ignored and kept between
# local runs), runs each target with `cargo fuzz run <t> -- -max_total_time=N`, and prints
# `fuzz: N passed, N failed`. cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP=1 lets
# the stable toolchain accept them.
#
# Environment:
#   FUZZ_SECONDS   seconds per target (default 30)
#   FUZZ_TARGETS   space-separated targets to run (default: all of `cargo fuzz list`)
#   FUZZ_JOBS      targets run at once (default: 2, or 1 on a one-core machine)
#
# A crash leaves its input in fuzz/artifacts/<target>/; reproduce it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/<file>   (from fuzz/)
# then fix it and add the input as a regression test in ftpchat-core/tests/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

seconds="${FUZZ_SECONDS:-30}"
cores="$(nproc 2>/dev/null || echo 1)"
jobs="${FUZZ_JOBS:-$((cores >= 2 ? 2 : 1))}"
started=$SECONDS

step() { printf '\n=== %s\n' "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

cd "$root/fuzz"
if [[ -n "${FUZZ_TARGETS:-}" ]]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi
[[ ${#targets[@]} -gt 0 ]] || { echo "fuzz: no targets found" >&2; exit 1; }

step "cargo fuzz build (${#targets[@]} targets)"
cargo fuzz build

step "seeding corpora from ftpchat-core/tests/testdata"
if command -v python3 >/dev/null 2>&1; then
    python3 seed_corpus.py "$root/ftpchat-core/tests/testdata" corpus
else
    echo "python3 not found: seeding every target with the raw test-vector files"
    for t in "${targets[@]}"; do
        mkdir -p "corpus/$t"
        cp "$root"/ftpchat-core/tests/testdata/*.{txt,jsonl} "corpus/$t/"
    done
fi

logs="$root/fuzz/target/fuzz-logs"
mkdir -p "$logs"
step "running ${#targets[@]} targets for ${seconds}s each, $jobs at a time"

run_one() {
    local t="$1"
    mkdir -p "corpus/$t" "artifacts/$t"
    cargo fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1
}

declare -A pid_of=()
passed=0
failed=0
failed_names=()

finish() {
    local t="$1" status="$2" runs
    # A crashed target's log has no "Done" line: that must not end the script here.
    runs="$(grep -o 'Done [0-9]* runs' "$logs/$t.log" | tail -1 | awk '{print $2}' || true)"
    if [[ "$status" -eq 0 ]]; then
        passed=$((passed + 1))
        printf 'fuzz %-20s ok (%s runs)\n' "$t" "${runs:-?}"
    else
        failed=$((failed + 1))
        failed_names+=("$t")
        printf 'fuzz %-20s FAILED (exit %s); last lines of %s:\n' "$t" "$status" "$logs/$t.log"
        grep -v '^\s*Compiling' "$logs/$t.log" | tail -40 | sed 's/^/    /'
        ls -1 "artifacts/$t" 2>/dev/null | sed "s|^|    artifact: fuzz/artifacts/$t/|"
    fi
}

wait_for_one() {
    local done_pid status t
    status=0
    wait -n -p done_pid "${!pid_of[@]}" || status=$?
    t="${pid_of[$done_pid]}"
    unset "pid_of[$done_pid]"
    finish "$t" "$status"
}

for t in "${targets[@]}"; do
    while [[ ${#pid_of[@]} -ge $jobs ]]; do
        wait_for_one
    done
    run_one "$t" &
    pid_of[$!]="$t"
done
while [[ ${#pid_of[@]} -gt 0 ]]; do
    wait_for_one
done

echo
echo "fuzz: $passed passed, $failed failed ($((SECONDS - started))s)"
if [[ $failed -gt 0 ]]; then
    echo "fuzz: failed targets: ${failed_names[*]}" >&2
    exit 1
fi
