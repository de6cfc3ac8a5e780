//! Benchmark helpers for ftpchat (see `BENCHMARKS.md` at the top of the repository).
//!
//! - [`corpus`]: deterministic ~80-byte chat texts and lines of every codec.
//! - [`counting`]: a [`Transport`](ftpchat_core::Transport) wrapper counting
//!   calls and bytes (round trips and payload of a poll).
//! - [`server`]: a private vsftpd or pyftpdlib on 127.0.0.1, or an external server.
//! - [`link`]: a link of a chosen speed between two private network namespaces.
//! - [`python`]: the Python baselines' venv and scripts.
//! - [`stats`]: percentiles, formatting, Markdown tables.
//!
//! The criterion benches are in `benches/`; the harnesses for the networked benches and
//! for same-run baseline ratios are the binaries in `src/bin/`.

pub mod corpus;
pub mod counting;
pub mod link;
pub mod python;
pub mod server;
pub mod stats;

use std::ffi::OsStr;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs this harness again as a child process (`--child <mode>` and `args`), so that its
/// peak RSS is the measured work's alone, and returns the JSON object the child printed
/// last on stdout. Panics when the child fails or prints no JSON.
pub fn run_child<I, S>(mode: &str, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--child", mode])
        .args(args)
        .output()
        .expect("run child");
    assert!(
        out.status.success(),
        "child {mode} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("child JSON");
    serde_json::from_str(line).expect("child JSON parses")
}

/// Peak and current resident set size of this process, from `/proc/self/status`, in bytes:
/// `(VmHWM, VmRSS)`.
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// One line about this machine: CPU model, cores, memory, kernel, load average.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB, Linux {kernel}; {}",
        load()
    )
}

/// The load average now, e.g. `load 1.52 / 1.10 / 0.90 (1/5/15 min)`.
pub fn load() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let f: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("load {} (1/5/15 min)", f.join(" / "))
}

/// Command-line options shared by the harnesses: `--quick` (small sizes for the CI smoke
/// pass), `--server vsftpd|pyftpdlib|url:URL`, and free-form `--key value` pairs.
#[derive(Debug, Clone)]
pub struct Args {
    /// Small sizes, few samples: proves the bench runs, measures nothing.
    pub quick: bool,
    /// The FTP server to use.
    pub server: server::ServerKind,
    rest: Vec<(String, String)>,
}

impl Args {
    /// Parses `std::env::args()`; exits with a message on an unknown server.
    pub fn parse() -> Self {
        let mut quick = false;
        let mut server = server::ServerKind::default_from_env();
        let mut rest = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => quick = true,
                "--server" => {
                    let v = it.next().unwrap_or_default();
                    server = server::ServerKind::parse(&v).unwrap_or_else(|e| {
                        eprintln!("{e}");
                        std::process::exit(2)
                    });
                }
                s if s.starts_with("--") => {
                    let v = it.next().unwrap_or_default();
                    rest.push((s.trim_start_matches("--").to_owned(), v));
                }
                _ => rest.push((a.clone(), String::new())),
            }
        }
        Args {
            quick,
            server,
            rest,
        }
    }

    /// The value of `--name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.rest
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `--name` parsed as a number, or `default`.
    pub fn num(&self, name: &str, default: u64) -> u64 {
        self.get(name)
            .and_then(|v| v.replace('_', "").parse().ok())
            .unwrap_or(default)
    }

    /// `--name` as a comma-separated list of numbers, or `default`.
    pub fn list(&self, name: &str, default: &[u64]) -> Vec<u64> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .filter_map(|x| x.trim().replace('_', "").parse().ok())
                    .collect()
            })
            .unwrap_or_else(|| default.to_vec())
    }
}

/// Runs `f` repeatedly for at least `budget` (and at least once), in `rounds` rounds, and
/// returns the best round's operations per second, where one call of `f` performs `ops`
/// operations. Best-of-rounds filters out interference from other processes.
pub fn best_rate(budget: Duration, rounds: usize, ops: u64, mut f: impl FnMut()) -> f64 {
    let per_round = budget / rounds.max(1) as u32;
    let mut best = 0.0f64;
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        let mut calls = 0u64;
        while calls == 0 || start.elapsed() < per_round {
            f();
            calls += 1;
        }
        let rate = (calls * ops) as f64 / start.elapsed().as_secs_f64();
        best = best.max(rate);
    }
    best
}

/// Writes `text` to stdout and, when `--out FILE` was given, appends it to that file.
pub fn emit(args: &Args, text: &str) {
    print!("{text}");
    if let Some(path) = args.get("out") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}
