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

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use ftpchat_examples::cli::{self, ServeOptions};
use ftpchat_examples::location::FTP_PASSWORD_ENV;

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
            cli::add_user(&users_file, &name, None).map_err(|e| e.to_string())?;
            println!("added {name} to {}", users_file.display());
            return Ok(());
        }
        Some("remove-user") => {
            let name = args.name.ok_or("remove-user needs a NAME")?;
            cli::remove_user(&users_file, &name).map_err(|e| e.to_string())?;
            println!("removed {name} from {}", users_file.display());
            return Ok(());
        }
        _ => {}
    }
    let root = args
        .root
        .clone()
        .ok_or("--root DIR is required (see --help)")?;
    let options = ServeOptions {
        root,
        users: users_file,
        port: args.port,
        bind: args.bind,
        cert: args.cert,
        key: args.key,
        self_signed: args.self_signed,
        tls_names: args.tls_names,
        require_tls: args.require_tls,
        max_failures: args.max_failures,
        block_secs: args.block_secs,
        verbose: args.verbose,
    };
    match cli::serve(&options, "serve add-user") {
        Ok(never) => match never {},
        Err(e) => Err(e.to_string()),
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
