//! The Python baselines: a venv with `cryptography` (and `pyftpdlib` for the optional
//! private server), created on first use, and the scripts in `benches/python/`.
//!
//! The venv is `.ci/work/bench-venv` (git-ignored), or the interpreter named by
//! `FTPCHAT_BENCH_PYTHON`. Scripts take one JSON argument and print one JSON object.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// A script of `benches/python/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// The venv's interpreter, creating the venv (`python3 -m venv`, `pip install
/// cryptography pyftpdlib`) when it is missing.
pub fn venv_python() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::var("FTPCHAT_BENCH_PYTHON") {
        if !p.is_empty() {
            return Ok(PathBuf::from(p));
        }
    }
    let venv = workspace_root().join(".ci/work/bench-venv");
    let py = venv.join("bin/python");
    let ready = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import cryptography, pyftpdlib"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if py.exists() && ready(&py) {
        return Ok(py);
    }
    eprintln!(
        "python: creating {} (cryptography, pyftpdlib)",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err("python3 -m venv failed (apt-get install python3-venv)".into());
    }
    let ok = Command::new(&py)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "cryptography",
            "pyftpdlib",
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok || !ready(&py) {
        return Err("pip install cryptography pyftpdlib failed".into());
    }
    Ok(py)
}

/// Runs `benches/python/<name>` with `arg` (JSON) and parses the JSON object it prints
/// last on stdout. Its stderr goes to ours.
pub fn run(name: &str, arg: &Value) -> Result<Value, String> {
    let py = venv_python()?;
    let out = Command::new(&py)
        .arg(script(name))
        .arg(arg.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run {name}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{name} failed: {}", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| format!("{name} printed no JSON: {stdout}"))?;
    serde_json::from_str(last).map_err(|e| format!("{name} output: {e}: {last}"))
}

/// The Python version and `cryptography`'s, for the report.
pub fn versions() -> String {
    let Ok(py) = venv_python() else {
        return "Python baselines unavailable".into();
    };
    Command::new(py)
        .args([
            "-c",
            "import sys, cryptography, zlib; print(f'CPython {sys.version.split()[0]}, cryptography {cryptography.__version__}, zlib {zlib.ZLIB_RUNTIME_VERSION}')",
        ])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A number from a JSON object (`0.0` when absent).
pub fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}
