#!/usr/bin/env bash
# The Python package's checks, on the wheel users would install:
#   1. a build venv (.ci/work/py-build-venv) with maturin; `maturin build --release` makes
#      the abi3 manylinux wheel once (checked: name, tags, stubs, py.typed, extension);
#   2. a fresh test venv (.ci/work/py-venv) with the test tools (cryptography, pytest,
#      pyftpdlib, pyopenssl for FTPS tests, mypy, tqdm, pdoc) and that wheel installed;
#   3. the stubs checked against the native module (mypy.stubtest) and the package
#      type-checked with mypy --strict;
#   4. the API reference generated from the docstrings with pdoc (.ci/work/api-docs;
#      warnings are errors);
#   5. pytest (it starts its own pyftpdlib servers on 127.0.0.1).
# Both venvs are removed first: every run starts clean. Exits non-zero on any failure.
# Run as `bash .ci/python-tests.sh`; called by .ci/test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"

step() { printf '\n=== python: %s\n' "$*"; }

python="${PYTHON:-python3}"
venv="$root/.ci/work/py-venv"
docs="$root/.ci/work/api-docs"
# maturin builds in its own target directory so switching between it and `cargo test`
# does not rebuild pyo3 each time (different features/env, same sources).
export CARGO_TARGET_DIR="${FTPCHAT_PY_TARGET_DIR:-$root/target/maturin}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheel's platform tag: `--compatibility pypi` makes maturin check the extension's
# symbols and tag it with the oldest manylinux it complies with (on Debian 12, glibc
# 2.36: manylinux_2_34), failing rather than emitting a plain `linux` wheel.
# FTPCHAT_MANYLINUX=manylinux_2_xx demands a given tag instead.
compatibility="${FTPCHAT_MANYLINUX:-pypi}"

new_venv() {
    rm -rf "$1"
    mkdir -p "$(dirname "$1")"
    if ! "$python" -m venv "$1" 2>/dev/null; then
        # Debian's python3 ships venv separately.
        echo "python3 -m venv failed; installing python3-venv with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv
        rm -rf "$1"
        "$python" -m venv "$1"
    fi
}

build_venv="$root/.ci/work/py-build-venv"
step "build venv at ${build_venv#"$root"/} ($("$python" --version 2>&1)): pip install maturin"
new_venv "$build_venv"
"$build_venv/bin/python" -m pip install --quiet "maturin>=1.9.4,<2"

step "maturin build --release --compatibility $compatibility (CARGO_TARGET_DIR=${CARGO_TARGET_DIR#"$root"/})"
wheels="$root/.ci/work/wheels"
rm -rf "$wheels"
start=$SECONDS
"$build_venv/bin/maturin" build --release --quiet -m ftpchat-py/Cargo.toml \
    --compatibility "$compatibility" -o "$wheels"
echo "built in $((SECONDS - start)) s"
wheel="$("$build_venv/bin/python" - "$wheels" "$compatibility" <<'PY'
import pathlib, sys, zipfile
wheels, wanted = pathlib.Path(sys.argv[1]), sys.argv[2]
tag = wanted if wanted.startswith("manylinux_") else "manylinux"
(wheel,) = wheels.glob("*.whl")
# name-version-cp39-abi3-<platform>.whl: one wheel for CPython 3.9 and later.
_, _, python, abi, platform = wheel.stem.split("-")
assert (python, abi) == ("cp39", "abi3"), wheel.name
assert platform.startswith(tag + "_"), f"{wheel.name} is not {tag}"
names = set(zipfile.ZipFile(wheel).namelist())
missing = {"ftpchat/__init__.py", "ftpchat/_aio.py", "ftpchat/_ftpchat.pyi", "ftpchat/py.typed"} - names
assert not missing, f"{wheel.name} lacks {sorted(missing)}"
assert any(n.startswith("ftpchat/_ftpchat.") and n.endswith(".so") for n in names), names
print(wheel)
PY
)"
echo "${wheel#"$root"/}"

step "fresh test venv at ${venv#"$root"/}: the test tools and the wheel"
new_venv "$venv"
py="$venv/bin/python"
"$py" -m pip install --quiet cryptography pytest pyftpdlib pyopenssl mypy tqdm pdoc
"$py" -m pip install --quiet --no-index --no-deps "$wheel"

# Run the checks from outside the source tree so `import ftpchat` is the installed wheel.
cd "$root/.ci/work"

step "stubtest: ftpchat._ftpchat against python/ftpchat/_ftpchat.pyi"
"$py" -m mypy.stubtest ftpchat._ftpchat

step "mypy --strict: the installed package"
"$py" -m mypy --strict --no-incremental -p ftpchat

step "API reference: pdoc ftpchat -o ${docs#"$root"/}"
rm -rf "$docs"
"$py" -W error -m pdoc ftpchat -o "$docs"
test -s "$docs/ftpchat.html"

step "pytest"
"$py" -m pytest "$root/ftpchat-py/tests" -p no:cacheprovider -q -rs
