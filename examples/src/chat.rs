//! The parts of the `chat` client that are not terminal I/O: command-line arguments, input
//! commands, the transcript (messages in arrival order with their pending/confirmed state)
//! and how a message is rendered.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::net::IpAddr;
use std::path::PathBuf;

use chrono::{DateTime, TimeZone};
use ftpchat_core::KdfParams;
use ftpchat_core::{default_compat_kdf, Password, Role, RoomConfig, RoomError, WriteCodec};
use ftpchat_core::{Attachment, MemberId, Message, MessageId, MessageStatus};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// The room the embedded server's chat uses unless `--room` says otherwise.
pub const DEFAULT_ROOM: &str = "lobby";
/// The embedded server's default port (`serve`; `chat` without a location takes any free
/// port when it is in use).
pub const DEFAULT_PORT: u16 = 2221;
/// Messages shown when a room is first read; older ones come with `/history`.
pub const INITIAL_MESSAGES: usize = 200;
/// Messages `/history` loads when no count is given.
pub const HISTORY_PAGE: usize = 50;

/// How many matches `/search` shows.
pub const SEARCH_PAGE: usize = 20;

/// The lines `/search` shows for the messages `found` (newest first) matching `query`.
pub fn search_lines(query: &str, found: &[Message]) -> Vec<String> {
    if found.is_empty() {
        return vec![format!("no message contains {query:?}")];
    }
    let mut lines = vec![format!(
        "{} message(s) containing {query:?}, newest first:",
        found.len()
    )];
    for m in found {
        let when = m
            .timestamp_ms
            .and_then(|ms| i64::try_from(ms).ok())
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M ")
                    .to_string()
            })
            .unwrap_or_default();
        let text = m.text.replace(['\n', '\r'], " ");
        lines.push(format!("  {when}{}: {text}", m.sender));
    }
    lines
}

/// Mark of an own message still in the outbox.
pub const PENDING_MARK: &str = "…";
/// Mark of an own message read back from the server.
pub const CONFIRMED_MARK: &str = "✓";

/// The command-line help of `chat`.
pub const USAGE: &str = "\
ftpchat terminal client

USAGE:
    chat [OPTIONS]              start a server on this machine and chat there
    chat [OPTIONS] LOCATION     join a chat
    chat --members [LOCATION]   a member room (no room password; see MEMBER ROOMS)
    chat --join INVITATION [LOCATION]
                                join a member room with an invitation from /invite

LOCATION (its last component is the room):
    ftp://[user[:password]@]host[:port]/[dir/]ROOM     plain FTP
    ftps://...                                       explicit FTPS (TLS required)
    ftpes://...                                      the same as ftps:// (never plain FTP)
    /path/to/folder/ROOM, file:///path/...           a local or synced folder

OPTIONS:
    --name NAME          your display name (default: $USER)
    --compat [VERSION]   ROOM is an FTPChat shared chat file instead of a native room; you
                         write lines as that FTPChat client does (default 1.7). Every line
                         shape in the file is read, whatever you pick:
                           1.7  FTPChat 1.7: one raw Fernet token per line (gAAAAA...)
                           1.6  FTPChat 1.6: the token base64-encoded once more (Z0FBQUFB...)
                           1.5  FTPChat 1.5: substitution + zlib + base64, NO KEY: anyone who
                                can read the file reads every message
                         Pick the oldest client that must read the file: a 1.7 client stops
                         showing anything after the first line it cannot decrypt, so with
                         any 1.7 client in the chat use 1.7. 1.6 and 1.7 need only the room
                         password: both clients derive the key with PBKDF2-HMAC-SHA256 and
                         the constants salt q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E
                         (42 bytes) and 100000 iterations, ftpchat's defaults
    --salt TEXT          1.6/1.7 only, for files made with other key-derivation values: the
                         salt (default: the clients' constant above)
    --salt-hex HEX       the same, in hex
    --iterations N       1.6/1.7 only: the iterations (default: 100000)
    --show-unauthenticated
                         1.6/1.7 only: also show keyless 1.5 lines found in the file (hidden
                         by default: anyone with write access could have written them, under
                         any name)
    --lock               take a directory lock around each append (FTPChat files on servers
                         whose APPE is not atomic; every writer must use it)
    --ca FILE            trust this PEM certificate for FTPS (self-signed servers)
    --members            a member room: every message is signed by a device, only members
                         read it, admins invite and remove members. Created (you its admin)
                         when LOCATION has no room yet; without LOCATION, on the started
                         server
    --join INVITATION    join the member room of an invitation (ftpchat://join?..., quoted;
                         line breaks and spaces in it are ignored). It names the LOCATION; give
                         one after it to log in with your own FTP account instead
    --state-dir DIR      keep writer id, read positions and unsent messages in DIR; member
                         rooms also keep this device's identity (its secret key) and the
                         fingerprints you verified there (default for member rooms:
                         $XDG_DATA_HOME/ftpchat/chat or ~/.local/share/ftpchat/chat). Two
                         people on one machine need two state folders
    --room NAME          without LOCATION: the room on the started server (default: lobby)
    --port N             without LOCATION: the port to listen on (default: 2221, else any free)
    --bind ADDR          without LOCATION: the address to listen on (default: 127.0.0.1;
                         0.0.0.0 lets other machines join)
    -h, --help           this text

MEMBER ROOMS (--members, --join): /invite prints an invitation to hand to one person over a
channel you trust (whoever holds it can join once); they run the join command it shows.
/members lists members by id; /whois ID shows a member's device fingerprints and the
safety number to compare with them; /verify ID marks them verified. Messages show their
signer: `name [✓]` for a verified device, `name [12345]` (the start of its fingerprint)
otherwise. Names are chosen by each member and prove nothing: go by ids and fingerprints.
Next time, open the room with --members LOCATION (an invitation works once).

PASSWORDS are never taken from the command line:
    room password        FTPCHAT_PASSWORD, or typed at the prompt (not echoed)
    FTP login password   in the URL, or FTPCHAT_FTP_PASSWORD, or typed at the prompt when the
                         URL has a user but no password
    SFTP                 FTPCHAT_SSH_KEY (a private key file: no password then);
                         host key from ~/.ssh/known_hosts, FTPCHAT_SSH_KNOWN_HOSTS (a file)
                         or FTPCHAT_SSH_HOST_FINGERPRINT (SHA256:...)

FILES (native and member rooms): /send PATH [caption] sends a file, encrypted, up to 100 MiB;
/save [^N] [PATH] saves the last file on screen (^2 the one before) to PATH, or under its
name in the current folder; /cancel stops them. A progress bar shows while they run.

IN THE CHAT: type and press Enter to send. /help lists the commands.";

/// The help shown by `/help`.
pub const IN_CHAT_HELP: &[&str] = &[
    "Commands:",
    "  /help            this help",
    "  /history [N]     show N older messages (default 50; from the local store when the",
    "                   room has a state folder, without the server)",
    "  /search WORDS    the newest messages containing every word (a word matches the",
    "                   words it starts; case and accents ignored; needs a state folder)",
    "  /edit [^N] TEXT  replace the text of your last message (^2: the one before, ...)",
    "  /delete [^N]     delete your last message (everyone's client drops its text)",
    "  /react [^N] R    react to the last message with R, e.g. +1 (no R: take yours back)",
    "  /send PATH [TEXT] send a file (encrypted; up to 100 MiB) with an optional caption;",
    "                   quote a PATH with spaces: /send 'my photo.png' look at this",
    "  /save [^N] [PATH] save the last file on screen (^2: the one before, ...) to PATH",
    "                   (a file or a folder; default: the file's name in this folder)",
    "  /cancel          stop the files being sent or saved (a save resumes next time)",
    "Member rooms (--members): ID is the start of a member id from /members (names are",
    "chosen by each member and not authenticated: a unique name works, ids are safer)",
    "  /invite [admin]  an invitation (one person, once) and the command that joins with it",
    "  /members         members: role, id, name, device fingerprints, verified or not",
    "  /whois ID        a member's full fingerprints and your safety number with them",
    "  /verify ID       mark a member's devices verified (after comparing the safety number)",
    "  /unverify ID     take it back",
    "  /remove ID       remove a member (admins; your own id leaves the room)",
    "  /promote ID      make a member an admin (admins)",
    "  /who             who is online now (and who is typing)",
    "  /last            who was online in the last hour",
    "  /seen            who has seen your last message (\"seen by 2 of 3\")",
    "  /msg ID TEXT     a private message: only that member (all their devices) reads it",
    "  /open ID         show the private conversation with a member (typing goes there)",
    "  /room            back to the room's conversation",
    "  /block ID        hide a member's messages on your devices (they are not told)",
    "  /unblock ID      show them again (/history brings back what was hidden)",
    "  /quit            leave (also Ctrl-C)",
    "  //text           send a message that starts with '/'",
    "Keys: Enter sends, PageUp/PageDown scroll, Esc clears the input line.",
    "Marks: … waiting in the outbox (not on the server yet), ✓ on the server.",
    "Signers (member rooms): name [✓] a verified device, name [12345] fingerprint start.",
];

/// Which FTPChat client's lines to write into a shared file (every shape is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompatVersion {
    /// FTPChat 1.5: no key (anyone can read it).
    V15,
    /// FTPChat 1.6: base64 of a Fernet token, with a password.
    V16,
    /// FTPChat 1.7: a raw Fernet token, with a password.
    V17,
}

impl CompatVersion {
    /// The version when `--compat` has no value: the newest client, whose readers stop at
    /// the first line they cannot decrypt.
    pub const DEFAULT: CompatVersion = CompatVersion::V17;

    /// Parses `1.5`, `1.6` or `1.7`.
    pub fn parse(s: &str) -> Option<CompatVersion> {
        match s {
            "1.5" => Some(CompatVersion::V15),
            "1.6" => Some(CompatVersion::V16),
            "1.7" => Some(CompatVersion::V17),
            _ => None,
        }
    }

    /// `1.5`, `1.6` or `1.7`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompatVersion::V15 => "1.5",
            CompatVersion::V16 => "1.6",
            CompatVersion::V17 => "1.7",
        }
    }

    /// The codec written.
    pub fn codec(self) -> WriteCodec {
        match self {
            CompatVersion::V15 => WriteCodec::Legacy15,
            CompatVersion::V16 => WriteCodec::Fernet16,
            CompatVersion::V17 => WriteCodec::Fernet17,
        }
    }

    /// `true` for 1.6 and 1.7 (a password and a key derivation).
    pub fn is_keyed(self) -> bool {
        self != CompatVersion::V15
    }
}

/// Parsed command line of `chat`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatArgs {
    /// Where to join; `None` starts the embedded server.
    pub location: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// FTPChat shared file instead of a native room, written as this client does.
    pub compat: Option<CompatVersion>,
    /// 1.6/1.7 KDF salt (other than the clients').
    pub salt: Option<Vec<u8>>,
    /// 1.6/1.7 KDF iterations (other than the clients').
    pub iterations: Option<u32>,
    /// Show keyless 1.5 lines in a 1.6/1.7 file.
    pub show_unauthenticated: bool,
    /// Shared-file lock.
    pub lock: bool,
    /// CA certificate file for FTPS.
    pub ca_file: Option<PathBuf>,
    /// Local state folder.
    pub state_dir: Option<PathBuf>,
    /// A member room (`--members`, or implied by `--join`).
    pub members: bool,
    /// The invitation to join with (`--join`), as given.
    pub join: Option<String>,
    /// Room on the embedded server.
    pub room: Option<String>,
    /// Port of the embedded server.
    pub port: Option<u16>,
    /// Listen address of the embedded server.
    pub bind: Option<IpAddr>,
    /// `-h` / `--help`.
    pub help: bool,
}

fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("--salt-hex needs an even number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("--salt-hex: {s:?} is not hex"))
        })
        .collect()
}

/// Refuses options that would put a password on the command line.
fn refuse_password_option(flag: &str) -> Result<(), String> {
    if flag.contains("password") {
        return Err(format!(
            "{flag}: passwords are never taken from the command line; set FTPCHAT_PASSWORD \
             (room) or FTPCHAT_FTP_PASSWORD (FTP login), or type them at the prompt"
        ));
    }
    Ok(())
}

impl ChatArgs {
    /// Parses the arguments (without the program name).
    pub fn parse<I, S>(args: I) -> Result<ChatArgs, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out = ChatArgs::default();
        let mut it = args.into_iter().map(Into::into).peekable();
        while let Some(arg) = it.next() {
            if arg == "-h" || arg == "--help" {
                out.help = true;
                continue;
            }
            if !arg.starts_with("--") || arg == "--" {
                let value = if arg == "--" {
                    it.next().ok_or("-- must be followed by the location")?
                } else {
                    arg
                };
                if out.location.replace(value).is_some() {
                    return Err("only one location can be given".into());
                }
                continue;
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
                None => (arg.clone(), None),
            };
            refuse_password_option(&flag)?;
            if flag == "--lock" || flag == "--show-unauthenticated" || flag == "--members" {
                if inline.is_some() {
                    return Err(format!("{flag} takes no value"));
                }
                match flag.as_str() {
                    "--lock" => out.lock = true,
                    "--members" => out.members = true,
                    _ => out.show_unauthenticated = true,
                }
                continue;
            }
            if flag == "--compat" {
                // The version is optional: `--compat LOCATION` means the default. A next
                // argument that starts with a digit is meant as a version.
                let value = match inline {
                    Some(v) => Some(v),
                    None => it.next_if(|v| v.starts_with(|c: char| c.is_ascii_digit())),
                };
                out.compat = Some(match value {
                    None => CompatVersion::DEFAULT,
                    Some(v) => CompatVersion::parse(&v).ok_or_else(|| {
                        format!(
                            "--compat {v}: use 1.7, 1.6 or 1.5 (for a chat file whose name \
                             starts with a digit, write ./{v})"
                        )
                    })?,
                });
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => it.next().ok_or_else(|| format!("{flag} needs a value"))?,
            };
            match flag.as_str() {
                "--name" => out.name = Some(value),
                "--salt" => out.salt = Some(value.into_bytes()),
                "--salt-hex" => out.salt = Some(parse_hex(&value)?),
                "--iterations" => {
                    out.iterations = Some(
                        value
                            .parse()
                            .map_err(|_| format!("--iterations {value}: not a number"))?,
                    )
                }
                "--ca" => out.ca_file = Some(value.into()),
                "--state-dir" => out.state_dir = Some(value.into()),
                "--join" => {
                    if out.join.replace(value).is_some() {
                        return Err("only one --join can be given".into());
                    }
                    out.members = true;
                }
                "--room" => out.room = Some(value),
                "--port" => {
                    out.port = Some(
                        value
                            .parse()
                            .map_err(|_| format!("--port {value}: not a port number"))?,
                    )
                }
                "--bind" => {
                    out.bind = Some(
                        value
                            .parse()
                            .map_err(|_| format!("--bind {value}: not an IP address"))?,
                    )
                }
                other => return Err(format!("unknown option {other} (see --help)")),
            }
        }
        let hosting_options = out.port.is_some() || out.bind.is_some() || out.room.is_some();
        if out.join.is_some() && hosting_options {
            return Err("--room, --port and --bind are for the started server, not --join".into());
        }
        if out.members && out.compat.is_some() {
            return Err(
                "--members and --join are for member rooms; --compat is for FTPChat files".into(),
            );
        }
        if out.location.is_some() && hosting_options {
            return Err(
                "--room, --port and --bind are for the started server (no LOCATION)".into(),
            );
        }
        let keyed = out.compat.is_some_and(CompatVersion::is_keyed);
        if (out.salt.is_some() || out.iterations.is_some()) && !keyed {
            return Err(
                "--salt and --iterations are for --compat 1.7 and 1.6 (FTPChat files \
                        made with other key-derivation values)"
                    .into(),
            );
        }
        if out.show_unauthenticated && !keyed {
            return Err("--show-unauthenticated is for --compat 1.7 and 1.6".into());
        }
        if out.lock && out.compat.is_none() {
            return Err("--lock is for --compat rooms (native rooms never share a file)".into());
        }
        Ok(out)
    }

    /// The KDF parameters of a 1.6/1.7 room (the real clients' unless set).
    pub fn compat_kdf(&self) -> Result<KdfParams, String> {
        let default = default_compat_kdf();
        let salt = self.salt.clone().unwrap_or_else(|| default.salt().to_vec());
        let iterations = self.iterations.unwrap_or(default.iterations());
        KdfParams::new(salt, u64::from(iterations)).map_err(|e| e.to_string())
    }

    /// `true` when this room needs a password (native, 1.6 and 1.7 rooms; 1.5 has no key,
    /// member rooms have device identities instead).
    pub fn needs_password(&self) -> bool {
        self.compat != Some(CompatVersion::V15) && !self.members
    }

    /// `true` when the chat starts its own server (no LOCATION, no invitation).
    pub fn hosts(&self) -> bool {
        self.location.is_none() && self.join.is_none()
    }

    /// The options another person needs to open the same room (the compat version and
    /// key-derivation values; never a password), each followed by a space.
    pub fn room_options(&self) -> String {
        let mut out = String::new();
        if let Some(v) = self.compat {
            out += &format!("--compat {} ", v.as_str());
        }
        if let Some(salt) = &self.salt {
            let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
            out += &format!("--salt-hex {hex} ");
        }
        if let Some(n) = self.iterations {
            out += &format!("--iterations {n} ");
        }
        out
    }
}

/// The display name to use: `--name`, else the login name (`$USER`, `$USERNAME`,
/// `$LOGNAME`, else the account: [`crate::cli::login_name`]), else `guest`.
pub fn default_name(explicit: Option<&str>) -> String {
    crate::cli::display_name(explicit, None)
}

/// The room configuration for `room` (a directory, or the chat file with `compat`).
pub fn room_config(
    room: &str,
    compat: Option<CompatVersion>,
    display_name: &str,
    password: Option<Password>,
    compat_kdf: KdfParams,
) -> Result<RoomConfig, String> {
    let config = match compat {
        None => {
            let password = password.ok_or("a native room needs a password")?;
            RoomConfig::native(room, display_name, password)
        }
        Some(version) => {
            let mut config = RoomConfig::shared_file(room, version.codec(), display_name)
                .with_compat_kdf(compat_kdf);
            if let Some(p) = password {
                config = config.with_password(p);
            } else if version.is_keyed() {
                return Err(format!(
                    "an FTPChat {} room needs a password",
                    version.as_str()
                ));
            }
            config
        }
    };
    Ok(config)
}

/// What a line typed in the chat means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send this text.
    Send(String),
    /// Show the help.
    Help,
    /// Load this many older messages.
    History(usize),
    /// Search the room's messages for these words.
    Search(String),
    /// Leave.
    Quit,
    /// Member rooms: an invitation with this role.
    Invite(Role),
    /// Member rooms: list the members.
    Members,
    /// Member rooms: show a member's fingerprints and safety number.
    Whois(String),
    /// Member rooms: mark a member's devices verified.
    Verify(String),
    /// Member rooms: take a verification back.
    Unverify(String),
    /// Member rooms: remove a member.
    Remove(String),
    /// Member rooms: make a member an admin.
    Promote(String),
    /// Member rooms: who is online now.
    Who,
    /// Member rooms: who was online in the last hour.
    Last,
    /// Member rooms: who has seen your last message.
    Seen,
    /// Member rooms: a private message to a member.
    Msg {
        /// The member (id prefix or name).
        to: String,
        /// The text.
        text: String,
    },
    /// Member rooms: show the private conversation with a member.
    Open(String),
    /// Back to the room's conversation.
    Room,
    /// Member rooms: block a member.
    Block(String),
    /// Member rooms: unblock a member.
    Unblock(String),
    /// Replace the text of the `back`-th last own message (1: the last).
    Edit {
        /// Which own message, counting back from the newest (1-based).
        back: usize,
        /// The new text.
        text: String,
    },
    /// Delete the `back`-th last own message.
    Delete {
        /// Which own message, counting back from the newest (1-based).
        back: usize,
    },
    /// React to the `back`-th last message (empty: take the reaction back).
    React {
        /// Which message, counting back from the newest (1-based).
        back: usize,
        /// The reaction.
        reaction: String,
    },
    /// Send a file with a caption (may be empty).
    SendFile {
        /// The file, as typed (quotes removed).
        path: String,
        /// The caption.
        caption: String,
    },
    /// Save the file of the `back`-th last message that has one.
    Save {
        /// Which file on screen, counting back from the newest (1-based).
        back: usize,
        /// Where to (a file or a folder), as typed; `None`: its name in this folder.
        path: Option<String>,
    },
    /// Stop the transfers running.
    Cancel,
    /// An unknown `/command`.
    Unknown(String),
    /// Nothing (an empty line).
    Nothing,
}

impl Command {
    /// Interprets a typed line.
    pub fn parse(input: &str) -> Command {
        if input.trim().is_empty() {
            return Command::Nothing;
        }
        if let Some(rest) = input.strip_prefix("//") {
            return Command::Send(format!("/{rest}"));
        }
        let Some(command) = input.strip_prefix('/') else {
            return Command::Send(input.to_owned());
        };
        let mut words = command.split_whitespace();
        let (verb, first) = (words.next().unwrap_or_default(), words.next());
        // Commands about one member take its id prefix, or a name (which may have spaces).
        let member_arg = || {
            let rest = command[verb.len()..].trim();
            (!rest.is_empty()).then(|| rest.to_owned())
        };
        let about_member: Option<fn(String) -> Command> = match verb {
            "whois" => Some(Command::Whois),
            "verify" => Some(Command::Verify),
            "unverify" => Some(Command::Unverify),
            "remove" | "kick" => Some(Command::Remove),
            "promote" => Some(Command::Promote),
            "open" | "query" => Some(Command::Open),
            "block" => Some(Command::Block),
            "unblock" => Some(Command::Unblock),
            _ => None,
        };
        if let Some(make) = about_member {
            return member_arg().map_or_else(|| Command::Unknown(input.to_owned()), make);
        }
        // `/edit [^N] TEXT`, `/delete [^N]`, `/react [^N] [R]`: `^N` picks the N-th last.
        if matches!(verb, "edit" | "delete" | "react") {
            let rest = command[verb.len()..].trim_start();
            let (back, rest) = match rest.strip_prefix('^') {
                Some(r) => {
                    let digits = r.split_whitespace().next().unwrap_or_default();
                    match digits.parse::<usize>() {
                        Ok(n) if n > 0 => (n, r[digits.len()..].trim_start()),
                        _ => return Command::Unknown(input.to_owned()),
                    }
                }
                None => (1, rest),
            };
            return match verb {
                "edit" if !rest.trim().is_empty() => Command::Edit {
                    back,
                    text: rest.to_owned(),
                },
                "delete" if rest.is_empty() => Command::Delete { back },
                "react" => Command::React {
                    back,
                    reaction: rest.trim().to_owned(),
                },
                _ => Command::Unknown(input.to_owned()),
            };
        }
        if verb == "send" {
            return match split_path(&command[verb.len()..]) {
                Some((path, caption)) => Command::SendFile {
                    path,
                    caption: caption.trim().to_owned(),
                },
                None => Command::Unknown(input.to_owned()),
            };
        }
        if verb == "save" {
            let rest = command[verb.len()..].trim();
            let (back, rest) = match rest.strip_prefix('^') {
                Some(r) => {
                    let digits = r.split_whitespace().next().unwrap_or_default();
                    match digits.parse::<usize>() {
                        Ok(n) if n > 0 => (n, r[digits.len()..].trim()),
                        _ => return Command::Unknown(input.to_owned()),
                    }
                }
                None => (1, rest),
            };
            if rest.is_empty() {
                return Command::Save { back, path: None };
            }
            // The rest is the path (spaces and all); quotes around it are removed.
            if !rest.starts_with(['"', '\'']) {
                return Command::Save {
                    back,
                    path: Some(rest.to_owned()),
                };
            }
            return match split_path(rest) {
                Some((path, "")) => Command::Save {
                    back,
                    path: Some(path),
                },
                _ => Command::Unknown(input.to_owned()),
            };
        }
        if verb == "msg" {
            let rest = command[verb.len()..].trim_start();
            return match rest.split_once(char::is_whitespace) {
                Some((to, text)) if !text.trim().is_empty() => Command::Msg {
                    to: to.to_owned(),
                    text: text.trim_start().to_owned(),
                },
                _ => Command::Unknown(input.to_owned()),
            };
        }
        match (verb, first) {
            ("help" | "h" | "?", None) => Command::Help,
            ("room", None) => Command::Room,
            ("quit" | "q" | "exit", None) => Command::Quit,
            ("invite", None) => Command::Invite(Role::Member),
            ("invite", Some("admin")) if words.next().is_none() => Command::Invite(Role::Admin),
            ("invite", Some("member")) if words.next().is_none() => Command::Invite(Role::Member),
            ("members", None) => Command::Members,
            ("who", None) => Command::Who,
            ("last", None) => Command::Last,
            ("seen", None) => Command::Seen,
            ("cancel", None) => Command::Cancel,
            ("search", Some(_)) => Command::Search(command[verb.len()..].trim().to_owned()),
            ("history", None) => Command::History(HISTORY_PAGE),
            ("history", Some(n)) => match n.parse() {
                Ok(n) if n > 0 && words.next().is_none() => Command::History(n),
                _ => Command::Unknown(input.to_owned()),
            },
            _ => Command::Unknown(input.to_owned()),
        }
    }
}

/// Splits a path off the start of `rest`: quoted with `'...'` or `"..."` (then it may
/// hold spaces), else up to the first space. Returns the path and what follows it;
/// `None` when there is no path (or a quote is not closed).
fn split_path(rest: &str) -> Option<(String, &str)> {
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| matches!(c, '"' | '\''));
    if let Some(q) = quote {
        let inner = &rest[1..];
        let end = inner.find(q)?;
        let after = &inner[end + 1..];
        if inner[..end].is_empty() || !(after.is_empty() || after.starts_with(char::is_whitespace))
        {
            return None;
        }
        return Some((inner[..end].to_owned(), after.trim_start()));
    }
    match rest.split_once(char::is_whitespace) {
        Some((path, after)) => Some((path.to_owned(), after.trim_start())),
        None if !rest.is_empty() => Some((rest.to_owned(), "")),
        None => None,
    }
}

/// `~` and `~/...` in a typed path mean the home folder (`$HOME`).
pub fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    match (path, home) {
        ("~", Some(home)) => PathBuf::from(home),
        (p, Some(home)) if p.starts_with("~/") => PathBuf::from(home).join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

/// Where `/save` writes a file called `name` (checked by the core: one path component,
/// no control characters): `requested` (`~` expanded), or `name` inside it when it is a
/// folder (or ends with `/`); `name` in the current folder without one.
pub fn save_target(requested: Option<&str>, name: &str) -> PathBuf {
    let Some(requested) = requested else {
        return PathBuf::from(name);
    };
    let path = expand_home(requested);
    if requested.ends_with('/') || requested == "~" || path.is_dir() {
        path.join(name)
    } else {
        path
    }
}

/// A transfer's progress: `[#####-----] 52% 5.2/10.0 MiB` (both sizes in the unit of
/// the total).
pub fn progress_bar(done: u64, total: u64) -> String {
    const WIDTH: u64 = 10;
    let done = done.min(total);
    // Nothing to transfer is done.
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let (unit, div) = match total {
        t if t >= 1 << 30 => ("GiB", 1u64 << 30),
        t if t >= 1 << 20 => ("MiB", 1 << 20),
        t if t >= 1 << 10 => ("KiB", 1 << 10),
        _ => ("B", 1),
    };
    let amount = if div == 1 {
        format!("{done}/{total} B")
    } else {
        let f = |n: u64| n as f64 / div as f64;
        format!("{:.1}/{:.1} {unit}", f(done), f(total))
    };
    format!(
        "[{}{}] {percent}% {amount}",
        "#".repeat(filled as usize),
        "-".repeat((WIDTH - filled) as usize)
    )
}

/// The mark before an attachment's description.
pub const ATTACHMENT_MARK: &str = "\u{1f4ce}";

/// How a file attached to a message is shown: `📎 photo.png (image/png, 1.2 MiB)`.
pub fn attachment_text(a: &Attachment) -> String {
    format!(
        "{ATTACHMENT_MARK} {} ({}, {})",
        sanitize(a.name()),
        sanitize(a.media_type()),
        human_bytes(a.size())
    )
}

/// Which way a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `/send`: from this machine to the room.
    Send,
    /// `/save`: from the room to this machine.
    Save,
}

/// One line that says why sending or saving the file `name` failed.
pub fn transfer_error(e: &RoomError, direction: Direction, name: &str) -> String {
    let name = sanitize(name);
    let (failed, again) = match direction {
        Direction::Send => ("not sent", "/send again to retry"),
        Direction::Save => ("not saved", "/save again resumes"),
    };
    let line = match (e, direction) {
        (RoomError::FileTooLarge { size, limit }, Direction::Send) => format!(
            "{failed}: {name} has {}, over this room's limit of {} for files",
            human_bytes(*size),
            human_bytes(*limit)
        ),
        (RoomError::FileTooLarge { size, limit }, Direction::Save) => format!(
            "{failed}: {name} has {}, over this client's limit of {} for files",
            human_bytes(*size),
            human_bytes(*limit)
        ),
        (RoomError::Cancelled, Direction::Send) => {
            format!("sending {name} cancelled: nothing was sent")
        }
        (RoomError::Cancelled, Direction::Save) => format!(
            "saving {name} cancelled: the part already checked is kept, /save again resumes"
        ),
        (RoomError::BadAttachment(why), _) => format!(
            "{failed}: {name} on the server is missing or damaged ({why}); nothing was written"
        ),
        (RoomError::LocalFile { path, source }, Direction::Send) => {
            format!("{failed}: cannot read {}: {source}", path.display())
        }
        (RoomError::LocalFile { path, source }, Direction::Save) => {
            format!("{failed}: cannot write {}: {source}", path.display())
        }
        (RoomError::Unsupported(_), Direction::Send) => format!(
            "{failed}: files need a native or member room (an FTPChat chat file cannot carry \
             them)"
        ),
        (RoomError::Unsupported(_), Direction::Save) => {
            format!("{failed}: that message has no file (any more)")
        }
        (RoomError::MessageTooLarge, _) => format!("{failed}: the caption is too long"),
        (RoomError::NotAMember, _) => {
            format!("{failed}: you are not a member of this room (you were removed)")
        }
        (RoomError::UnknownMessage(_), _) => {
            format!("{failed}: the message of {name} is not in the room any more")
        }
        (e, _) if e.is_transient() => {
            format!("{failed}: {name}: the server did not answer ({e}); {again}")
        }
        (e, _) => format!("{failed}: {name}: {e}"),
    };
    // One line, whatever an error message holds.
    line.replace(['\n', '\r'], " ")
}

/// A line of the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A chat message.
    Message(Message),
    /// A note from the client (join command, errors, help).
    Notice(String),
}

/// The messages on screen, in arrival order, each once.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    entries: Vec<Entry>,
    index: HashMap<MessageId, usize>,
    /// Whether the first batch of messages has arrived.
    seeded: bool,
    /// Member rooms: the device fingerprints verified on this device.
    verified: BTreeSet<String>,
    /// The conversation shown: the room's (`None`) or a private one with a member.
    conversation: Option<MemberId>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Member rooms: the verified device fingerprints (their messages show `[✓]`).
    pub fn set_verified(&mut self, fingerprints: BTreeSet<String>) {
        self.verified = fingerprints;
    }

    /// Shows the room's conversation (`None`) or the private one with a member; notes
    /// show in every conversation.
    pub fn set_conversation(&mut self, conversation: Option<MemberId>) {
        self.conversation = conversation;
    }

    /// The conversation shown.
    pub fn conversation(&self) -> Option<MemberId> {
        self.conversation
    }

    /// Adds a note.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.entries.push(Entry::Notice(text.into()));
    }

    /// Adds messages not seen before. The first batch (the room's history) is cut to the
    /// newest [`INITIAL_MESSAGES`]; returns how many were left out.
    pub fn add_messages(&mut self, messages: &[Message]) -> usize {
        let mut skip = 0;
        if !self.seeded {
            self.seeded = true;
            skip = messages.len().saturating_sub(INITIAL_MESSAGES);
            if skip > 0 {
                self.notice(format!(
                    "{skip} older messages not shown: /history {skip} shows them"
                ));
            }
        }
        for m in &messages[skip..] {
            self.upsert(m.clone());
        }
        skip
    }

    /// Adds (or updates) one message, e.g. an own message just sent.
    pub fn upsert(&mut self, message: Message) {
        match self.index.get(&message.id) {
            Some(&i) => self.entries[i] = Entry::Message(message),
            None => {
                self.index.insert(message.id, self.entries.len());
                self.entries.push(Entry::Message(message));
            }
        }
    }

    /// Shows the new state of messages already on screen (edited, deleted, reacted to);
    /// others are not shown and stay so.
    pub fn update(&mut self, changed: &[Message]) {
        for m in changed {
            if self.index.contains_key(&m.id) {
                self.upsert(m.clone());
            }
        }
    }

    /// The `back`-th newest message on screen (1: the newest) that is not deleted, and
    /// with `own_only`, of this user.
    pub fn nth_last_message(&self, back: usize, own_only: bool) -> Option<MessageId> {
        self.entries
            .iter()
            .rev()
            .filter_map(|e| match e {
                Entry::Message(m)
                    if !m.deleted && (m.is_own || !own_only) && m.private == self.conversation =>
                {
                    Some(m.id)
                }
                _ => None,
            })
            .nth(back.checked_sub(1)?)
    }

    /// The `back`-th newest message on screen (1: the newest) that carries a file, in the
    /// conversation shown.
    pub fn nth_last_attachment(&self, back: usize) -> Option<&Message> {
        self.entries
            .iter()
            .rev()
            .filter_map(|e| match e {
                Entry::Message(m)
                    if !m.deleted && m.attachment.is_some() && m.private == self.conversation =>
                {
                    Some(m)
                }
                _ => None,
            })
            .nth(back.checked_sub(1)?)
    }

    /// Marks own messages as on the server.
    pub fn confirm(&mut self, ids: &[MessageId]) {
        for id in ids {
            if let Some(&i) = self.index.get(id) {
                if let Entry::Message(m) = &mut self.entries[i] {
                    m.status = MessageStatus::Confirmed;
                }
            }
        }
    }

    /// The oldest message shown (where `/history` continues from).
    pub fn oldest_message(&self) -> Option<MessageId> {
        self.entries.iter().find_map(|e| match e {
            Entry::Message(m) => Some(m.id),
            Entry::Notice(_) => None,
        })
    }

    /// Puts older messages (oldest first) above everything; returns how many were new.
    pub fn prepend(&mut self, older: Vec<Message>) -> usize {
        let fresh: Vec<Entry> = older
            .into_iter()
            .filter(|m| !self.index.contains_key(&m.id))
            .map(Entry::Message)
            .collect();
        let n = fresh.len();
        if n > 0 {
            self.entries.splice(0..0, fresh);
            self.reindex();
        }
        n
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            if let Entry::Message(m) = e {
                self.index.insert(m.id, i);
            }
        }
    }

    /// Every entry rendered and wrapped to `width` columns, in the time zone `tz` (today
    /// being the day of `now_ms`).
    pub fn lines<Tz: TimeZone>(&self, width: u16, tz: &Tz, now_ms: u64) -> Vec<Line<'static>>
    where
        Tz::Offset: Display,
    {
        let mut out = Vec::new();
        for entry in &self.entries {
            let logical = match entry {
                Entry::Message(m) if m.private != self.conversation => continue,
                Entry::Message(m) => {
                    let tag = signer_tag(m, &self.verified);
                    message_lines_signed(m, tag.as_deref(), tz, now_ms)
                }
                Entry::Notice(text) => text
                    .lines()
                    .map(|l| {
                        Line::from(Span::styled(
                            format!("-- {l}"),
                            Style::default().fg(Color::Yellow),
                        ))
                    })
                    .collect(),
            };
            for line in logical {
                out.extend(wrap(line, width));
            }
        }
        out
    }
}

fn local<Tz: TimeZone>(tz: &Tz, ms: u64) -> Option<DateTime<Tz>> {
    tz.timestamp_millis_opt(i64::try_from(ms).ok()?).single()
}

/// When a message was written, for display: `HH:MM` today, else `YYYY-MM-DD HH:MM`; the
/// writer's own local time for FTPChat lines without a known instant; `--:--` if unknown.
pub fn format_time<Tz: TimeZone>(m: &Message, tz: &Tz, now_ms: u64) -> String
where
    Tz::Offset: Display,
{
    if let (Some(at), Some(now)) = (
        m.timestamp_ms.and_then(|ms| local(tz, ms)),
        local(tz, now_ms),
    ) {
        return if at.date_naive() == now.date_naive() {
            at.format("%H:%M").to_string()
        } else {
            at.format("%Y-%m-%d %H:%M").to_string()
        };
    }
    match &m.local_time {
        Some(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            t.year, t.month, t.day, t.hour, t.minute
        ),
        None => "--:--".to_owned(),
    }
}

/// The mark after a message: pending or confirmed for own messages, nothing for others'.
pub fn status_mark(m: &Message) -> &'static str {
    match (m.is_own, m.status) {
        (false, _) => "",
        (true, MessageStatus::Pending) => PENDING_MARK,
        (true, MessageStatus::Confirmed) => CONFIRMED_MARK,
    }
}

/// A message as plain text: `[HH:MM] sender: text ✓` (continuation lines indented).
pub fn format_message<Tz: TimeZone>(m: &Message, tz: &Tz, now_ms: u64) -> String
where
    Tz::Offset: Display,
{
    message_lines(m, tz, now_ms)
        .iter()
        .map(|l| {
            l.spans
                .iter()
                .map(|s| s.content.as_ref())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn sender_color(name: &str) -> Color {
    const PALETTE: [Color; 6] = [
        Color::Cyan,
        Color::Green,
        Color::Magenta,
        Color::Blue,
        Color::LightRed,
        Color::LightGreen,
    ];
    let h = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[(h as usize) % PALETTE.len()]
}

/// Removes control characters (a hostile sender must not drive the terminal).
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// Mark beside the name of a message signed by a device whose fingerprint was verified.
pub const VERIFIED_MARK: &str = "✓";

/// How the signer of someone else's message in a member room is shown after the name:
/// `✓` for a verified device, else the first five digits of its fingerprint. `None` for
/// own and unsigned messages.
pub fn signer_tag(m: &Message, verified: &BTreeSet<String>) -> Option<String> {
    let signer = m.signer.as_deref().filter(|_| !m.is_own)?;
    Some(if verified.contains(signer) {
        VERIFIED_MARK.to_owned()
    } else {
        crate::members::short_fingerprint(signer).to_owned()
    })
}

/// The styled lines of one message (before wrapping).
pub fn message_lines<Tz: TimeZone>(m: &Message, tz: &Tz, now_ms: u64) -> Vec<Line<'static>>
where
    Tz::Offset: Display,
{
    message_lines_signed(m, None, tz, now_ms)
}

/// [`message_lines`] with the signer's `tag` after the name (`bob [✓]: hi`).
pub fn message_lines_signed<Tz: TimeZone>(
    m: &Message,
    tag: Option<&str>,
    tz: &Tz,
    now_ms: u64,
) -> Vec<Line<'static>>
where
    Tz::Offset: Display,
{
    let time = format_time(m, tz, now_ms);
    let text = if m.deleted {
        DELETED_TEXT
    } else {
        m.text.trim_end_matches(['\n', '\r'])
    };
    let mut text_lines = text.split('\n').map(|l| sanitize(l.trim_end_matches('\r')));
    let first = text_lines.next().unwrap_or_default();
    let name_style = Style::default()
        .fg(sender_color(&m.sender))
        .add_modifier(Modifier::BOLD);
    let mut head = vec![
        Span::styled(format!("[{time}] "), Style::default().fg(Color::DarkGray)),
        Span::styled(sanitize(&m.sender), name_style),
    ];
    if let Some(tag) = tag {
        let color = if tag == VERIFIED_MARK {
            Color::Green
        } else {
            Color::DarkGray
        };
        head.push(Span::styled(
            format!(" [{tag}]"),
            Style::default().fg(color),
        ));
    }
    head.push(Span::raw(": "));
    // A file: `📎 name (type, size)`, then its caption (if any) after a dash.
    if let Some(a) = m.attachment.as_ref().filter(|_| !m.deleted) {
        head.push(Span::styled(
            attachment_text(a),
            Style::default().fg(Color::Cyan),
        ));
        if !first.is_empty() {
            head.push(Span::raw(" \u{2014} "));
        }
    }
    head.push(Span::raw(first));
    let rest: Vec<String> = text_lines.collect();
    let mark = status_mark(m);
    let mark_span = (!mark.is_empty()).then(|| {
        let color = if m.status == MessageStatus::Confirmed {
            Color::Green
        } else {
            Color::Yellow
        };
        Span::styled(format!(" {mark}"), Style::default().fg(color))
    });
    // After the text: "(edited)" and the reactions, before the delivery mark.
    let dim = Style::default().fg(Color::DarkGray);
    let mut after = Vec::new();
    if m.edited {
        after.push(Span::styled(format!(" {EDITED_MARK}"), dim));
    }
    if let Some(r) = reactions_text(m) {
        after.push(Span::styled(format!(" [{}]", sanitize(&r)), dim));
    }
    let mark_span: Vec<Span<'static>> = after.into_iter().chain(mark_span).collect();
    let mut lines = Vec::new();
    if rest.is_empty() {
        head.extend(mark_span);
        lines.push(Line::from(head));
    } else {
        lines.push(Line::from(head));
        let last = rest.len() - 1;
        for (i, l) in rest.into_iter().enumerate() {
            let mut spans = vec![Span::raw(format!("    {l}"))];
            if i == last {
                spans.extend(mark_span.clone());
            }
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// What a deleted message shows instead of its text.
pub const DELETED_TEXT: &str = "(message deleted)";
/// The mark after an edited message's text.
pub const EDITED_MARK: &str = "(edited)";

/// A message's reactions as shown after it: `+1 x2 | wow` (the most chosen first, a count
/// when more than one chose it, `*` on this user's own); `None` without reactions.
pub fn reactions_text(m: &Message) -> Option<String> {
    let parts: Vec<String> = m
        .reactions
        .iter()
        .map(|r| {
            let count = match r.senders.len() {
                1 => String::new(),
                n => format!(" x{n}"),
            };
            let own = if r.own { "*" } else { "" };
            format!("{}{count}{own}", r.reaction)
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" | "))
}

/// Wraps a styled line at `width` columns (by character; wide characters count double).
pub fn wrap(line: Line<'static>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut out = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                if !piece.is_empty() {
                    current.push(Span::styled(std::mem::take(&mut piece), span.style));
                }
                out.push(Line::from(std::mem::take(&mut current)));
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            current.push(Span::styled(piece, span.style));
        }
    }
    out.push(Line::from(current));
    out
}

/// Human-readable byte count (`1.5 MiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};
    use ftpchat_core::{Codec, LegacyTimestamp};

    #[test]
    fn search_results_are_one_line_each() {
        let found = [
            msg(2, "Bob", "lunch\nat noon", false, MessageStatus::Confirmed),
            msg(1, "Ann", "lunch?", true, MessageStatus::Confirmed),
        ];
        let lines = search_lines("lunch", &found);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("2 message(s) containing \"lunch\""),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("Bob: lunch at noon"), "{lines:?}");
        assert!(lines[2].ends_with("Ann: lunch?"), "{lines:?}");
        assert!(lines[1].contains("2026-01-02"), "{lines:?}");
        assert_eq!(search_lines("x", &[]), ["no message contains \"x\""]);
    }

    fn msg(id: u8, sender: &str, text: &str, own: bool, status: MessageStatus) -> Message {
        let mut m = Message::new(MessageId([id; 16]), sender, text, Codec::Native);
        // 2026-01-02 10:30:00 UTC
        m.timestamp_ms = Some(1_767_349_800_000);
        m.status = status;
        m.is_own = own;
        m
    }

    const SAME_DAY: u64 = 1_767_349_800_000 + 3_600_000;

    #[test]
    fn edit_delete_and_react_commands() {
        assert_eq!(
            Command::parse("/edit hello there"),
            Command::Edit {
                back: 1,
                text: "hello there".into()
            }
        );
        assert_eq!(
            Command::parse("/edit ^2 3 apples"),
            Command::Edit {
                back: 2,
                text: "3 apples".into()
            }
        );
        assert_eq!(Command::parse("/delete"), Command::Delete { back: 1 });
        assert_eq!(Command::parse("/delete ^3"), Command::Delete { back: 3 });
        assert_eq!(
            Command::parse("/react +1"),
            Command::React {
                back: 1,
                reaction: "+1".into()
            }
        );
        assert_eq!(
            Command::parse("/react ^2"),
            Command::React {
                back: 2,
                reaction: String::new()
            }
        );
        assert_eq!(
            Command::parse("/msg bob  see you later"),
            Command::Msg {
                to: "bob".into(),
                text: "see you later".into()
            }
        );
        assert_eq!(Command::parse("/open ab12"), Command::Open("ab12".into()));
        assert_eq!(Command::parse("/room"), Command::Room);
        assert_eq!(
            Command::parse("/block Omar K"),
            Command::Block("Omar K".into())
        );
        assert_eq!(Command::parse("/unblock ab"), Command::Unblock("ab".into()));
        for bad in [
            "/edit",
            "/edit ^2",
            "/delete now",
            "/react ^0 x",
            "/edit ^x y",
            "/msg bob",
            "/msg",
            "/open",
            "/room x",
        ] {
            assert_eq!(Command::parse(bad), Command::Unknown(bad.into()), "{bad}");
        }
    }

    #[test]
    fn edited_deleted_and_reacted_messages_show_so() {
        let mut t = Transcript::new();
        let mut a = msg(1, "alice", "first", false, MessageStatus::Confirmed);
        let b = msg(2, "me", "mine", true, MessageStatus::Confirmed);
        t.add_messages(&[a.clone(), b.clone()]);
        assert_eq!(t.nth_last_message(1, true), Some(b.id));
        assert_eq!(t.nth_last_message(1, false), Some(b.id));
        assert_eq!(t.nth_last_message(2, false), Some(a.id));
        assert_eq!(t.nth_last_message(2, true), None);

        a.text = "first!".into();
        a.edited = true;
        a.reactions = vec![
            ftpchat_core::Reaction {
                reaction: "+1".into(),
                senders: vec!["bob".into(), "me".into()],
                own: true,
            },
            ftpchat_core::Reaction {
                reaction: "wow".into(),
                senders: vec!["bob".into()],
                own: false,
            },
        ];
        t.update(&[
            a.clone(),
            msg(9, "x", "not on screen", false, MessageStatus::Confirmed),
        ]);
        assert_eq!(t.entries().len(), 2, "a message not on screen is not added");
        let shown = format_message(&a, &Utc, SAME_DAY);
        assert_eq!(shown, "[10:30] alice: first! (edited) [+1 x2* | wow]");

        // A private message shows only in its conversation.
        let mut p = msg(3, "carol", "psst", false, MessageStatus::Confirmed);
        p.private = Some(MemberId([7; 16]));
        t.add_messages(&[p.clone()]);
        let text = |t: &Transcript| {
            t.lines(200, &Utc, SAME_DAY)
                .iter()
                .map(|l| {
                    l.spans
                        .iter()
                        .map(|s| s.content.as_ref())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(!text(&t).contains("psst") && text(&t).contains("first!"));
        t.set_conversation(Some(MemberId([7; 16])));
        assert!(text(&t).contains("psst") && !text(&t).contains("first!"));
        assert_eq!(t.nth_last_message(1, false), Some(p.id));
        t.set_conversation(None);

        let mut gone = b.clone();
        gone.deleted = true;
        gone.text.clear();
        t.update(&[gone.clone()]);
        assert_eq!(
            t.nth_last_message(1, true),
            None,
            "a deleted message is skipped"
        );
        assert!(format_message(&gone, &Utc, SAME_DAY).contains(DELETED_TEXT));
    }

    #[test]
    fn parses_arguments() {
        let a = ChatArgs::parse(["--name", "bob", "ftp://h/lobby"]).unwrap();
        assert_eq!(a.name.as_deref(), Some("bob"));
        assert_eq!(a.location.as_deref(), Some("ftp://h/lobby"));
        assert!(a.needs_password());

        assert_eq!(a.compat, None);
        assert_eq!(a.room_options(), "");

        let a = ChatArgs::parse([
            "--compat=1.6",
            "--salt-hex",
            "6162",
            "--iterations",
            "10",
            "x",
        ])
        .unwrap();
        assert_eq!(a.compat, Some(CompatVersion::V16));
        let kdf = a.compat_kdf().unwrap();
        assert_eq!((kdf.salt(), kdf.iterations()), (&b"ab"[..], 10));
        assert_eq!(
            a.room_options(),
            "--compat 1.6 --salt-hex 6162 --iterations 10 "
        );

        // --compat takes an optional version; without one it is 1.7.
        for (args, version, location) in [
            (
                vec!["--compat", "1.7", "ftp://h/c.txt"],
                CompatVersion::V17,
                "ftp://h/c.txt",
            ),
            (
                vec!["--compat", "1.6", "c.txt"],
                CompatVersion::V16,
                "c.txt",
            ),
            (
                vec!["--compat", "1.5", "c.txt"],
                CompatVersion::V15,
                "c.txt",
            ),
            (
                vec!["--compat", "ftp://h/c.txt"],
                CompatVersion::V17,
                "ftp://h/c.txt",
            ),
            (
                vec!["ftp://h/c.txt", "--compat"],
                CompatVersion::V17,
                "ftp://h/c.txt",
            ),
            (vec!["--compat", "--", "1.txt"], CompatVersion::V17, "1.txt"),
        ] {
            let a = ChatArgs::parse(args.clone()).unwrap();
            assert_eq!(a.compat, Some(version), "{args:?}");
            assert_eq!(a.location.as_deref(), Some(location), "{args:?}");
        }
        let a = ChatArgs::parse([
            "--compat",
            "--iterations",
            "5",
            "--show-unauthenticated",
            "x",
        ])
        .unwrap();
        assert_eq!(
            (a.compat, a.iterations, a.show_unauthenticated),
            (Some(CompatVersion::V17), Some(5), true)
        );
        let kdf = a.compat_kdf().unwrap();
        assert_eq!(
            (kdf.salt(), kdf.iterations()),
            (ftpchat_core::FTPCHAT_SALT, 5)
        );

        let a = ChatArgs::parse(["--compat", "1.5", "--lock", "--", "/tmp/chat.txt"]).unwrap();
        assert!(!a.needs_password());
        assert!(a.lock);
        assert_eq!(a.location.as_deref(), Some("/tmp/chat.txt"));

        let a = ChatArgs::parse(["--port", "3000", "--bind", "0.0.0.0", "--room", "r"]).unwrap();
        assert_eq!(a.port, Some(3000));
        assert!(a.location.is_none());
        let d = ChatArgs::parse(Vec::<String>::new())
            .unwrap()
            .compat_kdf()
            .unwrap();
        assert_eq!(d, default_compat_kdf());
        assert!(ChatArgs::parse(["-h"]).unwrap().help);
    }

    #[test]
    fn parses_member_room_arguments() {
        let a = ChatArgs::parse(["--members", "ftp://h/lobby"]).unwrap();
        assert!(a.members && a.join.is_none() && !a.needs_password() && !a.hosts());
        let a = ChatArgs::parse(["--members"]).unwrap();
        assert!(a.members && a.hosts() && !a.needs_password());
        let a = ChatArgs::parse(["--members", "--room", "team", "--port", "0"]).unwrap();
        assert_eq!(a.room.as_deref(), Some("team"));

        let url = "ftpchat://join?v=1&room=00&at=ftp%3A%2F%2Fh%2Flobby";
        let a = ChatArgs::parse(["--join", url, "--name", "bob"]).unwrap();
        assert!(a.members && !a.hosts() && !a.needs_password());
        assert_eq!((a.join.as_deref(), a.location), (Some(url), None));
        let a = ChatArgs::parse([&format!("--join={url}"), "ftp://bob@h/lobby"]).unwrap();
        assert_eq!(a.join.as_deref(), Some(url));
        assert_eq!(a.location.as_deref(), Some("ftp://bob@h/lobby"));
        let a = ChatArgs::parse(["--members", "--join", url, "--state-dir", "/s"]).unwrap();
        assert_eq!(a.state_dir, Some(PathBuf::from("/s")));
    }

    #[test]
    fn refuses_bad_arguments() {
        for bad in [
            vec!["--password", "x"],
            vec!["--ftp-password=x"],
            vec!["--compat", "2"],
            vec!["--port", "x"],
            vec!["--name"],
            vec!["a", "b"],
            vec!["--bogus", "1"],
            vec!["--salt", "s", "x"],
            vec!["--lock", "x"],
            vec!["--port", "1", "ftp://h/r"],
            vec!["--salt-hex", "abc", "--compat", "1.6"],
            vec!["--compat", "2", "x"],
            vec!["--compat", "1.8", "x"],
            vec!["--compat=", "x"],
            vec!["--compat", "1.5", "--salt", "s", "x"],
            vec!["--compat", "1.5", "--iterations", "9", "x"],
            vec!["--iterations", "9", "x"],
            vec!["--show-unauthenticated", "x"],
            vec!["--compat", "1.5", "--show-unauthenticated", "x"],
            vec!["--lock=yes", "--compat", "x"],
            vec!["--members=yes"],
            vec!["--members", "--compat", "x"],
            vec!["--join", "u", "--compat", "1.7"],
            vec!["--join", "u", "--port", "1"],
            vec!["--join", "u", "--room", "r"],
            vec!["--join", "u", "--join", "v"],
            vec!["--join"],
        ] {
            assert!(ChatArgs::parse(bad.clone()).is_err(), "{bad:?}");
        }
        let e = ChatArgs::parse(["--password=secret"]).unwrap_err();
        assert!(e.contains("FTPCHAT_PASSWORD") && !e.contains("secret"));
    }

    #[test]
    fn commands() {
        assert_eq!(Command::parse("hello"), Command::Send("hello".into()));
        assert_eq!(Command::parse("  "), Command::Nothing);
        assert_eq!(Command::parse("/quit"), Command::Quit);
        assert_eq!(Command::parse("/help"), Command::Help);
        assert_eq!(Command::parse("/history"), Command::History(HISTORY_PAGE));
        assert_eq!(Command::parse("/history 7"), Command::History(7));
        assert_eq!(
            Command::parse("/search  lunch  plans "),
            Command::Search("lunch  plans".into())
        );
        assert_eq!(
            Command::parse("/search"),
            Command::Unknown("/search".into())
        );
        assert_eq!(
            Command::parse("/history x"),
            Command::Unknown("/history x".into())
        );
        assert_eq!(Command::parse("//me"), Command::Send("/me".into()));
        assert_eq!(Command::parse("/invite"), Command::Invite(Role::Member));
        assert_eq!(
            Command::parse("/invite admin"),
            Command::Invite(Role::Admin)
        );
        assert_eq!(
            Command::parse("/invite member"),
            Command::Invite(Role::Member)
        );
        assert_eq!(
            Command::parse("/invite boss"),
            Command::Unknown("/invite boss".into())
        );
        assert_eq!(Command::parse("/members"), Command::Members);
        assert_eq!(Command::parse("/who"), Command::Who);
        assert_eq!(Command::parse("/last"), Command::Last);
        assert_eq!(Command::parse("/seen"), Command::Seen);
        assert_eq!(
            Command::parse("/members x"),
            Command::Unknown("/members x".into())
        );
        assert_eq!(Command::parse("/whois 3fa9"), Command::Whois("3fa9".into()));
        assert_eq!(
            Command::parse("/verify 3fa9"),
            Command::Verify("3fa9".into())
        );
        assert_eq!(
            Command::parse("/unverify 3fa9"),
            Command::Unverify("3fa9".into())
        );
        assert_eq!(
            Command::parse("/remove  Omar K "),
            Command::Remove("Omar K".into())
        );
        assert_eq!(Command::parse("/kick ab12"), Command::Remove("ab12".into()));
        assert_eq!(Command::parse("/promote ab"), Command::Promote("ab".into()));
        for bare in ["/remove", "/whois  ", "/verify", "/promote", "/unverify"] {
            assert_eq!(Command::parse(bare), Command::Unknown(bare.into()));
        }
        assert_eq!(Command::parse("/nope"), Command::Unknown("/nope".into()));
    }

    #[test]
    fn renders_marks_and_times() {
        let utc = Utc;
        let own = msg(1, "alice", "hi there", true, MessageStatus::Pending);
        assert_eq!(
            format_message(&own, &utc, SAME_DAY),
            "[10:30] alice: hi there …"
        );
        let mut confirmed = own.clone();
        confirmed.status = MessageStatus::Confirmed;
        assert_eq!(
            format_message(&confirmed, &utc, SAME_DAY),
            "[10:30] alice: hi there ✓"
        );
        let other = msg(
            2,
            "bob",
            "line 1\nline 2\n",
            false,
            MessageStatus::Confirmed,
        );
        assert_eq!(
            format_message(&other, &utc, SAME_DAY),
            "[10:30] bob: line 1\n    line 2"
        );
        let plus2 = FixedOffset::east_opt(2 * 3600).unwrap();
        assert_eq!(
            format_message(&other, &plus2, SAME_DAY + 86_400_000),
            "[2026-01-02 12:30] bob: line 1\n    line 2"
        );
        let mut legacy = msg(3, "Sara", "salam\u{1b}[2J", false, MessageStatus::Confirmed);
        legacy.timestamp_ms = None;
        legacy.local_time = LegacyTimestamp::parse("2025-12-04 18:31");
        assert_eq!(
            format_message(&legacy, &utc, SAME_DAY),
            "[2025-12-04 18:31] Sara: salam\u{fffd}[2J"
        );
        legacy.local_time = None;
        assert!(format_message(&legacy, &utc, SAME_DAY).starts_with("[--:--] Sara"));
    }

    #[test]
    fn renders_signers() {
        let mut t = Transcript::new();
        let fingerprint = "12345 67890 11111 22222 33333 44444";
        let mut bob = msg(7, "bob", "hi", false, MessageStatus::Confirmed);
        bob.signer = Some(fingerprint.into());
        let mut own = msg(8, "alice", "hello", true, MessageStatus::Confirmed);
        own.signer = Some("99999 00000 11111 22222 33333 44444".into());
        let unsigned = msg(9, "carol", "plain", false, MessageStatus::Confirmed);
        t.add_messages(&[bob, own, unsigned]);
        let text = |t: &Transcript| -> Vec<String> {
            t.lines(80, &Utc, SAME_DAY)
                .iter()
                .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
                .collect()
        };
        assert_eq!(
            text(&t),
            [
                "[10:30] bob [12345]: hi",
                "[10:30] alice: hello ✓",
                "[10:30] carol: plain"
            ]
        );
        t.set_verified([fingerprint.to_owned()].into());
        assert_eq!(text(&t)[0], "[10:30] bob [✓]: hi");
    }

    #[test]
    fn wraps_by_width() {
        let text = |lines: Vec<Line<'static>>| -> Vec<String> {
            lines
                .iter()
                .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
                .collect()
        };
        let line = Line::from(vec![Span::raw("abcd"), Span::raw("efghij")]);
        assert_eq!(text(wrap(line, 4)), ["abcd", "efgh", "ij"]);
        assert_eq!(text(wrap(Line::from("日本語"), 4)), ["日本", "語"]);
        assert_eq!(text(wrap(Line::from(""), 4)), [""]);
    }

    #[test]
    fn transcript_dedupes_confirms_and_pages() {
        let mut t = Transcript::new();
        let history: Vec<Message> = (0..(INITIAL_MESSAGES + 5) as u8)
            .map(|i| msg(i, "bob", &format!("m{i}"), false, MessageStatus::Confirmed))
            .collect();
        assert_eq!(t.add_messages(&history), 5);
        assert!(matches!(&t.entries()[0], Entry::Notice(n) if n.contains("/history 5")));
        assert_eq!(t.oldest_message(), Some(MessageId([5; 16])));
        // Seen again: nothing added.
        t.add_messages(&history[100..]);
        assert_eq!(t.entries().len(), INITIAL_MESSAGES + 1);
        assert_eq!(t.prepend(history[..10].to_vec()), 5);
        assert_eq!(t.oldest_message(), Some(MessageId([0; 16])));

        let own = msg(250, "alice", "mine", true, MessageStatus::Pending);
        t.upsert(own.clone());
        t.confirm(&[own.id]);
        let last = t.entries().last().unwrap();
        assert!(matches!(last, Entry::Message(m) if m.status == MessageStatus::Confirmed));
        let rendered = t.lines(80, &Utc, SAME_DAY);
        let last_line: String = rendered
            .last()
            .unwrap()
            .spans
            .iter()
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(last_line, "[10:30] alice: mine ✓");
    }

    #[test]
    fn room_configs() {
        let kdf = default_compat_kdf();
        assert!(room_config("r", None, "a", None, kdf.clone()).is_err());
        assert!(room_config("c.txt", Some(CompatVersion::V16), "a", None, kdf.clone()).is_err());
        let e = room_config("c.txt", Some(CompatVersion::V17), "a", None, kdf.clone()).unwrap_err();
        assert!(e.contains("1.7"), "{e}");
        assert_eq!(kdf.salt(), ftpchat_core::FTPCHAT_SALT);
        assert_eq!(kdf.iterations(), 100_000);
        assert!(room_config("c.txt", Some(CompatVersion::V15), "a", None, kdf.clone()).is_ok());
        assert!(room_config("r", None, "a", Some("pw".into()), kdf).is_ok());
    }

    #[test]
    fn file_commands() {
        let send = |path: &str, caption: &str| Command::SendFile {
            path: path.into(),
            caption: caption.into(),
        };
        assert_eq!(Command::parse("/send a.png"), send("a.png", ""));
        assert_eq!(
            Command::parse("/send  ~/a.png  look at  this "),
            send("~/a.png", "look at  this")
        );
        assert_eq!(
            Command::parse("/send 'my photo.png' hi"),
            send("my photo.png", "hi")
        );
        assert_eq!(Command::parse("/send \"x y\""), send("x y", ""));
        let save = |back: usize, path: Option<&str>| Command::Save {
            back,
            path: path.map(str::to_owned),
        };
        assert_eq!(Command::parse("/save"), save(1, None));
        assert_eq!(Command::parse("/save ^3"), save(3, None));
        assert_eq!(
            Command::parse("/save ^2 out/x.bin"),
            save(2, Some("out/x.bin"))
        );
        assert_eq!(
            Command::parse("/save my file.txt "),
            save(1, Some("my file.txt"))
        );
        assert_eq!(
            Command::parse("/save '/tmp/a b'"),
            save(1, Some("/tmp/a b"))
        );
        assert_eq!(Command::parse("/cancel"), Command::Cancel);
        for bad in [
            "/send",
            "/send   ",
            "/send 'open quote",
            "/send ''",
            "/send 'a'b",
            "/save ^0",
            "/save ^x",
            "/save 'a' b",
            "/save 'a",
            "/cancel now",
        ] {
            assert_eq!(Command::parse(bad), Command::Unknown(bad.into()), "{bad}");
        }
    }

    #[test]
    fn progress_bars_and_targets() {
        assert_eq!(
            progress_bar(5_452_800, 10 << 20),
            "[#####-----] 52% 5.2/10.0 MiB"
        );
        assert_eq!(progress_bar(0, 3 << 20), "[----------] 0% 0.0/3.0 MiB");
        assert_eq!(progress_bar(99, 99), "[##########] 100% 99/99 B");
        assert_eq!(progress_bar(0, 0), "[##########] 100% 0/0 B");
        assert_eq!(progress_bar(512, 2048), "[##--------] 25% 0.5/2.0 KiB");
        assert_eq!(progress_bar(7, 3), "[##########] 100% 3/3 B");

        assert_eq!(save_target(None, "a.png"), PathBuf::from("a.png"));
        assert_eq!(save_target(Some("b.png"), "a.png"), PathBuf::from("b.png"));
        assert_eq!(
            save_target(Some("no/such/dir/"), "a.png"),
            PathBuf::from("no/such/dir/a.png")
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        assert_eq!(save_target(Some(d), "a.png"), dir.path().join("a.png"));
        assert_eq!(expand_home("/x/~"), PathBuf::from("/x/~"));
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            assert_eq!(expand_home("~/a"), PathBuf::from(home).join("a"));
        }
    }

    #[test]
    fn transfer_errors_are_one_clear_line() {
        let cases = [
            (
                RoomError::FileTooLarge {
                    size: 200 << 20,
                    limit: 100 << 20,
                },
                Direction::Send,
                "not sent: a.bin has 200.0 MiB, over this room's limit of 100.0 MiB for files",
            ),
            (
                RoomError::Cancelled,
                Direction::Save,
                "saving a.bin cancelled: the part already checked is kept, /save again resumes",
            ),
            (
                RoomError::BadAttachment(ftpchat_core::AttachmentError::Missing),
                Direction::Save,
                "not saved: a.bin on the server is missing or damaged (the file is not on the \
                 server); nothing was written",
            ),
            (
                RoomError::LocalFile {
                    path: "/x/a.bin".into(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, "no\nsuch file"),
                },
                Direction::Send,
                "not sent: cannot read /x/a.bin: no such file",
            ),
        ];
        for (e, direction, want) in cases {
            assert_eq!(transfer_error(&e, direction, "a.bin"), want);
        }
        let cancelled = transfer_error(&RoomError::Cancelled, Direction::Send, "a\u{1b}b");
        assert_eq!(cancelled, "sending a\u{fffd}b cancelled: nothing was sent");
    }

    #[test]
    fn attachments_show_name_type_size_and_caption() {
        use ftpchat_core::testing::MemoryTransport;
        let t: std::sync::Arc<dyn ftpchat_core::Transport> =
            std::sync::Arc::new(MemoryTransport::default());
        let config =
            RoomConfig::native("lobby", "alice", Password::new("pw")).with_native_iterations(1_000);
        let room = ftpchat_core::Room::open(t, config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("photo.png");
        std::fs::write(&photo, vec![1u8; 1_258_291]).unwrap();
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "hello").unwrap();
        let a = room.send_file(&photo, "the view\nfrom here").unwrap();
        let b = room.send_file(&notes, "").unwrap();
        let (mut a, b) = (room.message(&a).unwrap(), room.message(&b).unwrap());
        a.timestamp_ms = Some(1_767_349_800_000);
        let shown = format_message(&a, &Utc, SAME_DAY);
        assert_eq!(
            shown,
            "[10:30] alice: \u{1f4ce} photo.png (image/png, 1.2 MiB) \u{2014} the view\n    \
             from here \u{2026}"
        );
        let shown = format_message(&b, &Utc, SAME_DAY);
        assert!(
            shown.ends_with("alice: \u{1f4ce} notes.txt (text/plain, 5 B) \u{2026}"),
            "{shown}"
        );

        let mut t = Transcript::new();
        let plain = msg(9, "bob", "no file", false, MessageStatus::Confirmed);
        t.add_messages(&[a.clone(), b.clone(), plain]);
        assert_eq!(t.nth_last_attachment(1).map(|m| m.id), Some(b.id));
        assert_eq!(t.nth_last_attachment(2).map(|m| m.id), Some(a.id));
        assert_eq!(t.nth_last_attachment(3), None);
        assert_eq!(t.nth_last_attachment(0), None);
        let mut gone = b.clone();
        gone.deleted = true;
        gone.attachment = None;
        t.update(&[gone]);
        assert_eq!(t.nth_last_attachment(1).map(|m| m.id), Some(a.id));
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
