//! The non-interactive subcommands of the `ftpchat` command (`send`, `tail`, `export`,
//! `import`, `invite`, `members`, `serve`): what each does, over a [`Room`]. The
//! `ftpchat` binary only parses arguments (clap) and calls these.
//!
//! Passwords come from an environment variable, a file (`--password-file`) or a prompt
//! that does not echo, never from the command line. Errors are one [`CliError`], whose
//! text never contains a password, and whose [`exit_code`](CliError::exit_code) tells a
//! script what went wrong.
//!
//! # The JSON of a message
//!
//! `ftpchat tail --json` writes one [`MessageJson`] object per line and `ftpchat export
//! --format json` writes one [`ExportJson`] document. Field names are stable; fields
//! marked optional are left out when they do not apply:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `id` | string | the message id, 32 hex digits |
//! | `sender` | string | the display name its sender chose (not proof of identity) |
//! | `time` | string or null | when it was written, RFC 3339 in UTC (`2026-12-02T04:18:07.123Z`); null when unknown (FTPChat 1.5 and 1.7 lines) |
//! | `local_time` | string, optional | FTPChat lines: the writer's local time as written (`YYYY-MM-DD HH:MM`, no zone) |
//! | `text` | string | the text (an attachment's caption); empty once deleted |
//! | `status` | string | `confirmed` (on the server) or `pending` (this client's, not yet delivered) |
//! | `own` | bool | this client (device) wrote it |
//! | `codec` | string | `native`, `ftpchat-1.7`, `ftpchat-1.6` or `ftpchat-1.5` |
//! | `edited` | bool, optional | `true` when its author changed the text |
//! | `deleted` | bool, optional | `true` when its author deleted it |
//! | `reactions` | array, optional | `{"reaction": "👍", "senders": ["Bob"]}`, the most chosen first |
//! | `attachment` | object, optional | `{"name": ..., "size": bytes, "media_type": ...}` |
//! | `private_with` | string, optional | member rooms: the member id of a private conversation |
//! | `signer` | string, optional | member rooms: the signing device's fingerprint |
//! | `change` | bool, optional | `tail` only: this line is a newer state of a message printed before (edited, deleted or reacted to) |

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ftpchat_core::{Codec, DeviceIdentity, Message, MessageId, MessageStatus, Role};
use ftpchat_core::{Password, RemotePath, Room, RoomConfig, RoomError, RoomEvent};
use ftpchat_core::{RoomListener, WatchOptions};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::chat::{self, CompatVersion};
use crate::location::{open_transport, OpenedTransport, Target, TransportOptions};
use crate::members::{self, Names, Verified};
use crate::secret::{self, ROOM_PASSWORD_ENV};

/// The environment variable holding the password of the FTPChat file `import` reads.
pub const SOURCE_PASSWORD_ENV: &str = "FTPCHAT_SOURCE_PASSWORD";

/// Everything that can go wrong in a subcommand. No variant holds a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A bad argument or combination of arguments (a location, an option).
    #[error("{0}")]
    Usage(String),
    /// A password could not be read, or is empty.
    #[error("{0}")]
    Password(String),
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// Which file, and what was being done.
        what: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The password does not open the room.
    #[error("wrong room password for {room}")]
    WrongPassword {
        /// The room.
        room: String,
    },
    /// The password does not open the FTPChat file `import` reads.
    #[error(
        "wrong password for {file}: {lines} FTPChat 1.6/1.7 line(s) did not open (set \
         {SOURCE_PASSWORD_ENV} or use --source-password-file; nothing was imported)"
    )]
    WrongSourcePassword {
        /// The file.
        file: String,
        /// Its lines that did not open.
        lines: u64,
    },
    /// No room at the location (commands other than `chat` and `import` create none).
    #[error("no room {room} at {base} (`ftpchat chat LOCATION` creates one; `send --create` too)")]
    NoRoom {
        /// The room.
        room: String,
        /// Where it was looked for (no password).
        base: String,
    },
    /// This device is not a member of the member room.
    #[error(
        "this device is not a member of {room}: ask an admin for an invitation and join with \
         `ftpchat chat --join INVITATION`"
    )]
    NotAMember {
        /// The room.
        room: String,
    },
    /// The server did not answer.
    #[error("cannot reach {base}: {source}")]
    Unreachable {
        /// The server (no password).
        base: String,
        /// Why.
        #[source]
        source: RoomError,
    },
    /// The message was not delivered in time.
    #[error("{0}")]
    NotDelivered(String),
    /// Any other error of the room.
    #[error("{context}: {source}")]
    Room {
        /// What was being done.
        context: String,
        /// Why.
        #[source]
        source: RoomError,
    },
    /// The embedded server failed.
    #[error("{0}")]
    Server(String),
    /// The terminal chat ended with an error.
    #[error("{0}")]
    Chat(String),
}

impl CliError {
    /// The process exit code: 3 wrong password, 4 server unreachable or message not
    /// delivered, 5 no such room or not a member, 1 anything else (clap uses 2 for
    /// argument errors).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::WrongPassword { .. } | CliError::WrongSourcePassword { .. } => 3,
            CliError::Unreachable { .. } | CliError::NotDelivered(_) => 4,
            CliError::NoRoom { .. } | CliError::NotAMember { .. } => 5,
            _ => 1,
        }
    }

    fn io(what: impl Into<String>, source: io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }
}

/// The user's login name: `$USER`, `$USERNAME` or `$LOGNAME`, else (Unix) the account of
/// this process in `/etc/passwd`.
pub fn login_name() -> Option<String> {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
        .or_else(os_account_name)
}

#[cfg(unix)]
fn os_account_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // `/proc/self` belongs to this process's (effective) user.
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(not(unix))]
fn os_account_name() -> Option<String> {
    None
}

/// The display name: `explicit` (`--name`), else the login name ([`login_name`]), else
/// the FTP user of the location, else `guest`.
pub fn display_name(explicit: Option<&str>, target: Option<&Target>) -> String {
    explicit
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(login_name)
        .or_else(|| target.and_then(url_user))
        .unwrap_or_else(|| "guest".to_owned())
}

/// The user named in a location's URL (FTP, SFTP, WebDAV; with or without a password).
pub fn url_user(target: &Target) -> Option<String> {
    if !target.kind.has_login() {
        return None;
    }
    let rest = target.base.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let user = userinfo.split(':').next()?;
    (!user.is_empty()).then(|| crate::location::percent_decode(user))
}

/// How the user runs this program, for the commands it prints: `cargo run -p
/// ftpchat-examples --bin ftpchat --` under cargo (which sets `CARGO`), else `ftpchat`.
pub fn command_prefix() -> String {
    if std::env::var_os("CARGO").is_some() {
        "cargo run -p ftpchat-examples --bin ftpchat --".to_owned()
    } else {
        "ftpchat".to_owned()
    }
}

/// A password: the first line of `file` when given, else `env` when set and not empty,
/// else typed at `prompt` (not echoed; a line of standard input when it is no terminal).
pub fn read_password(
    env: &str,
    file: Option<&Path>,
    prompt: &str,
) -> Result<Zeroizing<String>, CliError> {
    let password = match file {
        Some(path) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(path)
                    .map_err(|e| CliError::io(format!("password file {}", path.display()), e))?,
            );
            Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
        }
        None => secret::from_env_or_prompt(env, prompt)
            .map_err(|e| CliError::Password(format!("password: {e}")))?,
    };
    if password.is_empty() {
        return Err(CliError::Password(match file {
            Some(path) => format!("the password file {} is empty", path.display()),
            None => "the password must not be empty".to_owned(),
        }));
    }
    Ok(password)
}

/// The state folder of the `ftpchat` subcommands that write (`send`) in password rooms
/// when `--state-dir` is not given: `ftpchat/cli` beside the chat's (see
/// [`members::default_state_dir`]), so a `send` never shares a writer with a running chat.
pub fn default_cli_state_dir() -> Option<PathBuf> {
    members::default_state_dir().and_then(|d| d.parent().map(|p| p.join("cli")))
}

/// Which room to open, as the subcommands take it.
#[derive(Debug, Clone, Default)]
pub struct RoomOptions {
    /// The location (its last component is the room).
    pub location: String,
    /// `--name`.
    pub name: Option<String>,
    /// `--password-file`: the room password's file (else `FTPCHAT_PASSWORD`, else a prompt).
    pub password_file: Option<PathBuf>,
    /// `--compat`: an FTPChat chat file written as this client does.
    pub compat: Option<CompatVersion>,
    /// `--members`: a member room (this device's identity instead of a password).
    pub members: bool,
    /// `--state-dir`.
    pub state_dir: Option<PathBuf>,
    /// `--ca`: a PEM certificate to trust for FTPS.
    pub ca_file: Option<PathBuf>,
}

/// What a subcommand does with the room it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Only reads: no room is created, no state is kept, nothing is written.
    Read,
    /// Writes messages; `create` makes a missing native room.
    Write {
        /// Create the room when it does not exist.
        create: bool,
    },
}

/// An opened room and what it was opened with.
pub struct OpenedRoom {
    /// The room.
    pub room: Room,
    /// Its location.
    pub target: Target,
    /// The transport.
    pub transport: OpenedTransport,
    /// Member rooms: this device's identity and its state folder.
    pub identity: Option<(Arc<DeviceIdentity>, PathBuf)>,
    /// The display name used.
    pub name: String,
}

impl std::fmt::Debug for OpenedRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedRoom")
            .field("room", &self.target.room)
            .field("base", &self.target.display_base())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The target of `location`, with an FTP login password filled in from
/// `FTPCHAT_FTP_PASSWORD` or a prompt when the URL names a user without one.
pub fn target(location: &str) -> Result<Target, CliError> {
    Target::parse(location)
        .map_err(CliError::Usage)?
        .with_login_password()
        .map_err(CliError::Password)
}

fn transport(target: &Target, ca_file: Option<&Path>) -> Result<OpenedTransport, CliError> {
    let ca_pem = match ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| CliError::io(format!("--ca {}", path.display()), e))?,
        ),
        None => None,
    };
    open_transport(
        target,
        &TransportOptions {
            ca_pem,
            connect_timeout: Some(Duration::from_secs(10)),
            io_timeout: Some(Duration::from_secs(30)),
        },
    )
    .map_err(CliError::Usage)
}

/// This device's identity for member rooms, from `state_dir` or the chat's default folder.
pub fn load_identity(state_dir: Option<&Path>) -> Result<(Arc<DeviceIdentity>, PathBuf), CliError> {
    let dir = match state_dir {
        Some(d) => d.to_owned(),
        None => members::default_state_dir().ok_or_else(|| {
            CliError::Usage(
                "member rooms keep this device's identity in a folder: give --state-dir DIR".into(),
            )
        })?,
    };
    let identity = DeviceIdentity::load_or_create(&dir).map_err(|e| {
        CliError::io(
            format!("device identity in {}", dir.display()),
            io::Error::other(e.to_string()),
        )
    })?;
    Ok((Arc::new(identity), dir))
}

fn open_error(e: RoomError, target: &Target) -> CliError {
    match e {
        RoomError::WrongPassword => CliError::WrongPassword {
            room: target.room.clone(),
        },
        RoomError::NotAMember => CliError::NotAMember {
            room: target.room.clone(),
        },
        RoomError::NotFound(_) => CliError::NoRoom {
            room: target.room.clone(),
            base: target.display_base(),
        },
        e if e.is_transient() => CliError::Unreachable {
            base: target.display_base(),
            source: e,
        },
        e => CliError::Room {
            context: format!("opening {}", target.room),
            source: e,
        },
    }
}

/// Opens the room of `options` (asking for the passwords it needs).
pub fn open_room(options: &RoomOptions, access: Access) -> Result<OpenedRoom, CliError> {
    if options.members && options.compat.is_some() {
        return Err(CliError::Usage(
            "--members is for member rooms; --compat is for FTPChat files".into(),
        ));
    }
    let target = target(&options.location)?;
    let opened = transport(&target, options.ca_file.as_deref())?;
    let name = display_name(options.name.as_deref(), Some(&target));
    let identity = if options.members {
        Some(load_identity(options.state_dir.as_deref())?)
    } else {
        None
    };
    let mut config = match &identity {
        Some((identity, _)) => RoomConfig::member_room(&target.room, &name, identity.clone()),
        None => {
            let keyed = options.compat.is_none_or(CompatVersion::is_keyed);
            let password = if keyed {
                let pw = read_password(
                    ROOM_PASSWORD_ENV,
                    options.password_file.as_deref(),
                    &format!("Room password for {}: ", target.room),
                )?;
                Some(Password::new(pw.as_str()))
            } else {
                None
            };
            chat::room_config(
                &target.room,
                options.compat,
                &name,
                password,
                ftpchat_core::default_compat_kdf(),
            )
            .map_err(CliError::Usage)?
        }
    };
    if let Access::Write { .. } = access {
        // A member room's state lives beside this device's identity (as the chat's).
        let dir = match &identity {
            Some((_, dir)) => Some(dir.clone()),
            None => options.state_dir.clone().or_else(default_cli_state_dir),
        };
        if let Some(dir) = dir {
            config = config.with_state_dir(dir);
        }
    }
    // These commands come and go: they publish no presence and no read position.
    config = config.with_presence(false).with_read_receipts(false);
    if !matches!(access, Access::Write { create: true }) {
        config = config.must_exist();
    }
    let room = Room::open(opened.transport.clone(), config).map_err(|e| open_error(e, &target))?;
    Ok(OpenedRoom {
        room,
        target,
        transport: opened,
        identity,
        name,
    })
}

/// A sync whose failure is one [`CliError`].
fn sync(opened: &OpenedRoom) -> Result<ftpchat_core::SyncUpdate, CliError> {
    opened.room.sync().map_err(|e| match e {
        RoomError::WrongPassword => CliError::WrongPassword {
            room: opened.target.room.clone(),
        },
        e if e.is_transient() => CliError::Unreachable {
            base: opened.target.display_base(),
            source: e,
        },
        e => CliError::Room {
            context: format!("reading {}", opened.target.room),
            source: e,
        },
    })
}

/// Tells on standard error what a sync reported that the user should know (lines that
/// did not decode, a wrong password for FTPChat lines). Returns the lines a wrong password
/// left closed.
fn report_events(events: &[RoomEvent]) -> u64 {
    let mut closed = 0;
    for event in events {
        match event {
            RoomEvent::WrongPassword { failed_lines } => closed += failed_lines,
            RoomEvent::UndecodableLine { .. } | RoomEvent::UnauthenticatedLine { .. } => {
                eprintln!("ftpchat: {event}")
            }
            _ => {}
        }
    }
    closed
}

/// `ftpchat send`: sends `text` and returns once it is on the server (read back), or
/// fails after `timeout`. With a state folder, an undelivered message stays saved there
/// and goes out with the next `send` or `chat` of this room.
pub fn send(opened: &OpenedRoom, text: &str, timeout: Duration) -> Result<MessageId, CliError> {
    if text.is_empty() {
        return Err(CliError::Usage("nothing to send: the text is empty".into()));
    }
    let id = opened.room.send(text).map_err(|e| CliError::Room {
        context: "sending".into(),
        source: e,
    })?;
    let deadline = Instant::now() + timeout;
    loop {
        let result = opened.room.flush();
        if result.is_ok() && opened.room.outbox_len() == 0 {
            return Ok(id);
        }
        match result {
            Err(RoomError::WrongPassword) => {
                return Err(CliError::WrongPassword {
                    room: opened.target.room.clone(),
                })
            }
            Err(e) if !e.is_transient() => {
                return Err(CliError::Room {
                    context: "sending".into(),
                    source: e,
                })
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(CliError::NotDelivered(format!(
                    "not delivered within {} s: {e}",
                    timeout.as_secs()
                )))
            }
            _ if Instant::now() >= deadline => {
                return Err(CliError::NotDelivered(format!(
                    "not delivered within {} s",
                    timeout.as_secs()
                )))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// An attachment in [`MessageJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentJson {
    /// The file's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// A reaction in [`MessageJson`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionJson {
    /// The reaction, e.g. an emoji.
    pub reaction: String,
    /// Who chose it (display names).
    pub senders: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One message as JSON (see the [module documentation](self) for the schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageJson {
    /// Message id, 32 hex digits.
    pub id: String,
    /// The sender's display name.
    pub sender: String,
    /// RFC 3339 (UTC), when known.
    pub time: Option<String>,
    /// FTPChat lines: the writer's local time as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_time: Option<String>,
    /// The text (a caption for an attachment).
    pub text: String,
    /// `confirmed` or `pending`.
    pub status: &'static str,
    /// Written by this client.
    pub own: bool,
    /// `native`, `ftpchat-1.7`, `ftpchat-1.6` or `ftpchat-1.5`.
    pub codec: &'static str,
    /// Edited by its author.
    #[serde(skip_serializing_if = "is_false")]
    pub edited: bool,
    /// Deleted by its author.
    #[serde(skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Reactions, the most chosen first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<ReactionJson>,
    /// The attached file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentJson>,
    /// Member rooms: the member of a private conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_with: Option<String>,
    /// Member rooms: the signing device's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// `tail`: a newer state of a message printed before.
    #[serde(skip_serializing_if = "is_false")]
    pub change: bool,
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-02T04:18:07.123Z`.
pub fn rfc3339(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

fn codec_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Native => "native",
        Codec::Fernet17 => "ftpchat-1.7",
        Codec::Fernet16 => "ftpchat-1.6",
        Codec::Legacy15 => "ftpchat-1.5",
        _ => "other",
    }
}

impl MessageJson {
    /// The JSON of `m`.
    pub fn new(m: &Message) -> MessageJson {
        MessageJson {
            id: m.id.to_hex(),
            sender: m.sender.clone(),
            time: m.timestamp_ms.and_then(rfc3339),
            local_time: m.local_time.map(|t| t.to_string()),
            text: m.text.clone(),
            status: match m.status {
                MessageStatus::Pending => "pending",
                _ => "confirmed",
            },
            own: m.is_own,
            codec: codec_name(m.codec),
            edited: m.edited,
            deleted: m.deleted,
            reactions: m
                .reactions
                .iter()
                .map(|r| ReactionJson {
                    reaction: r.reaction.clone(),
                    senders: r.senders.clone(),
                })
                .collect(),
            attachment: m.attachment.as_ref().map(|a| AttachmentJson {
                name: a.name().to_owned(),
                size: a.size(),
                media_type: a.media_type().to_owned(),
            }),
            private_with: m.private.map(|p| p.to_string()),
            signer: m.signer.clone(),
            change: false,
        }
    }
}

/// A message as one line of text: `[time] sender: text` (the writer's local time for
/// FTPChat lines), continuation lines indented, then the attachment, edit and delete marks.
pub fn message_text(m: &Message) -> String {
    let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    let mut shown = m.clone();
    if shown.local_time.is_some() {
        shown.timestamp_ms = None;
    }
    if shown.deleted {
        shown.text = chat::DELETED_TEXT.to_owned();
    } else if let Some(a) = &m.attachment {
        let file = chat::attachment_text(a);
        shown.text = if m.text.is_empty() {
            file
        } else {
            format!("{file} — {}", m.text)
        };
    }
    let mut line = chat::format_message(&shown, &chrono::Local, now_ms);
    if m.edited && !m.deleted {
        line = format!("{line} {}", chat::EDITED_MARK);
    }
    if let Some(r) = chat::reactions_text(m) {
        line = format!("{line} {r}");
    }
    line
}

/// `ftpchat tail`: prints the last `last` messages, then every new one as it arrives,
/// until `stop` is set or standard output is closed. With `json`, one [`MessageJson`] per
/// line.
pub fn tail(
    opened: &OpenedRoom,
    last: usize,
    json: bool,
    interval: Duration,
    stop: &AtomicBool,
) -> Result<(), CliError> {
    let first = sync(opened)?;
    let closed = report_events(&first.events);
    if closed > 0 && first.messages.is_empty() {
        return Err(CliError::WrongPassword {
            room: opened.target.room.clone(),
        });
    }
    let out = Arc::new(Printer {
        json,
        broken: AtomicBool::new(false),
        lock: Mutex::new(()),
    });
    let skip = first.messages.len().saturating_sub(last);
    out.print(&first.messages[skip..], false);
    eprintln!(
        "ftpchat: following {} on {} (Ctrl-C stops)",
        opened.target.room,
        opened.target.display_base()
    );
    let watch = opened.room.watch(
        out.clone(),
        WatchOptions::new(interval.min(Duration::from_secs(2)), Duration::from_secs(2)),
    );
    while !stop.load(Ordering::Relaxed) && !out.broken.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    watch.stop();
    Ok(())
}

/// Prints messages for `tail` (the watcher's listener).
struct Printer {
    json: bool,
    /// Standard output was closed (a pipe's reader went away).
    broken: AtomicBool,
    lock: Mutex<()>,
}

impl Printer {
    fn print(&self, messages: &[Message], change: bool) {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut stdout = io::stdout().lock();
        for m in messages {
            let line = if self.json {
                let mut j = MessageJson::new(m);
                j.change = change;
                serde_json::to_string(&j).unwrap_or_default()
            } else if change {
                format!("(changed) {}", message_text(m))
            } else {
                message_text(m)
            };
            if writeln!(stdout, "{line}").is_err() {
                self.broken.store(true, Ordering::Relaxed);
                return;
            }
        }
        if stdout.flush().is_err() {
            self.broken.store(true, Ordering::Relaxed);
        }
    }
}

impl RoomListener for Printer {
    fn on_messages(&self, messages: &[Message]) {
        self.print(messages, false);
    }

    fn on_changed(&self, messages: &[Message]) {
        self.print(messages, true);
    }

    fn on_event(&self, event: &RoomEvent) {
        report_events(std::slice::from_ref(event));
        if let RoomEvent::WrongPassword { failed_lines } = event {
            eprintln!("ftpchat: {failed_lines} line(s) did not open: wrong password");
        }
    }

    fn on_error(&self, error: &RoomError) {
        eprintln!("ftpchat: {error} (still trying)");
    }
}

/// The output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One [`ExportJson`] document.
    Json,
    /// One [`message_text`] per message.
    Text,
}

/// The JSON document `ftpchat export --format json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct ExportJson {
    /// Always `ftpchat-export`.
    pub format: &'static str,
    /// The version of this document's schema: 1.
    pub version: u32,
    /// The room (its directory or chat file).
    pub room: String,
    /// Where it is (no password).
    pub location: String,
    /// When it was exported, RFC 3339 (UTC).
    pub exported_at: String,
    /// The messages, oldest first (the room's order).
    pub messages: Vec<MessageJson>,
}

/// `ftpchat export`: writes every message of the room to `out`. Returns how many.
pub fn export(
    opened: &OpenedRoom,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<usize, CliError> {
    let update = sync(opened)?;
    let closed = report_events(&update.events);
    if closed > 0 {
        if update.messages.is_empty() {
            return Err(CliError::WrongPassword {
                room: opened.target.room.clone(),
            });
        }
        eprintln!("ftpchat: {closed} line(s) did not open with this password (not exported)");
    }
    let write_err = |e| CliError::io("writing the export", e);
    match format {
        ExportFormat::Json => {
            let doc = ExportJson {
                format: "ftpchat-export",
                version: 1,
                room: opened.target.room.clone(),
                location: format!("{}/{}", opened.target.display_base(), opened.target.room),
                exported_at: rfc3339(u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0))
                    .unwrap_or_default(),
                messages: update.messages.iter().map(MessageJson::new).collect(),
            };
            serde_json::to_writer_pretty(&mut *out, &doc)
                .map_err(|e| write_err(io::Error::other(e)))?;
            writeln!(out).map_err(write_err)?;
        }
        ExportFormat::Text => {
            for m in &update.messages {
                writeln!(out, "{}", message_text(m)).map_err(write_err)?;
            }
        }
    }
    out.flush().map_err(write_err)?;
    Ok(update.messages.len())
}

/// What `import` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Messages read from the FTPChat file.
    pub read: usize,
    /// Messages written into the room.
    pub imported: usize,
    /// Messages already in the room (same sender and text), not written again.
    pub already_there: usize,
    /// Different senders written as (one writer each).
    pub senders: usize,
    /// Lines of the file that are no message (reported on standard error).
    pub undecoded: usize,
    /// Of the messages read, FTPChat 1.5 lines (no key: anyone could have written them).
    pub keyless: usize,
}

/// Options of `import`.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The FTPChat chat file: a path or a URL.
    pub source: String,
    /// `--source-password-file` (else `FTPCHAT_SOURCE_PASSWORD`, else a prompt; empty:
    /// no password, FTPChat 1.5 lines only).
    pub source_password_file: Option<PathBuf>,
    /// `--keep-time`: start each text with the original time, `[YYYY-MM-DD HH:MM] `.
    pub keep_time: bool,
    /// The native room written into (`--into`); created when missing.
    pub into: RoomOptions,
}

/// `ftpchat import`: reads an FTPChat 1.5/1.6/1.7 chat file and writes its messages into a
/// native (password) room, in order, each under its original sender's name.
///
/// What is kept: text, sender names, order. What cannot be: the original times (a native
/// record carries the time it is written, its HLC, which a writer never sets below its
/// own clock: SPEC §9.3); `keep_time` keeps them as a prefix of the text instead. Each
/// sender becomes a writer (log) of its own, written by this device: in a password room
/// anyone with the password can write under any name, as in the FTPChat file.
///
/// Re-running is safe: a message whose sender and text are already in the room (as many
/// times as in the file) is not written again, so a second run imports only what the file
/// gained since. The flip side: a native message with the same sender and text as one of
/// the file counts as imported.
pub fn import(options: &ImportOptions) -> Result<ImportReport, CliError> {
    if options.into.members || options.into.compat.is_some() {
        return Err(CliError::Usage(
            "import writes into a native password room (not a member room or FTPChat file)".into(),
        ));
    }
    // Read the file: every line shape, whatever the password opens.
    let source = target(&options.source)?;
    let source_transport = transport(&source, options.into.ca_file.as_deref())?;
    let source_password = match &options.source_password_file {
        Some(_) => Some(read_password(
            SOURCE_PASSWORD_ENV,
            options.source_password_file.as_deref(),
            "",
        )?),
        None => secret::from_env_or_prompt(
            SOURCE_PASSWORD_ENV,
            &format!(
                "Password of the FTPChat file {} (empty for FTPChat 1.5 files): ",
                source.room
            ),
        )
        .map(Some)
        .map_err(|e| CliError::Password(format!("password: {e}")))?
        .filter(|p| !p.is_empty()),
    };
    let config = chat::room_config(
        &source.room,
        Some(CompatVersion::V15),
        "import",
        source_password.as_ref().map(|p| Password::new(p.as_str())),
        ftpchat_core::default_compat_kdf(),
    )
    .map_err(CliError::Usage)?
    .must_exist();
    let reader = Room::open(source_transport.transport.clone(), config)
        .map_err(|e| open_error(e, &source))?;
    let read = reader.sync().map_err(|e| open_error(e, &source))?;
    let mut report = ImportReport::default();
    let mut keyed_without_password = 0usize;
    for event in &read.events {
        match event {
            RoomEvent::WrongPassword { failed_lines }
                if *failed_lines > 0 && source_password.is_none() =>
            {
                return Err(CliError::Password(format!(
                    "{failed_lines} FTPChat 1.6/1.7 line(s) of {} need its password: set \
                     {SOURCE_PASSWORD_ENV}, use --source-password-file or type it at the \
                     prompt (nothing was imported)",
                    source.room
                )))
            }
            RoomEvent::WrongPassword { failed_lines } if *failed_lines > 0 => {
                return Err(CliError::WrongSourcePassword {
                    file: format!("{}/{}", source.display_base(), source.room),
                    lines: *failed_lines,
                })
            }
            RoomEvent::UndecodableLine { codec, .. } => {
                report.undecoded += 1;
                if source_password.is_none()
                    && matches!(codec, Some(Codec::Fernet16 | Codec::Fernet17))
                {
                    keyed_without_password += 1;
                } else {
                    eprintln!("ftpchat: not imported: {event}");
                }
            }
            _ => {}
        }
    }
    if keyed_without_password > 0 {
        return Err(CliError::Password(format!(
            "{keyed_without_password} FTPChat 1.6/1.7 line(s) of {} need its password: set \
             {SOURCE_PASSWORD_ENV}, use --source-password-file or type it at the prompt \
             (nothing was imported)",
            source.room
        )));
    }
    let messages: Vec<Message> = read.messages;
    report.read = messages.len();
    report.keyless = messages
        .iter()
        .filter(|m| m.codec == Codec::Legacy15)
        .count();
    let text_of = |m: &Message| match (options.keep_time, m.local_time) {
        (true, Some(t)) => format!("[{t}] {}", m.text),
        _ => m.text.clone(),
    };

    // The room: opened once with the password (created if missing), then once per sender
    // with the key derived from its header.
    let mut into = options.into.clone();
    into.state_dir = None;
    let first_sender = messages.first().map(|m| m.sender.clone());
    into.name = first_sender.clone().or(into.name);
    let (target_room, password) = open_room_memory(&into)?;
    let existing = sync(&target_room)?;
    let mut present: HashMap<(String, String), usize> = HashMap::new();
    for m in existing.messages.iter().filter(|m| !m.deleted) {
        *present
            .entry((m.sender.clone(), m.text.clone()))
            .or_default() += 1;
    }
    let key = room_key(&target_room, &password)?;
    drop(password);
    let mut writers: HashMap<String, Room> = HashMap::new();
    if let Some(first) = first_sender {
        writers.insert(first, target_room.room.clone());
    }
    let mut current: Option<String> = None;
    for m in &messages {
        let text = text_of(m);
        if let Some(n) = present.get_mut(&(m.sender.clone(), text.clone())) {
            if *n > 0 {
                *n -= 1;
                report.already_there += 1;
                continue;
            }
        }
        let writer = match writers.get(&m.sender) {
            Some(room) => room.clone(),
            None => {
                let config = RoomConfig::native(&target_room.target.room, &m.sender, "unused")
                    .with_key(key.clone())
                    .must_exist();
                let room = Room::open(target_room.transport.transport.clone(), config)
                    .map_err(|e| open_error(e, &target_room.target))?;
                writers.insert(m.sender.clone(), room.clone());
                room
            }
        };
        if current.as_deref() != Some(m.sender.as_str()) {
            // Another writer: deliver the previous one's messages, and read them here,
            // so this writer's clock (HLC) orders what it writes after them.
            if let Some(previous) = current.as_ref().and_then(|s| writers.get(s)) {
                deliver(previous, &target_room.target)?;
            }
            writer.sync().map_err(|e| CliError::Room {
                context: "reading the room".into(),
                source: e,
            })?;
            current = Some(m.sender.clone());
        }
        writer.send(&text).map_err(|e| CliError::Room {
            context: format!("importing a message of {}", m.sender),
            source: e,
        })?;
        report.imported += 1;
    }
    if let Some(last) = current.as_ref().and_then(|s| writers.get(s)) {
        deliver(last, &target_room.target)?;
    }
    report.senders = messages
        .iter()
        .map(|m| m.sender.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(report)
}

/// Opens `options`' room for writing without a state folder (created when missing).
fn open_room_memory(options: &RoomOptions) -> Result<(OpenedRoom, Zeroizing<String>), CliError> {
    let target = target(&options.location)?;
    let opened = transport(&target, options.ca_file.as_deref())?;
    let name = display_name(options.name.as_deref(), Some(&target));
    let password = read_password(
        ROOM_PASSWORD_ENV,
        options.password_file.as_deref(),
        &format!("Room password for {}: ", target.room),
    )?;
    let config = RoomConfig::native(&target.room, &name, Password::new(password.as_str()));
    let room = Room::open(opened.transport.clone(), config.with_presence(false))
        .map_err(|e| open_error(e, &target))?;
    let opened = OpenedRoom {
        room,
        target,
        transport: opened,
        identity: None,
        name,
    };
    Ok((opened, password))
}

/// The key of a native room (its header's salt and iterations), so more writers open it
/// without deriving it again each.
fn room_key(opened: &OpenedRoom, password: &str) -> Result<ftpchat_core::FernetKey, CliError> {
    let path = RemotePath::new(&format!("{}/room.ftpchat", opened.target.room))
        .map_err(|e| CliError::Usage(format!("room name: {e}")))?;
    let bytes = ftpchat_core::read_bounded(
        opened.transport.transport.as_ref(),
        &path,
        ftpchat_core::codec::MAX_HEADER_LEN,
    )
    .map_err(|e| CliError::Unreachable {
        base: opened.target.display_base(),
        source: RoomError::Transport(e),
    })?
    .ok_or_else(|| CliError::NoRoom {
        room: opened.target.room.clone(),
        base: opened.target.display_base(),
    })?;
    let header = ftpchat_core::codec::RoomHeader::parse(&bytes).map_err(|e| CliError::Room {
        context: "the room header".into(),
        source: RoomError::Header(e),
    })?;
    let key = ftpchat_core::derive_key(password, &header.kdf);
    header
        .verify_key(&key)
        .map_err(|_| CliError::WrongPassword {
            room: opened.target.room.clone(),
        })?;
    Ok(key)
}

fn deliver(room: &Room, target: &Target) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match room.flush() {
            Ok(()) if room.outbox_len() == 0 => return Ok(()),
            Err(e) if !e.is_transient() => {
                return Err(CliError::Room {
                    context: "writing the imported messages".into(),
                    source: e,
                })
            }
            _ if Instant::now() >= deadline => {
                return Err(CliError::NotDelivered(format!(
                    "imported messages not delivered to {} within 60 s (run import again: \
                     what arrived is not written twice)",
                    target.display_base()
                )))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// `ftpchat invite`: an invitation to the member room (this device must be an admin).
/// Returns the invitation URL and the command that joins with it.
pub fn invite(
    opened: &OpenedRoom,
    role: Role,
    location: &str,
) -> Result<(String, String), CliError> {
    let invite_location = members::invitation_location(location, false).map_err(CliError::Usage)?;
    let invitation = opened
        .room
        .invite(role, &invite_location)
        .map_err(|e| CliError::Room {
            context: "making the invitation".into(),
            source: e,
        })?;
    let url = invitation.to_url();
    let command = format!("{} chat --join '{url}'", command_prefix());
    Ok((url, command))
}

/// `ftpchat members`: the member list (role, id, names, device fingerprints and whether
/// this device verified them), as `/members` shows it in the chat.
pub fn describe_members(opened: &OpenedRoom) -> Result<Vec<String>, CliError> {
    let Some((identity, dir)) = &opened.identity else {
        return Err(CliError::Usage(
            "members: not a member room (use --members)".into(),
        ));
    };
    let update = sync(opened)?;
    let mut names = Names::new();
    for m in &update.messages {
        if let Some(f) = &m.signer {
            names.insert(f.clone(), m.sender.clone());
        }
    }
    // This device's name as its messages carry it, else the one it would use.
    names
        .entry(identity.public().fingerprint())
        .or_insert_with(|| opened.name.clone());
    let verified = Verified::load(Some(dir))
        .map_err(|e| CliError::io(dir.join(members::VERIFIED_FILE).display().to_string(), e))?;
    let list = opened.room.members().map_err(|e| CliError::Room {
        context: "reading the members".into(),
        source: e,
    })?;
    if members::own_member(&list, &identity.public()).is_none() {
        return Err(CliError::NotAMember {
            room: opened.target.room.clone(),
        });
    }
    Ok(members::describe_members(
        &list,
        Some(&identity.public()),
        &names,
        &verified,
    ))
}

/// Options of `serve` (the embedded FTP/FTPS server).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The folder served.
    pub root: PathBuf,
    /// The users file.
    pub users: PathBuf,
    /// Control port (default [`chat::DEFAULT_PORT`]; 0: any free port).
    pub port: Option<u16>,
    /// Listen address (default 127.0.0.1).
    pub bind: Option<std::net::IpAddr>,
    /// PEM certificate for FTPS (with `key`).
    pub cert: Option<PathBuf>,
    /// PEM key for FTPS (with `cert`).
    pub key: Option<PathBuf>,
    /// Generate a self-signed certificate into this folder and offer FTPS.
    pub self_signed: Option<PathBuf>,
    /// Extra names for the self-signed certificate.
    pub tls_names: Vec<String>,
    /// Refuse clients without TLS.
    pub require_tls: bool,
    /// Wrong passwords that block a user (default 3; 0: no lock-out).
    pub max_failures: Option<u32>,
    /// Seconds a block lasts (default 60).
    pub block_secs: Option<u64>,
    /// Log every session, not only warnings.
    pub verbose: bool,
}

/// `serve add-user`: adds `name` to the users file, with the password from
/// `FTPCHAT_FTP_PASSWORD`, `password_file` or a prompt (a salted hash is stored).
pub fn add_user(
    users_file: &Path,
    name: &str,
    password_file: Option<&Path>,
) -> Result<(), CliError> {
    if !crate::users::valid_name(name) {
        return Err(CliError::Usage(format!(
            "invalid user name {name:?}: no spaces or ':'"
        )));
    }
    let pw = read_password(
        crate::location::FTP_PASSWORD_ENV,
        password_file,
        &format!("Password for {name}: "),
    )?;
    crate::users::add_user(users_file, name, &pw).map_err(|e| CliError::Server(e.to_string()))
}

/// `serve remove-user`: removes `name`'s line from the users file.
pub fn remove_user(users_file: &Path, name: &str) -> Result<(), CliError> {
    let text = std::fs::read_to_string(users_file)
        .map_err(|e| CliError::io(users_file.display().to_string(), e))?;
    let prefix = format!("{name}:");
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with(&prefix))
        .collect();
    if kept.len() == text.lines().count() {
        return Err(CliError::Usage(format!(
            "{name} is not in {}",
            users_file.display()
        )));
    }
    let mut out = kept.join("\n");
    out.push('\n');
    crate::users::write_private(users_file, out.as_bytes())
        .map_err(|e| CliError::io(users_file.display().to_string(), e))
}

/// `serve`: starts the server, prints where it listens and who may log in, and serves
/// until the process ends. `add_user_hint` is the command that adds a user (for the
/// error when the users file is missing).
pub fn serve(
    options: &ServeOptions,
    add_user_hint: &str,
) -> Result<std::convert::Infallible, CliError> {
    use crate::server::{self, EmbeddedServer, Lockout, ServerConfig, TlsFiles};
    init_logging(options.verbose);
    let users_file = &options.users;
    let parsed = crate::users::Users::load(users_file).map_err(|e| {
        CliError::Server(format!(
            "{}: {e} (create it with `{add_user_hint} --users {} NAME`)",
            users_file.display(),
            users_file.display()
        ))
    })?;
    for (line, why) in &parsed.skipped {
        eprintln!(
            "serve: warning: {} line {line} skipped: {why}",
            users_file.display()
        );
    }
    let tls = match (&options.cert, &options.key, &options.self_signed) {
        (Some(cert), Some(key), None) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (None, None, Some(dir)) => Some(
            server::write_self_signed(dir, &options.tls_names)
                .map_err(|e| CliError::Server(e.to_string()))?,
        ),
        (None, None, None) => None,
        _ => {
            return Err(CliError::Usage(
                "use --cert with --key, or --self-signed DIR".into(),
            ))
        }
    };
    let mut config = ServerConfig::new(&options.root, users_file);
    config.bind = options
        .bind
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    config.port = options.port.unwrap_or(chat::DEFAULT_PORT);
    config.require_tls = options.require_tls;
    config.lockout = match options.max_failures {
        Some(0) => None,
        n => Some(Lockout {
            max_failures: n.unwrap_or(server::DEFAULT_MAX_FAILURES),
            block_for: options
                .block_secs
                .map(Duration::from_secs)
                .unwrap_or(server::DEFAULT_BLOCK),
        }),
    };
    let tls_note = match &tls {
        Some(t) if options.require_tls => {
            format!("FTPS required, certificate {}", t.cert.display())
        }
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
    let server = EmbeddedServer::start(config).map_err(|e| CliError::Server(e.to_string()))?;
    let scheme = if server.tls() { "ftps" } else { "ftp" };
    println!(
        "serving {} on {scheme}://{} ({tls_note})",
        options.root.display(),
        server.addr()
    );
    println!(
        "users: {} ({} listed; delete a line to revoke access); {lockout_note}",
        users_file.display(),
        parsed.entries.len()
    );
    println!("ready; Ctrl-C stops");
    let _ = io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Prints log records (libunftp's logins and lock-outs) on standard error.
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

    #[test]
    fn url_users() {
        let user = |l: &str| url_user(&Target::parse(l).unwrap());
        assert_eq!(user("ftp://bob:pw@host/lobby").as_deref(), Some("bob"));
        assert_eq!(
            user("ftps://b%40b@host:21/dir/lobby").as_deref(),
            Some("b@b")
        );
        assert_eq!(user("ftp://host/lobby"), None);
        assert_eq!(user("/srv/bob@x/lobby"), None);
    }

    #[test]
    fn display_names() {
        assert_eq!(display_name(Some(" Ann "), None), "Ann");
        // Without --name: the login name, which this process always has on Unix (from
        // the environment or the account).
        let login = login_name();
        #[cfg(unix)]
        assert!(login.is_some());
        if let Some(login) = login {
            assert_eq!(display_name(None, None), login);
            assert_eq!(display_name(Some("  "), None), login);
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_account_name_is_this_process_owner() {
        use std::os::unix::fs::MetadataExt;
        let name = os_account_name().unwrap();
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        assert!(passwd
            .lines()
            .any(|l| l.starts_with(&format!("{name}:"))
                && l.split(':').nth(2) == Some(&uid.to_string())));
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(1_795_155_487_123).unwrap(),
            "2026-11-20T06:18:07.123Z"
        );
        assert_eq!(rfc3339(u64::MAX), None);
    }

    #[test]
    fn password_files_give_their_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret pass\nignored\n").unwrap();
        let pw = read_password("FTPCHAT_TEST_UNSET_VARIABLE", Some(&file), "").unwrap();
        assert_eq!(pw.as_str(), "s3cret pass");
        std::fs::write(&file, "\n").unwrap();
        let err = read_password("FTPCHAT_TEST_UNSET_VARIABLE", Some(&file), "").unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        let err = read_password("X", Some(&dir.path().join("missing")), "").unwrap_err();
        assert!(matches!(err, CliError::Io { .. }), "{err}");
    }
}
