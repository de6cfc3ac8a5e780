//! `serve`: an FTP/FTPS server for ftpchat rooms on a LAN (libunftp).
//!
//! ```text
//! serve add-user --users users.txt alice          # asks for alice's password
//! serve --root ./chats --users users.txt            # ftp://127.0.0.1:2221
//! ```
//!
//! Access is the users file: one `name:hash` line per user (see
//! `ftpchat_examples::users`); delete a line to revoke access, effective at the next login.
//! After 3 wrong passwords for a user, that user is blocked for 60 s, even with the right
//! password.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ftpchat_examples::chat::DEFAULT_PORT;
use ftpchat_examples::location::FTP_PASSWORD_ENV;
use ftpchat_examples::secret;
use ftpchat_examples::server::{self, EmbeddedServer, Lockout, ServerConfig, TlsFiles};
use ftpchat_examples::users;

const USAGE: &str = "\
serve: an FTP/FTPS server for ftpchat rooms

USAGE:
    serve --root DIR --users FILE [OPTIONS]     serve DIR to the users listed in FILE
    serve add-user --users FILE NAME            add a user (password from FTPCHAT_FTP_PASSWORD
                                                or typed at the prompt, not echoed)
    serve remove-user --users FILE NAME         remove a user (or delete the line yourself)

OPTIONS:
    --port N              control port (default 2221; 0 = any free port)
    --bind ADDR           address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN)
    --cert FILE --key FILE
                          offer FTPS (AUTH TLS) with this PEM certificate and key
    --self-signed DIR     generate a self-signed certificate for localhost/127.0.0.1 (and
                          --tls-name NAME) into DIR and offer FTPS; clients trust it with
                          `chat --ca DIR/cert.pem ftps://...`
    --tls-name NAME       an extra host name or IP address for --self-signed (repeatable)
    --require-tls         refuse clients that do not use TLS
    --max-failures N      wrong passwords that block a user (default 3; 0 = no lock-out)
    --block-secs N        how long a block lasts after the last failure (default 60)
    -v, --verbose         log every session, not only warnings

USERS FILE: one line per user, `name:pbkdf2-sha256$iterations$salt$hash`, written by
`serve add-user`. Delete a line to revoke access (the file is read at every login). Keep it
outside the served folder.";

#[derive(Debug, Default)]
struct Args {
    command: Option<String>,
    name: Option<String>,
    root: Option<PathBuf>,
    users: Option<PathBuf>,
    port: Option<u16>,
    bind: Option<IpAddr>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    self_signed: Option<PathBuf>,
    tls_names: Vec<String>,
    require_tls: bool,
    max_failures: Option<u32>,
    block_secs: Option<u64>,
    verbose: bool,
    help: bool,
}

fn parse_args(raw: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = raw.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |flag: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        let number = |flag: &str, v: String| -> Result<u64, String> {
            v.parse().map_err(|_| format!("{flag} {v}: not a number"))
        };
        match flag.as_str() {
            "-h" | "--help" => a.help = true,
            "-v" | "--verbose" => a.verbose = true,
            "--require-tls" => a.require_tls = true,
            "--root" => a.root = Some(value(&flag)?.into()),
            "--users" => a.users = Some(value(&flag)?.into()),
            "--port" => {
                let v = value(&flag)?;
                a.port = Some(v.parse().map_err(|_| format!("--port {v}: not a port"))?);
            }
            "--bind" => {
                let v = value(&flag)?;
                a.bind = Some(
                    v.parse()
                        .map_err(|_| format!("--bind {v}: not an IP address"))?,
                );
            }
            "--cert" => a.cert = Some(value(&flag)?.into()),
            "--key" => a.key = Some(value(&flag)?.into()),
            "--self-signed" => a.self_signed = Some(value(&flag)?.into()),
            "--tls-name" => a.tls_names.push(value(&flag)?),
            "--max-failures" => {
                let v = number(&flag, value(&flag)?)?;
                a.max_failures = Some(u32::try_from(v).map_err(|_| "--max-failures: too large")?);
            }
            "--block-secs" => a.block_secs = Some(number(&flag, value(&flag)?)?),
            f if f.starts_with('-') => {
                if f.contains("password") {
                    return Err(format!(
                        "{f}: passwords are never taken from the command line; set \
                         {FTP_PASSWORD_ENV} or type it at the prompt"
                    ));
                }
                return Err(format!("unknown option {f} (see --help)"));
            }
            _ if a.command.is_none() && (arg == "add-user" || arg == "remove-user") => {
                a.command = Some(arg)
            }
            _ if a.command.is_some() && a.name.is_none() => a.name = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?} (see --help)")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args(std::env::args().skip(1))?;
    if args.help {
        println!("{USAGE}");
        return Ok(());
    }
    let users_file = args
        .users
        .clone()
        .ok_or("--users FILE is required (see --help)")?;
    match args.command.as_deref() {
        Some("add-user") => {
            let name = args.name.ok_or("add-user needs a NAME")?;
            if !users::valid_name(&name) {
                return Err(format!("invalid user name {name:?}: no spaces or ':'"));
            }
            let pw =
                secret::from_env_or_prompt(FTP_PASSWORD_ENV, &format!("Password for {name}: "))
                    .map_err(|e| format!("password: {e}"))?;
            if pw.is_empty() {
                return Err("the password must not be empty".into());
            }
            users::add_user(&users_file, &name, &pw).map_err(|e| e.to_string())?;
            println!("added {name} to {}", users_file.display());
            return Ok(());
        }
        Some("remove-user") => {
            let name = args.name.ok_or("remove-user needs a NAME")?;
            let text = std::fs::read_to_string(&users_file)
                .map_err(|e| format!("{}: {e}", users_file.display()))?;
            let prefix = format!("{name}:");
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with(&prefix))
                .collect();
            if kept.len() == text.lines().count() {
                return Err(format!("{name} is not in {}", users_file.display()));
            }
            let mut out = kept.join("\n");
            out.push('\n');
            users::write_private(&users_file, out.as_bytes())
                .map_err(|e| format!("{}: {e}", users_file.display()))?;
            println!("removed {name} from {}", users_file.display());
            return Ok(());
        }
        _ => {}
    }

    init_logging(args.verbose);
    let root = args
        .root
        .clone()
        .ok_or("--root DIR is required (see --help)")?;
    let parsed = users::Users::load(&users_file).map_err(|e| {
        format!(
            "{}: {e} (create it with `serve add-user --users {} NAME`)",
            users_file.display(),
            users_file.display()
        )
    })?;
    for (line, why) in &parsed.skipped {
        eprintln!(
            "serve: warning: {} line {line} skipped: {why}",
            users_file.display()
        );
    }
    let tls = match (&args.cert, &args.key, &args.self_signed) {
        (Some(cert), Some(key), None) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None, Some(dir)) => {
            Some(server::write_self_signed(dir, &args.tls_names).map_err(|e| e.to_string())?)
        }
        (None, None, None) => None,
        _ => return Err("use --cert with --key, or --self-signed DIR".into()),
    };
    let mut config = ServerConfig::new(&root, &users_file);
    config.bind = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    config.port = args.port.unwrap_or(DEFAULT_PORT);
    config.require_tls = args.require_tls;
    config.lockout = match args.max_failures {
        Some(0) => None,
        n => Some(Lockout {
            max_failures: n.unwrap_or(server::DEFAULT_MAX_FAILURES),
            block_for: args
                .block_secs
                .map(Duration::from_secs)
                .unwrap_or(server::DEFAULT_BLOCK),
        }),
    };
    let tls_note = match &tls {
        Some(t) if args.require_tls => format!("FTPS required, certificate {}", t.cert.display()),
        Some(t) => format!("FTPS offered, certificate {}", t.cert.display()),
        None => "plain FTP, no TLS".to_owned(),
    };
    let lockout_note = match config.lockout {
        Some(l) => format!(
            "{} wrong passwords block a user for {} s",
            l.max_failures,
            l.block_for.as_secs()
        ),
        None => "no lock-out".to_owned(),
    };
    config.tls = tls;
    let server = EmbeddedServer::start(config).map_err(|e| e.to_string())?;
    let scheme = if server.tls() { "ftps" } else { "ftp" };
    println!(
        "serving {} on {scheme}://{} ({tls_note})",
        root.display(),
        server.addr()
    );
    println!(
        "users: {} ({} listed; delete a line to revoke access); {lockout_note}",
        users_file.display(),
        parsed.entries.len()
    );
    println!("ready; Ctrl-C stops");
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Prints libunftp's log records (logins, lock-outs) on standard error.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "{} {:<5} {}",
                chrono::Local::now().format("%H:%M:%S"),
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

fn init_logging(verbose: bool) {
    let level = if verbose {
        log::LevelFilter::Info
    } else {
        log::LevelFilter::Warn
    };
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&[
            "--root",
            "r",
            "--users=u",
            "--port",
            "0",
            "--max-failures",
            "5",
        ])
        .unwrap();
        assert_eq!(a.root, Some("r".into()));
        assert_eq!(a.users, Some("u".into()));
        assert_eq!((a.port, a.max_failures), (Some(0), Some(5)));
        let a = parse(&["add-user", "--users", "u", "alice"]).unwrap();
        assert_eq!(a.command.as_deref(), Some("add-user"));
        assert_eq!(a.name.as_deref(), Some("alice"));
        assert!(parse(&["--password", "x"])
            .unwrap_err()
            .contains(FTP_PASSWORD_ENV));
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["stray"]).is_err());
        assert!(parse(&["add-user", "a", "b"]).is_err());
    }
}
