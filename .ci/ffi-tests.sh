#!/usr/bin/env bash
# Tests that execute the UniFFI bindings of ftpchat-ffi (issue 6):
#
#   Kotlin  generate Kotlin, compile it with the npm package `kotlin-compiler` and JNA
#           (Debian's libjna-java), run ftpchat-ffi/tests/kotlin/FfiTest.kt on the JVM
#           against the cdylib: rooms on a folder and on real FTP servers.
#   Swift   (no Swift compiler here) generate the Swift sources and the C header, compile
#           ftpchat-ffi/tests/c/header_test.c against the header (dynamic and static
#           library), replay the Swift load-time checks (contract version, API checksums)
#           in C, check that every function the header declares is exported, and diff the
#           generated files against the golden copy in ftpchat-ffi/golden/swift.
#
# Usage (as root on Debian; idempotent):
#   bash .ci/ffi-tests.sh                  # everything
#   bash .ci/ffi-tests.sh --update-golden  # regenerate ftpchat-ffi/golden/swift first
#
# The Kotlin test needs FTPCHAT_TEST_PYFTPDLIB_URL (from `source .ci/ftp-servers.sh`);
# under CI=true a missing URL is a failure. Work files go to .ci/work/ffi (git-ignored),
# the Kotlin compiler to .ci/work/kotlin.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
started=$SECONDS

KOTLIN_COMPILER_VERSION=2.3.21
update_golden=0
[[ "${1:-}" == "--update-golden" ]] && update_golden=1

step() { printf '\n=== ffi: %s (%ds)\n' "$*" $((SECONDS - started)); }
die() {
    echo "ffi-tests: $*" >&2
    exit 1
}

work="$repo/.ci/work/ffi"
kotlin_home="$repo/.ci/work/kotlin"
target_dir="${CARGO_TARGET_DIR:-$repo/target}"
lib_dir="$target_dir/debug"
golden="$repo/ftpchat-ffi/golden/swift"

# --- tools ----------------------------------------------------------------------------
step "tools"
apt_updated=0
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    if [[ $apt_updated == 0 ]]; then
        apt-get update -qq
        apt_updated=1
    fi
    apt-get install -y -qq "$@" >/dev/null
}
[[ -f /usr/share/java/jna.jar ]] || apt_install libjna-java
command -v java >/dev/null 2>&1 || apt_install default-jre-headless
command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev
command -v nm >/dev/null 2>&1 || apt_install binutils
# The static library links against the system zlib (see the staticlib step).
[[ -f /usr/include/zlib.h ]] || apt_install zlib1g-dev
command -v npm >/dev/null 2>&1 || apt_install npm

kotlinc="$kotlin_home/node_modules/kotlin-compiler/bin/kotlinc"
kotlin_lib="$kotlin_home/node_modules/kotlin-compiler/lib"
installed=""
if [[ -f "$kotlin_home/node_modules/kotlin-compiler/package.json" ]]; then
    installed="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
        "$kotlin_home/node_modules/kotlin-compiler/package.json" | head -n 1)"
fi
if [[ "$installed" != "$KOTLIN_COMPILER_VERSION" || ! -x "$kotlinc" ]]; then
    echo "installing kotlin-compiler $KOTLIN_COMPILER_VERSION (npm) into $kotlin_home"
    mkdir -p "$kotlin_home"
    [[ -f "$kotlin_home/package.json" ]] || echo '{"private": true}' >"$kotlin_home/package.json"
    npm install --prefix "$kotlin_home" --no-audit --no-fund --loglevel=error \
        "kotlin-compiler@$KOTLIN_COMPILER_VERSION" >/dev/null
fi
[[ -x "$kotlinc" ]] || die "kotlinc not found at $kotlinc"
jna=/usr/share/java/jna.jar
coroutines="$kotlin_lib/kotlinx-coroutines-core-jvm.jar"
stdlib="$kotlin_lib/kotlin-stdlib.jar"
for jar in "$jna" "$coroutines" "$stdlib"; do
    [[ -f "$jar" ]] || die "missing $jar"
done
echo "java: $(java -version 2>&1 | head -n 1); kotlinc $KOTLIN_COMPILER_VERSION; $(gcc --version | head -n 1)"

# --- build and generate ---------------------------------------------------------------
# .ci/test passes the package selection and features of its other builds
# (FTPCHAT_CI_CARGO: the workspace with every store feature) so nothing is built again.
read -ra selection <<<"${FTPCHAT_CI_CARGO:--p ftpchat-ffi --features stores}"
step "cargo build ${selection[*]} (cdylib, staticlib, uniffi-bindgen)"
cargo build "${selection[@]}" --locked --lib --bins
lib="$lib_dir/libftpchat_ffi.so"
staticlib="$lib_dir/libftpchat_ffi.a"
bindgen="$lib_dir/uniffi-bindgen"
for f in "$lib" "$staticlib" "$bindgen"; do
    [[ -f "$f" ]] || die "missing $f"
done

step "generate Kotlin and Swift (library mode)"
rm -rf "$work"
mkdir -p "$work"
# Same as `cargo run -p ftpchat-ffi --bin uniffi-bindgen -- generate ...`, without
# re-checking the build.
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$work/kotlin" --no-format
"$bindgen" generate --library "$lib" --language swift --out-dir "$work/swift" --no-format
kotlin_src="$work/kotlin/org/ftpchat/ftpchat.kt"
swift_src="$work/swift/FtpChat.swift"
header="$work/swift/FtpChatFFI.h"
for f in "$kotlin_src" "$swift_src" "$header" "$work/swift/FtpChatFFI.modulemap"; do
    [[ -f "$f" ]] || die "generation did not produce $f"
done

swift_passed=0
swift_failed=0
swift_ok() {
    swift_passed=$((swift_passed + 1))
    echo "ok    swift: $*"
}
swift_fail() {
    swift_failed=$((swift_failed + 1))
    echo "FAIL  swift: $*"
}

# --- Swift: golden copy ---------------------------------------------------------------
step "Swift: generated sources against the golden copy"
if [[ $update_golden == 1 ]]; then
    rm -rf "$golden"
    mkdir -p "$golden"
    cp "$work/swift/"* "$golden/"
    echo "updated $golden"
fi
if diff -ru "$golden" "$work/swift" >"$work/golden.diff" 2>&1; then
    swift_ok "generated Swift, header and modulemap match ftpchat-ffi/golden/swift"
else
    head -n 80 "$work/golden.diff"
    swift_fail "the generated Swift bindings differ from ftpchat-ffi/golden/swift (full diff:" \
        "$work/golden.diff). If the API change is intended, update the golden copy with" \
        "'bash .ci/ffi-tests.sh --update-golden' and commit it."
fi

# --- Swift: the C header, from C ------------------------------------------------------
step "Swift: compile the C header and call the library from C"
# The checks FtpChat.swift runs when it loads, as a C include: contract version and one
# `X(checksum_function, expected)` entry per API checksum.
{
    contract="$(sed -n 's/^ *let bindings_contract_version = \([0-9]*\).*/\1/p' "$swift_src")"
    echo "#define EXPECTED_CONTRACT_VERSION ${contract:-0}"
    echo "#define SWIFT_CHECKSUMS(X) \\"
    sed -n 's/^ *if (\(uniffi_[a-z0-9_]*_checksum_[a-z0-9_]*\)() != \([0-9]*\)) {.*/    X(\1, \2) \\/p' "$swift_src"
    echo "    /* end */"
} >"$work/swift_checks.inc"
cflags=(-std=c11 -Wall -Wextra -Werror -D_Nullable= -D_Nonnull= -I "$work/swift"
    -include "$work/swift_checks.inc")
if gcc "${cflags[@]}" ftpchat-ffi/tests/c/header_test.c -o "$work/header_test_dynamic" \
    -L "$lib_dir" -lftpchat_ffi -Wl,-rpath,"$lib_dir" 2>"$work/gcc-dynamic.log"; then
    swift_ok "FtpChatFFI.h compiles with gcc -Wall -Wextra -Werror; linked to the cdylib"
    if "$work/header_test_dynamic"; then
        swift_ok "C calls through the header (cdylib)"
    else
        swift_fail "C calls through the header (cdylib)"
    fi
else
    cat "$work/gcc-dynamic.log"
    swift_fail "FtpChatFFI.h + tests/c/header_test.c do not compile or link (cdylib)"
fi
# iOS links the static library: it must link on its own and behave the same. Besides the C
# runtime it needs the system zlib (the core's flate2 uses zlib itself, through libz-sys, so
# that its output matches CPython's byte for byte): `-lz` here, `libz.tbd` in Xcode.
if gcc "${cflags[@]}" ftpchat-ffi/tests/c/header_test.c -o "$work/header_test_static" \
    "$staticlib" -lz -lpthread -ldl -lm 2>"$work/gcc-static.log"; then
    if "$work/header_test_static" >"$work/header_test_static.out"; then
        swift_ok "C calls through the header (staticlib)"
    else
        cat "$work/header_test_static.out"
        swift_fail "C calls through the header (staticlib)"
    fi
else
    cat "$work/gcc-static.log"
    swift_fail "tests/c/header_test.c does not link against the static library"
fi

# --- Swift: the hand-written async adapter against the generated declarations ---------
step "Swift: FtpChatAsync.swift calls what FtpChat.swift declares"
# No compiler: check that each generated declaration the adapter relies on exists with
# the signature it assumes (whitespace as UniFFI prints it varies, so it is ignored).
adapter=ftpchat-ffi/swift/FtpChatAsync.swift
flat_swift="$(tr -s ' \t\n' ' ' <"$swift_src")"
adapter_ok=1
for decl in \
    'open class ChatRoom:' \
    'open class UpdateStream:' \
    'open func updateStream(minIntervalMs: UInt64, maxIntervalMs: UInt64)throws -> UpdateStream' \
    'open func next()async throws -> ChatUpdate?' \
    'open func cancel() {' \
    'public struct ChatUpdate' \
    'public enum ChatError'; do
    norm="$(tr -s ' \t\n' ' ' <<<"$decl" | sed 's/ $//')"
    if ! grep -qF -- "$norm" <<<"$flat_swift"; then
        echo "not in the generated Swift: $decl"
        adapter_ok=0
    fi
done
for use in 'self.updateStream(' 'minIntervalMs: minIntervalMs, maxIntervalMs: maxIntervalMs)' \
    'try await stream.next()' 'stream.cancel()' 'extension ChatRoom {'; do
    grep -qF -- "$use" "$adapter" || {
        echo "FtpChatAsync.swift no longer contains: $use (update this check with it)"
        adapter_ok=0
    }
done
if [[ $adapter_ok == 1 ]]; then
    swift_ok "FtpChatAsync.swift: every generated declaration it calls exists (not compiled: no swiftc)"
else
    swift_fail "FtpChatAsync.swift and the generated FtpChat.swift disagree"
fi

# --- Swift: every declared function is exported ---------------------------------------
step "Swift: every function the header declares is exported"
grep -oE '\b(uniffi|ffi)_ftpchat_ffi_[A-Za-z0-9_]+[[:space:]]*\(' "$header" \
    | sed 's/[[:space:]]*($//' | sort -u >"$work/declared.txt"
nm -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' | sort -u >"$work/exported-so.txt"
nm --defined-only "$staticlib" 2>/dev/null | awk '$2 == "T" { print $3 }' | sort -u >"$work/exported-a.txt"
declared=$(wc -l <"$work/declared.txt")
missing_so="$(comm -23 "$work/declared.txt" "$work/exported-so.txt")"
missing_a="$(comm -23 "$work/declared.txt" "$work/exported-a.txt")"
if [[ $declared -lt 50 ]]; then
    swift_fail "only $declared functions found in FtpChatFFI.h"
elif [[ -n "$missing_so" || -n "$missing_a" ]]; then
    [[ -n "$missing_so" ]] && printf 'not exported by %s:\n%s\n' "$lib" "$missing_so"
    [[ -n "$missing_a" ]] && printf 'not defined in %s:\n%s\n' "$staticlib" "$missing_a"
    swift_fail "functions declared in FtpChatFFI.h are missing from the libraries"
else
    swift_ok "all $declared functions declared in FtpChatFFI.h are exported by the cdylib and defined in the staticlib"
fi
echo "swift: $swift_passed passed, $swift_failed failed"

# --- Kotlin ---------------------------------------------------------------------------
step "Kotlin: compile the bindings and the test"
if [[ -z "${FTPCHAT_TEST_PYFTPDLIB_URL:-}" ]]; then
    if [[ "${CI:-}" == "true" ]]; then
        echo "FTPCHAT_TEST_PYFTPDLIB_URL is not set: the Kotlin test will fail (CI=true)"
    else
        echo "FTPCHAT_TEST_PYFTPDLIB_URL is not set: the FTP part is skipped (source .ci/ftp-servers.sh)"
    fi
fi
kotlin_passed=0
kotlin_failed=1
if "$kotlinc" -nowarn -J-Xmx1g -cp "$jna:$coroutines" -d "$work/ffi-test.jar" \
    "$kotlin_src" ftpchat-ffi/kotlin/FtpChatFlow.kt ftpchat-ffi/tests/kotlin/FfiTest.kt 2>&1 | tee "$work/kotlinc.log" | grep -v '^$'; then
    :
fi
if [[ -f "$work/ffi-test.jar" ]]; then
    step "Kotlin: run the test on the JVM"
    set +e
    java -Djna.library.path="$lib_dir" -cp "$work/ffi-test.jar:$jna:$coroutines:$stdlib" \
        FfiTestKt 2>&1 | tee "$work/kotlin-test.log"
    kotlin_status=${PIPESTATUS[0]}
    set -e
    summary="$(grep -E '^kotlin: [0-9]+ passed, [0-9]+ failed' "$work/kotlin-test.log" | tail -n 1)"
    if [[ -n "$summary" ]]; then
        kotlin_passed="$(sed -E 's/^kotlin: ([0-9]+) passed.*/\1/' <<<"$summary")"
        kotlin_failed="$(sed -E 's/^kotlin: [0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$summary")"
    fi
    if [[ $kotlin_status != 0 && $kotlin_failed == 0 ]]; then
        echo "the Kotlin test exited with status $kotlin_status"
        kotlin_failed=1
    fi
else
    echo "kotlinc failed (log: $work/kotlinc.log)"
fi

# --- summary --------------------------------------------------------------------------
step "summary"
echo "kotlin: $kotlin_passed passed, $kotlin_failed failed"
echo "swift: $swift_passed passed, $swift_failed failed"
echo "ffi-tests took $((SECONDS - started)) s"
total_passed=$((kotlin_passed + swift_passed))
total_failed=$((kotlin_failed + swift_failed))
echo "ffi: $total_passed passed, $total_failed failed"
[[ $total_failed == 0 ]]
