//! `read-ftpchat`: decodes an FTPChat chat file (1.5, 1.6 and 1.7 lines, each detected on
//! its own), local or over FTP, and prints it.
//!
//! ```text
//! read-ftpchat ./chat.txt                                   # FTPChat 1.5 lines
//! read-ftpchat --ask-password ftp://user:pw@host/dir/chat.txt   # 1.6 and 1.7 lines too
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use ftpchat_core::Codec;
use ftpchat_core::{Password, Room, RoomEvent};
use ftpchat_examples::chat::{self, ChatArgs, CompatVersion};
use ftpchat_examples::location::{open_transport, Target, TransportOptions};
use ftpchat_examples::secret::{self, ROOM_PASSWORD_ENV};

const USAGE: &str = "\
read-ftpchat: print an FTPChat chat file

USAGE:
    read-ftpchat [OPTIONS] LOCATION

LOCATION: the chat file: a path, file:///..., ftp://[user[:pw]@]host[:port]/dir/chat.txt,
          ftps://... or ftpes://... (both require TLS, never plain FTP)

Every line is detected on its own, so a file written by several clients reads whole:
    FTPChat 1.7 lines   a raw Fernet token (gAAAAA...)                   need the password
    FTPChat 1.6 lines   the token base64-encoded once more (Z0FBQUFB...) need the password
    FTPChat 1.5 lines   substitution + zlib + base64                     no key at all
The password is all that 1.6 and 1.7 lines need: both clients derive the key with
PBKDF2-HMAC-SHA256, the salt q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E (42 bytes, the same
for every chat) and 100000 iterations.

OPTIONS:
    --ask-password      prompt for the chat password (else FTPCHAT_PASSWORD; without a
                        password only FTPChat 1.5 lines, which have no key, are decoded)
    --salt TEXT         only for files made with other key-derivation values: the salt
    --salt-hex HEX      the same, in hex
    --iterations N      the same: the iterations
    --ca FILE           trust this PEM certificate for FTPS
    -h, --help          this text

Messages go to standard output, one per line (`[time] sender: text`, the writer's local
time, continuation lines indented); lines that do not decode, and why, go to standard
error. Nothing is written to the file.";

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
            // The salt and iterations options are the chat client's (`--compat 1.7`).
            _ => rest.push(arg),
        }
    }
    if rest.iter().any(|a| a.starts_with("--compat")) {
        return Err("--compat does not apply here: every line shape is read".into());
    }
    let has_kdf = rest
        .iter()
        .any(|a| a.starts_with("--salt") || a.starts_with("--iterations"));
    if has_kdf {
        rest.splice(0..0, ["--compat".to_owned(), "1.7".to_owned()]);
    }
    let args = ChatArgs::parse(rest)?;
    if args.help {
        println!("{USAGE}");
        return Ok(());
    }
    if args.name.is_some() || args.lock || args.state_dir.is_some() || args.show_unauthenticated {
        return Err(
            "only --ask-password, --salt, --salt-hex, --iterations and --ca apply here".into(),
        );
    }
    let location = args.location.clone().ok_or("no LOCATION (see --help)")?;
    let target = Target::parse(&location)?.with_login_password()?;
    let password = if ask {
        let pw = secret::prompt_secret(&format!("Password of {}: ", target.room))
            .map_err(|e| e.to_string())?;
        Some(Password::new(pw.as_str()))
    } else {
        std::env::var(ROOM_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Password::new)
    };
    let keyed = password.is_some();
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
    // A room that writes 1.5 reads every line shape, shows 1.5 lines and never refuses to
    // read under a password that opens nothing; it writes nothing here (nothing is sent).
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
            RoomEvent::UndecodableLine { .. } => eprintln!("not decoded: {event}"),
            RoomEvent::WrongPassword { failed_lines } => {
                eprintln!(
                    "{failed_lines} FTPChat 1.6/1.7 line(s) did not open: {}",
                    if keyed {
                        "wrong password (or a file made with other --salt/--iterations values)"
                    } else {
                        "no password (use --ask-password or FTPCHAT_PASSWORD)"
                    }
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
    let keyless = update
        .messages
        .iter()
        .filter(|m| m.codec == Codec::Legacy15)
        .count();
    if keyed && keyless > 0 && keyless < update.messages.len() {
        eprintln!(
            "{keyless} of these are FTPChat 1.5 lines: they have no key, so anyone with write \
             access to the file could have written them, under any name"
        );
    }
    eprintln!(
        "{} message(s) from {}",
        update.messages.len(),
        room.describe()
    );
    Ok(())
}
