#!/usr/bin/env bash
# The Python package's checks, from source in a fresh venv:
#   1. a new venv under .ci/work/py-venv (removed first: every run starts clean);
#   2. pip install maturin cryptography pytest pyftpdlib mypy (+ pyopenssl for FTPS tests,
#      tqdm for the attachment progress test);
#   3. pip install ./ftpchat-py (PEP 517, maturin backend, built from source);
#   4. the stubs checked against the native module (mypy.stubtest) and the package
#      type-checked with mypy --strict;
#   5. pytest (it starts its own pyftpdlib servers on 127.0.0.1).
# Exits non-zero on any failure. Run as `bash .ci/python-tests.sh`; called by .ci/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

step() { printf '\n=== python: %s\n' "$*"; }

python="${PYTHON:-python3}"
venv="$root/.ci/work/py-venv"
# maturin builds in its own target directory so switching between it and `cargo test`
# does not rebuild pyo3 each time (different features/env, same sources).
export CARGO_TARGET_DIR="${FTPCHAT_PY_TARGET_DIR:-$root/target/maturin}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

step "fresh venv at ${venv#"$root"/} ($("$python" --version 2>&1))"
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
if ! "$python" -m venv "$venv" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    echo "python3 -m venv failed; installing python3-venv with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq python3-venv
    rm -rf "$venv"
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"

step "pip install maturin cryptography pytest pyftpdlib pyopenssl mypy tqdm"
"$py" -m pip install --quiet maturin cryptography pytest pyftpdlib pyopenssl mypy tqdm

step "pip install ./ftpchat-py (from source; CARGO_TARGET_DIR=${CARGO_TARGET_DIR#"$root"/})"
start=$SECONDS
log="$root/.ci/work/pip-install-ftpchat.log"
if ! "$py" -m pip install --no-cache-dir ./ftpchat-py >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "pip install ./ftpchat-py failed (full log: ${log#"$root"/})"
    exit 1
fi
tail -n 1 "$log"
echo "built and installed in $((SECONDS - start)) s"

step "maturin build --release (a wheel, with the stubs and py.typed)"
wheels="$root/.ci/work/wheels"
rm -rf "$wheels"
"$venv/bin/maturin" build --release --quiet -m ftpchat-py/Cargo.toml -o "$wheels"
"$py" - "$wheels" <<'PY'
import pathlib, sys, zipfile
(wheel,) = pathlib.Path(sys.argv[1]).glob("ftpchat-*-cp39-abi3-*.whl")
names = set(zipfile.ZipFile(wheel).namelist())
missing = {"ftpchat/__init__.py", "ftpchat/_ftpchat.pyi", "ftpchat/py.typed"} - names
assert not missing, f"{wheel.name} lacks {sorted(missing)}"
assert any(n.startswith("ftpchat/_ftpchat.") and n.endswith(".so") for n in names), names
print(wheel.name)
PY

# Run the checks from outside the source tree so `import ftpchat` is the installed wheel.
cd "$root/.ci/work"

step "stubtest: ftpchat._ftpchat against python/ftpchat/_ftpchat.pyi"
"$py" -m mypy.stubtest ftpchat._ftpchat

step "mypy --strict: the installed package"
"$py" -m mypy --strict --no-incremental -p ftpchat

step "pytest"
"$py" -m pytest "$root/ftpchat-py/tests" -p no:cacheprovider -q -rs
