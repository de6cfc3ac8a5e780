//! `read-ftpchat`: decodes an FTPChat chat file (1.5 and 1.6 lines), local or over FTP, and
//! prints it.
//!
//! ```text
//! read-ftpchat ./chat.txt                                   # FTPChat 1.5 lines
//! FTPCHAT_PASSWORD=... read-ftpchat --iterations 100000 ftp://user:pw@host/dir/chat.txt
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use ftpchat_core::room::{Password, Room, RoomEvent};
use ftpchat_examples::chat::{self, ChatArgs, CompatVersion};
use ftpchat_examples::location::{open_transport, Target, TransportOptions};
use ftpchat_examples::secret::{self, ROOM_PASSWORD_ENV};

const USAGE: &str = "\
read-ftpchat: print an FTPChat chat file

USAGE:
    read-ftpchat [OPTIONS] LOCATION

LOCATION: the chat file: a path, file:///..., ftp://[user[:pw]@]host[:port]/dir/chat.txt,
          ftps://... or ftpes://...

OPTIONS:
    --ask-password      prompt for the FTPChat 1.6 password (else FTPCHAT_PASSWORD; without a
                        password only FTPChat 1.5 lines, which have no key, are decoded)
    --salt TEXT         1.6 key-derivation salt (default: ftpchat)
    --salt-hex HEX      the same, in hex
    --iterations N      1.6 key-derivation iterations (default: 100000)
    --ca FILE           trust this PEM certificate for FTPS
    -h, --help          this text

Messages go to standard output, one per line (`[time] sender: text`, continuation lines
indented); lines that do not decode are reported on standard error.";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read-ftpchat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the file.
fn run() -> Result<(), String> {
    let mut ask = false;
    let mut rest = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ask-password" => ask = true,
            // The salt and iterations options are the chat client's (`--compat 1.6`).
            _ => rest.push(arg),
        }
    }
    let has_kdf = rest
        .iter()
        .any(|a| a.starts_with("--salt") || a.starts_with("--iterations"));
    if has_kdf {
        rest.splice(0..0, ["--compat".to_owned(), "1.6".to_owned()]);
    }
    let args = ChatArgs::parse(rest)?;
    if args.help {
        println!("{USAGE}");
        return Ok(());
    }
    if args.name.is_some() || args.lock || args.state_dir.is_some() {
        return Err(
            "only --ask-password, --salt, --salt-hex, --iterations and --ca apply here".into(),
        );
    }
    let location = args.location.clone().ok_or("no LOCATION (see --help)")?;
    let target = Target::parse(&location)?.with_login_password()?;
    let password = if ask {
        let pw = secret::prompt_secret("FTPChat 1.6 password: ").map_err(|e| e.to_string())?;
        Some(Password::new(pw.as_str()))
    } else {
        std::env::var(ROOM_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Password::new)
    };
    let ca_pem = match &args.ca_file {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| format!("--ca {}: {e}", p.display()))?)
        }
        None => None,
    };
    let opened = open_transport(
        &target,
        &TransportOptions {
            ca_pem,
            ..TransportOptions::default()
        },
    )?;
    // Reading never writes: the codec chosen here only matters for sending.
    let config = chat::room_config(
        &target.room,
        Some(CompatVersion::V15),
        "reader",
        password,
        args.compat_kdf()?,
    )?;
    let room = Room::open(Arc::clone(&opened.transport), config).map_err(|e| e.to_string())?;
    let update = room.sync().map_err(|e| e.to_string())?;
    for event in &update.events {
        match event {
            RoomEvent::UndecodableLine { offset, error, .. } => {
                eprintln!("line at byte {offset} not decoded: {error}");
            }
            RoomEvent::WrongPassword { failed_lines } => {
                eprintln!(
                    "{failed_lines} FTPChat 1.6 line(s) did not open: wrong or missing password, \
                     or a different --salt/--iterations"
                );
            }
            _ => {}
        }
    }
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    for m in &update.messages {
        // Show the time as the writer wrote it (FTPChat lines carry their local time).
        let mut m = m.clone();
        if m.local_time.is_some() {
            m.timestamp_ms = None;
        }
        println!("{}", chat::format_message(&m, &chrono::Local, now_ms));
    }
    eprintln!(
        "{} message(s) from {}",
        update.messages.len(),
        room.describe()
    );
    Ok(())
}
