//! `chat`: a terminal chat client.
//!
//! ```text
//! cargo run -p ftpchat-examples --bin chat                        # start a server here, chat
//! cargo run -p ftpchat-examples --bin chat -- ftp://guest:pw@127.0.0.1:2221/lobby   # join
//! cargo run -p ftpchat-examples --bin chat -- --compat 1.7 ftp://host/dir/chat.txt # FTPChat
//! cargo run -p ftpchat-examples --bin chat -- --members     # a member room on a server here
//! cargo run -p ftpchat-examples --bin chat -- --join 'ftpchat://join?...'  # from /invite
//! cargo run -p ftpchat-examples --bin chat -- --help
//! ```
//!
//! Without a location it starts the embedded FTP server on 127.0.0.1 (a temporary folder, a
//! generated login for user `guest`) and prints the command a second person runs to join.
//! The room password comes from `FTPCHAT_PASSWORD` or a prompt that does not echo.
//!
//! Sending never waits for the network: [`Room::send`](ftpchat_core::Room::send) puts the
//! message in the outbox and a background watcher
//! ([`Room::watch`](ftpchat_core::Room::watch)) delivers it and reads what others wrote.
//! When the server goes away the status bar says so and the outbox count grows; when it
//! comes back the watcher delivers the outbox and catches up.
//!
//! Files: `/send PATH [caption]` uploads an encrypted file
//! ([`Room::send_file_with`](ftpchat_core::Room::send_file_with)) and `/save [^N] [PATH]`
//! downloads one ([`Room::save_attachment_with`](ftpchat_core::Room::save_attachment_with)),
//! each on a thread of its own with a progress bar above the status bar; `/cancel` stops
//! them.
//!
//! Member rooms (`--members`, `--join`) have no room password: this device's identity
//! (kept in the state folder) signs every message, admins `/invite` and `/remove` members,
//! and `/whois` and `/verify` compare and record device fingerprints.

use std::io::{self, IsTerminal};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ftpchat_core::TransportEvent;
use ftpchat_core::{DeviceIdentity, Invitation, Member, MemberId, RoomConfig};
use ftpchat_core::{Message, MessageId, Transfer};
use ftpchat_core::{Password, Room, RoomError, RoomEvent, RoomListener, WatchHandle, WatchOptions};
use ftpchat_examples::chat::{
    self, search_lines, ChatArgs, Command, Direction, Transcript, DEFAULT_PORT, DEFAULT_ROOM,
    IN_CHAT_HELP, SEARCH_PAGE, USAGE,
};
use ftpchat_examples::location::{open_transport, OpenedTransport, Target, TransportOptions};
use ftpchat_examples::members::{self, Names, Verified};
use ftpchat_examples::observe::{Connectivity, ObservedTransport, Observer};
use ftpchat_examples::secret::{self, ROOM_PASSWORD_ENV};
use ftpchat_examples::server::{self, EmbeddedServer, ServerConfig};
use ftpchat_examples::users;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Position};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};
use ratatui::{DefaultTerminal, Frame};

/// The answer to a member-room command in another room.
const NOT_A_MEMBER_ROOM: &str =
    "not a member room: members, invitations and fingerprints are for rooms opened with \
     --members or --join (see --help)";

/// Member rooms: told once when this device is removed.
const REMOVED_NOTICE: &str = "YOU WERE REMOVED from this room by an admin: you read nothing \
     sent from now on, and nothing you type is written";
/// Member rooms: the answer to a message typed by a device that is not a member.
const NOT_SENT_NOTICE: &str = "NOT SENT: you are not a member of this room (you were \
     removed): nothing you type is written";

/// Show the download bar when at least this much is left to read.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024;
/// At most this many transfer bars above the status bar (more are summed up in one line).
const TRANSFER_ROWS: usize = 3;
/// On quitting: how long cancelled transfers get to stop (an upload removes its partial
/// file from the server).
const TRANSFER_STOP_WAIT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The embedded server started when no location is given, and what it needs to live.
struct Hosted {
    server: EmbeddedServer,
    url: String,
    join: String,
    // Dropped (deleted) after the server stops: the served folder and the users file.
    _root: tempfile::TempDir,
    _secrets: tempfile::TempDir,
}

/// A random login password for the embedded server's `guest` user (letters and digits,
/// so it needs no escaping in a URL).
fn random_login_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes: [u8; 16] = ftpchat_core::codec::random_bytes();
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn host(args: &ChatArgs) -> Result<Hosted, String> {
    let io_err = |what: &str, e: io::Error| format!("{what}: {e}");
    let root = tempfile::Builder::new()
        .prefix("ftpchat-served-")
        .tempdir()
        .map_err(|e| io_err("temporary folder", e))?;
    let secrets = tempfile::Builder::new()
        .prefix("ftpchat-server-")
        .tempdir()
        .map_err(|e| io_err("temporary folder", e))?;
    let users_file = secrets.path().join("users");
    let login = random_login_password();
    users::add_user(&users_file, "guest", &login).map_err(|e| e.to_string())?;

    let bind = args.bind.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = match args.port {
        Some(p) => p,
        None if server::port_is_free(bind, DEFAULT_PORT) => DEFAULT_PORT,
        None => 0,
    };
    let mut config = ServerConfig::new(root.path(), &users_file);
    config.bind = bind;
    config.port = port;
    let server = EmbeddedServer::start(config).map_err(|e| e.to_string())?;
    let shown_host = match bind {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let room = args.room.clone().unwrap_or_else(|| DEFAULT_ROOM.to_owned());
    let room = ftpchat_examples::location::percent_encode(&room);
    let url = format!("ftp://guest:{login}@{shown_host}:{}/{room}", server.port());
    let join = if args.members {
        "/invite in the chat prints the command another person runs to join".to_owned()
    } else {
        format!("{} {}{url}", join_command(), args.room_options())
    };
    Ok(Hosted {
        server,
        url,
        join,
        _root: root,
        _secrets: secrets,
    })
}

/// Member rooms: this device's identity from the state folder (created there the first
/// time), and the folder.
fn load_identity(args: &ChatArgs) -> Result<(Arc<DeviceIdentity>, std::path::PathBuf), String> {
    let dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => members::default_state_dir().ok_or(
            "member rooms keep this device's identity in a folder: give --state-dir DIR \
             (no $XDG_DATA_HOME, $HOME or %APPDATA% to put it in)",
        )?,
    };
    let identity = DeviceIdentity::load_or_create(&dir)
        .map_err(|e| format!("device identity in {}: {e}", dir.display()))?;
    Ok((Arc::new(identity), dir))
}

/// How a second person runs this client, in the commands it prints (`ftpchat chat` sets
/// its own).
static JOIN_COMMAND: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the command shown to others to join (`chat`: itself under cargo).
pub(crate) fn set_join_command(command: String) {
    let _ = JOIN_COMMAND.set(command);
}

fn join_command() -> &'static str {
    JOIN_COMMAND.get_or_init(|| "ftpchat chat".to_owned())
}

fn run() -> Result<(), String> {
    let args = ChatArgs::parse(std::env::args().skip(1))?;
    if args.help {
        println!("{USAGE}");
        return Ok(());
    }
    set_join_command("cargo run -p ftpchat-examples --bin chat --".to_owned());
    run_chat(args)
}

/// Runs the chat with parsed arguments (also `ftpchat chat`).
pub(crate) fn run_chat(args: ChatArgs) -> Result<(), String> {
    let name = chat::default_name(args.name.as_deref());

    let invitation = match &args.join {
        Some(text) => Some(
            Invitation::parse(&members::clean_invitation(text))
                .map_err(|e| format!("--join: {e}"))?,
        ),
        None => None,
    };
    let identity = if args.members {
        Some(load_identity(&args)?)
    } else {
        None
    };
    let hosted = if args.hosts() {
        Some(host(&args)?)
    } else {
        None
    };
    let invitation_location_used = invitation.is_some();
    let location = match (&args.location, &invitation, &hosted) {
        (Some(l), _, _) => l.clone(),
        (None, Some(inv), _) => inv.location().to_owned(),
        (None, None, Some(h)) => h.url.clone(),
        (None, None, None) => return Err("no location".into()),
    };
    if let Some(h) = &hosted {
        println!(
            "Started an FTP server on {} serving a temporary folder (deleted when you quit).",
            h.server.addr()
        );
        if args.members {
            println!(
                "A member room: no room password; {}. Quitting this chat stops the server.",
                h.join
            );
        } else {
            println!("To join from another terminal, run:\n\n    {}\n", h.join);
            println!(
                "and type the same room password when asked (or set {ROOM_PASSWORD_ENV}). \
                 Quitting this chat stops the server."
            );
        }
        if args.bind.is_some_and(|b| b.is_unspecified()) {
            println!("From another machine, replace 127.0.0.1 with this machine's LAN address.");
        }
        println!();
    }

    let target = Target::parse(&location)?.with_login_password()?;
    let ca_pem = match &args.ca_file {
        Some(path) => Some(
            std::fs::read_to_string(path).map_err(|e| format!("--ca {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let opened = open_transport(
        &target,
        &TransportOptions {
            ca_pem,
            connect_timeout: Some(Duration::from_secs(5)),
            io_timeout: Some(Duration::from_secs(15)),
        },
    )?;

    let password = if args.needs_password() {
        let prompt = if hosted.is_some() {
            "Choose a room password: ".to_owned()
        } else {
            format!("Room password for {}: ", target.room)
        };
        let pw = secret::from_env_or_prompt(ROOM_PASSWORD_ENV, &prompt)
            .map_err(|e| format!("room password: {e}"))?;
        if pw.is_empty() {
            return Err("the room password must not be empty".into());
        }
        Some(Password::new(pw.as_str()))
    } else {
        // FTPChat 1.5 has no key; a password, if set, also reads 1.6 and 1.7 lines.
        std::env::var(ROOM_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Password::new)
    };
    let mut config = match (&identity, invitation) {
        (Some((identity, dir)), Some(invitation)) => {
            // The invitation names the room (its id and membership anchor, checked on
            // opening): anything saved here about an earlier room at this location is stale.
            RoomConfig::join(&target.room, &name, identity.clone(), invitation)
                .with_changed_header_accepted(true)
                .with_state_dir(dir)
        }
        (Some((identity, dir)), None) => {
            RoomConfig::member_room(&target.room, &name, identity.clone())
                .with_state_dir(dir)
                // The started server's room is new every time.
                .with_changed_header_accepted(hosted.is_some())
        }
        (None, _) => chat::room_config(
            &target.room,
            args.compat,
            &name,
            password,
            args.compat_kdf()?,
        )?,
    };
    if args.lock {
        config = config.with_lock(true);
    }
    if args.show_unauthenticated {
        config = config.with_unauthenticated(true);
    }
    if let (Some(dir), None) = (&args.state_dir, &identity) {
        config = config.with_state_dir(dir);
    }

    let observed = Arc::new(ObservedTransport::new(opened.transport.clone()));
    let observer = observed.observer();
    eprintln!(
        "Opening {} on {}{}…",
        target.room,
        target.display_base(),
        if args.needs_password() {
            " (deriving the room key takes a moment)"
        } else {
            ""
        }
    );
    let room = Room::open(observed, config).map_err(|e| match e {
        RoomError::WrongPassword => "wrong room password".to_owned(),
        RoomError::NotAMember => format!(
            "this device is not a member of {}: ask an admin of the room for an invitation \
             (/invite) and open it with --join",
            target.room
        ),
        RoomError::NotFound(_) if args.join.is_some() => format!(
            "no room at {}/{} (the invitation's room is elsewhere, or was deleted)",
            target.display_base(),
            target.room
        ),
        e @ RoomError::Membership(_) if args.join.is_some() => format!(
            "{e} (an invitation works once: if you joined with it before, open the room \
             with --members LOCATION)"
        ),
        e if e.is_transient() => format!("cannot reach {}: {e}", target.display_base()),
        e => e.to_string(),
    })?;

    let member = match &identity {
        Some((identity, dir)) => Some(MemberState {
            removed: members::own_member(&room.members().unwrap_or_default(), &identity.public())
                .is_none(),
            identity: identity.clone(),
            verified: Verified::load(Some(dir))
                .map_err(|e| format!("{}: {e}", dir.join(members::VERIFIED_FILE).display()))?,
            names: Names::from([(identity.public().fingerprint(), name.clone())]),
            known: room.members().unwrap_or_default(),
            // The started server's location keeps its shared guest login, and so does one
            // taken from an invitation (what its admin chose to share); others lose theirs.
            invite_location: members::invitation_location(
                &location,
                hosted.is_some() || (invitation_location_used && args.location.is_none()),
            )?,
            hint_own_login: hosted.is_none()
                && args.join.is_none()
                && target.kind.is_ftp()
                && location.contains('@'),
        }),
        None => None,
    };

    let (tx, rx) = mpsc::channel();
    let watch = room.watch(
        Arc::new(Listener {
            tx: tx.clone(),
            file: args.compat.map(|_| target.room.clone()),
            wrong_password_shown: AtomicBool::new(false),
            not_a_member_shown: AtomicBool::new(false),
        }),
        WatchOptions::new(Duration::from_millis(250), Duration::from_secs(2)),
    );
    let mut app = App {
        room: room.clone(),
        transcript: Transcript::new(),
        input: String::new(),
        scroll: 0,
        observer,
        opened,
        server: target.display_base(),
        room_name: target.room.clone(),
        name,
        online: None,
        history_busy: false,
        transfers: Vec::new(),
        next_transfer: 0,
        compat: args.compat.is_some(),
        tx,
        quit: false,
        member,
        typing_said: None,
    };
    if let Some(m) = &app.member {
        app.transcript
            .set_verified(m.verified.fingerprints().clone());
        let me = m.identity.public();
        let mine = members::own_member(&m.known, &me)
            .map(|o| {
                format!(
                    ", member {} ({})",
                    members::short_id(&o.id),
                    members::role_name(o.role)
                )
            })
            .unwrap_or_default();
        app.transcript.notice(format!(
            "You are {} in member room {} on {}{mine}. /help lists the commands.",
            app.name, app.room_name, app.server
        ));
        app.transcript.notice(format!(
            "Your device fingerprint: {} (others compare it with /whois)",
            me.fingerprint()
        ));
        if mine.is_empty() {
            app.transcript.notice(
                "This device is not a member of this room (any more): you read what was sent \
                 while it was, and nothing you type is written",
            );
        }
        if args.join.is_some() {
            app.transcript.notice(format!(
                "You joined with the invitation. Next time open the room with: \
                 {} --members {}{}",
                join_command(),
                location,
                args.state_dir
                    .as_ref()
                    .map(|d| format!(" --state-dir {}", d.display()))
                    .unwrap_or_default()
            ));
        }
    } else {
        app.transcript.notice(format!(
            "You are {} in room {} on {}. /help lists the commands.",
            app.name, app.room_name, app.server
        ));
    }
    if let Some(h) = &hosted {
        if args.members {
            app.transcript.notice(format!("Others join: {}", h.join));
        } else {
            app.transcript
                .notice(format!("Others join with: {}", h.join));
        }
    }
    match args.compat {
        Some(chat::CompatVersion::V15) => app.transcript.notice(
            "WARNING: FTPChat 1.5 has no key: anyone who can read the chat file reads every \
             message, and anyone who can write it can write under any name",
        ),
        Some(chat::CompatVersion::V16) => app.transcript.notice(
            "You write FTPChat 1.6 lines: FTPChat 1.7 clients stop showing messages at the \
             first of them (use --compat 1.7 if any 1.7 client reads this file)",
        ),
        Some(chat::CompatVersion::V17) | None => {}
    }

    if !io::stdout().is_terminal() {
        return Err("chat needs an interactive terminal (see --help)".into());
    }
    let mut terminal = ratatui::try_init().map_err(|e| format!("terminal: {e}"))?;
    let result = ui_loop(&mut terminal, &mut app, &rx);
    ratatui::restore();
    result.map_err(|e| format!("terminal: {e}"))?;

    stop_transfers(&mut app);
    shut_down(&room, watch, &app, args.state_dir.is_some());
    drop(hosted);
    Ok(())
}

/// Cancels the files being sent or saved and waits a little for them to stop: a
/// cancelled upload removes its partial copy from the server, a save keeps what it
/// verified for next time.
fn stop_transfers(app: &mut App) {
    if app.transfers.is_empty() {
        return;
    }
    println!("Stopping {} file transfer(s)…", app.transfers.len());
    for t in &app.transfers {
        t.transfer.cancel();
    }
    let deadline = Instant::now() + TRANSFER_STOP_WAIT;
    while Instant::now() < deadline && app.transfers.iter().any(|t| !t.thread.is_finished()) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in app.transfers.drain(..) {
        if t.thread.is_finished() {
            let _ = t.thread.join();
        }
    }
}

/// Stops the watcher and delivers what is left in the outbox if the server answers.
fn shut_down(room: &Room, watch: WatchHandle, app: &App, kept: bool) {
    watch.stop();
    let waiting = room.outbox_len();
    if waiting == 0 {
        return;
    }
    if matches!(app.observer.connectivity(), Connectivity::Offline(_)) {
        println!(
            "{waiting} message(s) were not delivered: the server is offline. {}",
            if kept {
                "They are kept in --state-dir and go out next time."
            } else {
                "They are lost (use --state-dir to keep unsent messages)."
            }
        );
        return;
    }
    println!("Delivering {waiting} message(s)…");
    match room.flush() {
        Ok(()) => println!("Delivered."),
        Err(e) => println!("{} message(s) not delivered: {e}", room.outbox_len()),
    }
}

/// What the background threads tell the UI.
enum UiEvent {
    Messages(Vec<Message>),
    /// Messages on screen that were edited, deleted or reacted to.
    Changed(Vec<Message>),
    Confirmed(Vec<MessageId>),
    Notice(String),
    History(Result<Vec<Message>, String>),
    /// Member rooms: the membership may have changed (read it again).
    MembersChanged,
    /// Member rooms: this device was removed.
    Removed,
    /// Member rooms: `/invite` made this invitation URL.
    Invitation(Result<String, String>),
    /// Member rooms: a `/remove` or `/promote` finished (what to say).
    MemberChange(String),
    /// A file transfer got this far.
    TransferProgress {
        id: u64,
        done: u64,
        total: u64,
    },
    /// A file transfer ended: what it did, or why it failed (one line).
    TransferDone {
        id: u64,
        outcome: Result<Finished, String>,
    },
}

/// What a finished transfer did.
enum Finished {
    /// `/send`: the file is on the server and its message in the outbox.
    Sent(MessageId),
    /// `/save`: the file is verified and in place.
    Saved(PathBuf),
}

/// A `/send` or `/save` running on its own thread.
struct ActiveTransfer {
    id: u64,
    direction: Direction,
    /// The file's name (as shown).
    name: String,
    /// Where a save goes.
    target: Option<PathBuf>,
    done: u64,
    total: u64,
    transfer: Transfer,
    thread: JoinHandle<()>,
}

impl ActiveTransfer {
    /// `sending photo.png [#####-----] 52% 5.2/10.0 MiB`.
    fn describe(&self) -> String {
        let verb = match self.direction {
            Direction::Send => "sending",
            Direction::Save => "saving",
        };
        format!("{verb} {} {}", self.name, self.bar())
    }

    /// `[#####-----] 52% 5.2/10.0 MiB`.
    fn bar(&self) -> String {
        chat::progress_bar(self.done, self.total)
    }
}

/// What the chat knows about a member room.
struct MemberState {
    identity: Arc<DeviceIdentity>,
    verified: Verified,
    /// The name each device signed its latest message with.
    names: Names,
    /// The members as last shown (membership changes are told as differences).
    known: Vec<Member>,
    /// The location invitations carry.
    invite_location: String,
    /// Invitations to an FTP server this user logs in to: the invitee needs a login too.
    hint_own_login: bool,
    /// This device was removed.
    removed: bool,
}

/// The watcher's listener: forwards to the UI thread and returns at once.
struct Listener {
    tx: Sender<UiEvent>,
    /// The FTPChat chat file (`--compat` rooms).
    file: Option<String>,
    /// A wrong room password is said once, not on every poll.
    wrong_password_shown: AtomicBool,
    /// Member rooms: "not a member" is said once, not on every poll.
    not_a_member_shown: AtomicBool,
}

impl RoomListener for Listener {
    fn on_messages(&self, messages: &[Message]) {
        let _ = self.tx.send(UiEvent::Messages(messages.to_vec()));
    }

    fn on_confirmed(&self, ids: &[MessageId]) {
        let _ = self.tx.send(UiEvent::Confirmed(ids.to_vec()));
    }

    fn on_changed(&self, messages: &[Message]) {
        let _ = self.tx.send(UiEvent::Changed(messages.to_vec()));
    }

    fn on_event(&self, event: &RoomEvent) {
        match event {
            RoomEvent::MembershipChanged { .. } => {
                let _ = self.tx.send(UiEvent::MembersChanged);
                return;
            }
            RoomEvent::RemovedFromRoom => {
                let _ = self.tx.send(UiEvent::Removed);
                return;
            }
            _ => {}
        }
        let text = match event {
            // (Rooms that write 1.6 or 1.7 get `RoomError::WrongPassword` instead.)
            RoomEvent::WrongPassword { .. }
            | RoomEvent::FileReplaced { .. }
            | RoomEvent::OutboxHeld { .. }
            | RoomEvent::HeaderChanged
            | RoomEvent::WriterIdConflict { .. }
            | RoomEvent::TooManyLogs { .. } => Some(event.to_string()),
            RoomEvent::UndecodableLine { .. } | RoomEvent::UnauthenticatedLine { .. } => {
                Some(format!("skipped a line: {event}"))
            }
            RoomEvent::MessagesLeftOut { messages } => Some(format!(
                "{messages} older messages are not shown here: /history pages them"
            )),
            RoomEvent::ForeignRecord { file, .. } => {
                Some(format!("skipped a record that does not belong in {file}"))
            }
            RoomEvent::RecordRefused { reason, .. } => Some(format!(
                "REFUSED a message: {reason} (it is not shown; {event})"
            )),
            RoomEvent::MembershipRejected { .. } | RoomEvent::DuplicateRecordId { .. } => {
                Some(event.to_string())
            }
            RoomEvent::ChangeRefused { reason, .. } => Some(format!(
                "REFUSED an edit, delete or reaction: {reason} (the message is unchanged)"
            )),
            RoomEvent::Transport(TransportEvent::TlsFallback { reason }) => Some(format!(
                "WARNING: the server has no TLS ({reason}); the FTP login went in plain text"
            )),
            _ => None,
        };
        if let Some(text) = text {
            let _ = self.tx.send(UiEvent::Notice(text));
        }
    }

    fn on_error(&self, error: &RoomError) {
        if matches!(error, RoomError::WrongPassword) {
            // Every poll fails the same way until the chat is restarted: say it once.
            if !self.wrong_password_shown.swap(true, Ordering::SeqCst) {
                let file = self.file.as_deref().unwrap_or("the chat file");
                let _ = self.tx.send(UiEvent::Notice(format!(
                    "WRONG PASSWORD: the lines of {file} do not open with this room password \
                     (or the file was made with other --salt/--iterations values). Nothing \
                     you send is written (it would stop FTPChat 1.7 readers): quit with /quit \
                     and start again with the right password."
                )));
            }
            return;
        }
        if matches!(error, RoomError::NotAMember) {
            if !self.not_a_member_shown.swap(true, Ordering::SeqCst) {
                let _ = self.tx.send(UiEvent::Notice(
                    "this device is not a member of the room (any more): nothing you send is \
                     written"
                        .into(),
                ));
            }
            return;
        }
        if !error.is_transient() {
            let _ = self.tx.send(UiEvent::Notice(format!("error: {error}")));
        }
    }
}

struct App {
    room: Room,
    transcript: Transcript,
    input: String,
    /// Lines scrolled up from the bottom.
    scroll: usize,
    observer: Observer,
    opened: OpenedTransport,
    server: String,
    room_name: String,
    name: String,
    /// Last connectivity shown (for "connection lost" / "back online" notices).
    online: Option<bool>,
    history_busy: bool,
    /// Files being sent or saved, oldest first.
    transfers: Vec<ActiveTransfer>,
    /// The id of the next transfer.
    next_transfer: u64,
    /// An FTPChat chat file (`--compat`): it cannot carry files.
    compat: bool,
    tx: Sender<UiEvent>,
    quit: bool,
    /// Member rooms only.
    member: Option<MemberState>,
    /// When this user's typing was last told to the room.
    typing_said: Option<std::time::Instant>,
}

fn ui_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    rx: &Receiver<UiEvent>,
) -> io::Result<()> {
    while !app.quit {
        while let Ok(event) = rx.try_recv() {
            app.apply(event);
        }
        app.track_connectivity();
        terminal.draw(|frame| draw(frame, app))?;
        if event::poll(Duration::from_millis(100))? {
            if let Event::Key(key) = event::read()? {
                if key.kind != KeyEventKind::Release {
                    app.key(key.code, key.modifiers);
                }
            }
        }
    }
    Ok(())
}

impl App {
    fn apply(&mut self, event: UiEvent) {
        match event {
            UiEvent::Messages(messages) => {
                if let Some(m) = &mut self.member {
                    for message in messages.iter().filter(|x| !x.is_own) {
                        if let Some(signer) = &message.signer {
                            m.names.insert(signer.clone(), message.sender.clone());
                        }
                    }
                }
                // A private message of another conversation than the one shown: say so.
                let elsewhere: Vec<(MemberId, String)> = messages
                    .iter()
                    .filter(|m| m.private.is_some() && m.private != self.transcript.conversation())
                    .filter_map(|m| Some((m.private?, m.sender.clone())))
                    .collect();
                self.transcript.add_messages(&messages);
                // Everything that arrives is on screen: read (published as a read position
                // in member rooms, unless receipts are off).
                if self.member.is_some() {
                    if let Some(last) = messages.last() {
                        let _ = self.room.mark_read(&last.id);
                    }
                }
                for (from, name) in elsewhere {
                    let short = members::short_id(&from);
                    self.transcript.notice(format!(
                        "private message from {name} ({short}): /open {short} shows it"
                    ));
                }
            }
            // Whether this device was removed is read from the membership itself: the core
            // also reports `RemovedFromRoom` while a joining device reads the commits before
            // its own acceptance.
            UiEvent::MembersChanged | UiEvent::Removed => self.members_changed(),
            UiEvent::Invitation(Ok(url)) => self.show_invitation(&url),
            UiEvent::Invitation(Err(e)) => self.transcript.notice(format!("no invitation: {e}")),
            UiEvent::MemberChange(text) => {
                self.transcript.notice(text);
                self.members_changed();
            }
            UiEvent::Confirmed(ids) => self.transcript.confirm(&ids),
            UiEvent::Changed(messages) => self.transcript.update(&messages),
            UiEvent::Notice(text) => self.transcript.notice(text),
            UiEvent::TransferProgress { id, done, total } => {
                if let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) {
                    (t.done, t.total) = (done, total);
                }
            }
            UiEvent::TransferDone { id, outcome } => self.transfer_done(id, outcome),
            UiEvent::History(result) => {
                self.history_busy = false;
                match result {
                    Ok(older) => {
                        let n = self.transcript.prepend(older);
                        self.transcript.notice(if n == 0 {
                            "no older messages".to_owned()
                        } else {
                            format!("{n} older message(s) added at the top (PageUp to see them)")
                        });
                    }
                    Err(e) => self
                        .transcript
                        .notice(format!("history not available now: {e}")),
                }
            }
        }
    }

    /// Tells what changed in the membership since it was last shown.
    fn members_changed(&mut self) {
        let Some(m) = &mut self.member else { return };
        let Ok(now) = self.room.members() else { return };
        let me = m.identity.public();
        let was_member = members::own_member(&m.known, &me).is_some();
        let is_member = members::own_member(&now, &me).is_some();
        for change in members::membership_changes(&m.known, &now, Some(&me), &m.names) {
            self.transcript.notice(format!("members: {change}"));
        }
        m.known = now;
        m.removed = !is_member;
        if was_member && !is_member {
            self.transcript.notice(REMOVED_NOTICE);
        }
    }

    /// Member rooms: `true` when this device is not (any more) a member, as of the last
    /// read of the membership.
    fn not_a_member(&self) -> bool {
        self.member.as_ref().is_some_and(|m| {
            let now = self.room.members().unwrap_or_default();
            members::own_member(&now, &m.identity.public()).is_none()
        })
    }

    fn show_invitation(&mut self, url: &str) {
        let hint = self.member.as_ref().is_some_and(|m| m.hint_own_login);
        self.transcript.notice(
            "Invitation (one person, once; it is a secret: hand it over a channel you trust):",
        );
        self.transcript.notice(url);
        self.transcript.notice(
            "They join with this command (another person on this machine adds --state-dir DIR):",
        );
        self.transcript
            .notice(format!("{} --join '{url}'", join_command()));
        if hint {
            self.transcript.notice(
                "The invitation carries no FTP login: they add theirs after it, e.g. \
                 --join '...' ftp://THEIR_USER@host/dir/room",
            );
        }
    }

    /// The member `query` names, with a warning when found by its (unauthenticated) name.
    fn find_member(&mut self, query: &str) -> Option<Member> {
        let Some(m) = &self.member else {
            self.transcript.notice(NOT_A_MEMBER_ROOM);
            return None;
        };
        let current = self.room.members().unwrap_or_default();
        match members::resolve(&current, query, &m.names) {
            Ok((found, by_name)) => {
                if by_name {
                    self.transcript.notice(format!(
                        "{query:?} is member {} (found by name: names are not authenticated, \
                         check the id)",
                        members::short_id(&found.id)
                    ));
                }
                Some(found.clone())
            }
            Err(e) => {
                self.transcript.notice(e);
                None
            }
        }
    }

    /// Runs a membership change off the UI thread (it writes to the server).
    fn change_member(&mut self, query: &str, what: &'static str) {
        let Some(target) = self.find_member(query) else {
            return;
        };
        let room = self.room.clone();
        let tx = self.tx.clone();
        let id: MemberId = target.id;
        let short = members::short_id(&id);
        self.transcript.notice(format!("{what} {short}…"));
        std::thread::spawn(move || {
            let result = match what {
                "removing" => room.remove_member(&id),
                _ => room.promote(&id),
            };
            let text = match result {
                Ok(epoch) if what == "removing" => {
                    format!("removed {short} (epoch {epoch}): it reads nothing sent from now on")
                }
                Ok(epoch) => format!("{short} is now an admin (epoch {epoch})"),
                Err(e) => format!("{what} {short} failed: {e}"),
            };
            let _ = tx.send(UiEvent::MemberChange(text));
        });
    }

    fn member_command(&mut self, command: Command) {
        if self.member.is_none() {
            self.transcript.notice(NOT_A_MEMBER_ROOM);
            return;
        }
        match command {
            Command::Invite(role) => {
                let Some(location) = self.member.as_ref().map(|m| m.invite_location.clone()) else {
                    return;
                };
                let room = self.room.clone();
                let tx = self.tx.clone();
                self.transcript.notice(format!(
                    "making an invitation ({})…",
                    members::role_name(role)
                ));
                std::thread::spawn(move || {
                    let result = room
                        .invite(role, &location)
                        .map(|inv| inv.to_url())
                        .map_err(|e| e.to_string());
                    let _ = tx.send(UiEvent::Invitation(result));
                });
            }
            Command::Members => {
                let Some(m) = &self.member else { return };
                let current = self.room.members().unwrap_or_default();
                let me = m.identity.public();
                for line in members::describe_members(&current, Some(&me), &m.names, &m.verified) {
                    self.transcript.notice(line);
                }
            }
            Command::Whois(query) => {
                let Some(found) = self.find_member(&query) else {
                    return;
                };
                let Some(m) = &self.member else { return };
                let me = m.identity.public();
                for line in members::describe_member(&found, Some(&me), &m.names, &m.verified) {
                    self.transcript.notice(line);
                }
            }
            Command::Verify(ref query) | Command::Unverify(ref query) => {
                let verify = matches!(command, Command::Verify(_));
                let Some(found) = self.find_member(query) else {
                    return;
                };
                let Some(m) = &mut self.member else { return };
                let mine = m.identity.public().fingerprint();
                let fingerprints: Vec<String> = found
                    .devices
                    .iter()
                    .map(|d| d.fingerprint())
                    .filter(|f| *f != mine)
                    .collect();
                if fingerprints.is_empty() {
                    self.transcript.notice("that is you: nothing to verify");
                    return;
                }
                let short = members::short_id(&found.id);
                match m.verified.set(&fingerprints, verify) {
                    Ok(()) => {
                        let set = m.verified.fingerprints().clone();
                        self.transcript.set_verified(set);
                        self.transcript.notice(if verify {
                            format!(
                                "{short}: device {} marked verified on this device ✓",
                                fingerprints.join(", ")
                            )
                        } else {
                            format!("{short}: no longer marked verified")
                        });
                    }
                    Err(e) => self.transcript.notice(format!("not saved: {e}")),
                }
            }
            Command::Remove(query) => self.change_member(&query, "removing"),
            Command::Promote(query) => self.change_member(&query, "promoting"),
            _ => {}
        }
    }

    fn track_connectivity(&mut self) {
        let now = match self.observer.connectivity() {
            Connectivity::Unknown => return,
            Connectivity::Online => true,
            Connectivity::Offline(_) => false,
        };
        match (self.online, now) {
            (Some(true), false) => self
                .transcript
                .notice("connection lost: you can keep writing, messages wait in the outbox"),
            (Some(false), true) => self
                .transcript
                .notice("back online: delivering the outbox and catching up"),
            _ => {}
        }
        self.online = Some(now);
    }

    fn key(&mut self, code: KeyCode, modifiers: KeyModifiers) {
        let ctrl = modifiers.contains(KeyModifiers::CONTROL);
        match code {
            KeyCode::Char('c' | 'd') if ctrl => self.quit = true,
            KeyCode::Char('u') if ctrl => self.input.clear(),
            KeyCode::Char(c) if !ctrl => {
                self.input.push(c);
                // Others see "typing" for a few seconds; said again at most every 5 s
                // (each call wakes the watcher to publish it).
                let due = self
                    .typing_said
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(5));
                if self.member.is_some() && !self.input.starts_with('/') && due {
                    self.typing_said = Some(std::time::Instant::now());
                    let _ = self.room.set_typing(true);
                }
            }
            KeyCode::Backspace => {
                self.input.pop();
            }
            KeyCode::Esc => self.input.clear(),
            KeyCode::PageUp => self.scroll += 10,
            KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::Up => self.scroll += 1,
            KeyCode::Down => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Enter => {
                let line = std::mem::take(&mut self.input);
                if self.typing_said.take().is_some() {
                    let _ = self.room.set_typing(false);
                }
                self.command(Command::parse(&line));
            }
            _ => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Nothing => {}
            Command::Quit => self.quit = true,
            Command::Help => {
                for line in IN_CHAT_HELP {
                    self.transcript.notice(*line);
                }
            }
            Command::Unknown(text) => self.transcript.notice(format!(
                "unknown command {text:?} (/help lists them; //text sends text starting with '/')"
            )),
            Command::History(n) => {
                if self.history_busy {
                    self.transcript.notice("already loading history");
                    return;
                }
                self.history_busy = true;
                self.transcript.notice("loading older messages…");
                let room = self.room.clone();
                let before = self.transcript.oldest_message();
                let tx = self.tx.clone();
                // History may download: never on the UI thread.
                std::thread::spawn(move || {
                    let result = room.history(before.as_ref(), n).map_err(|e| e.to_string());
                    let _ = tx.send(UiEvent::History(result));
                });
            }
            Command::Search(query) => {
                let room = self.room.clone();
                let tx = self.tx.clone();
                // The store is on this device, but a first search may read the history.
                std::thread::spawn(move || {
                    let lines = match room.search(&query, None, SEARCH_PAGE) {
                        Ok(found) => search_lines(&query, &found),
                        Err(e) => vec![format!("search not available: {e}")],
                    };
                    for line in lines {
                        let _ = tx.send(UiEvent::Notice(line));
                    }
                });
            }
            Command::Who | Command::Last => {
                let Some(m) = &self.member else {
                    self.transcript.notice(NOT_A_MEMBER_ROOM);
                    return;
                };
                let window = matches!(command, Command::Last).then_some(3_600_000);
                let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
                match self.room.presence() {
                    Ok(p) => {
                        for line in members::describe_presence(&p, window, now_ms, &m.names) {
                            self.transcript.notice(line);
                        }
                    }
                    Err(e) => self.transcript.notice(format!("no presence: {e}")),
                }
            }
            Command::Seen => {
                let Some(m) = &self.member else {
                    self.transcript.notice(NOT_A_MEMBER_ROOM);
                    return;
                };
                let Some(id) = self.transcript.nth_last_message(1, true) else {
                    self.transcript.notice("you have not written here yet");
                    return;
                };
                let current = self.room.members().unwrap_or_default();
                match self.room.seen_by(&id) {
                    Ok(seen) => {
                        let who: Vec<String> = seen
                            .readers
                            .iter()
                            .map(|r| {
                                let names = current
                                    .iter()
                                    .find(|x| x.id == *r)
                                    .map(|x| members::member_names(x, &m.names).join("/"))
                                    .unwrap_or_default();
                                format!("{names} ({})", members::short_id(r))
                            })
                            .collect();
                        self.transcript.notice(format!(
                            "your last message is seen by {} of {}{}",
                            seen.readers.len(),
                            seen.of,
                            if who.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", who.join(", "))
                            }
                        ));
                    }
                    Err(e) => self.transcript.notice(format!("no read receipts: {e}")),
                }
            }
            Command::SendFile { path, caption } => self.send_file(&path, &caption),
            Command::Save { back, path } => self.save_file(back, path.as_deref()),
            Command::Cancel => {
                if self.transfers.is_empty() {
                    self.transcript.notice("no file is being sent or saved");
                    return;
                }
                for t in &self.transfers {
                    t.transfer.cancel();
                }
                self.transcript.notice(format!(
                    "cancelling {} file transfer(s)…",
                    self.transfers.len()
                ));
            }
            Command::Invite(_)
            | Command::Members
            | Command::Whois(_)
            | Command::Verify(_)
            | Command::Unverify(_)
            | Command::Remove(_)
            | Command::Promote(_) => self.member_command(command),
            Command::Edit { back, text } => {
                let target = self.transcript.nth_last_message(back, true);
                self.change(target, "edit", |room, id| room.edit(id, &text));
            }
            Command::Delete { back } => {
                let target = self.transcript.nth_last_message(back, true);
                self.change(target, "delete", |room, id| room.delete(id));
            }
            Command::React { back, reaction } => {
                let target = self.transcript.nth_last_message(back, false);
                self.change(target, "react", |room, id| room.react(id, &reaction));
            }
            Command::Msg { to, text } => {
                if let Some(found) = self.find_member(&to) {
                    self.open_conversation(&found);
                    self.command(Command::Send(text));
                }
            }
            Command::Open(query) => {
                if let Some(found) = self.find_member(&query) {
                    self.open_conversation(&found);
                }
            }
            Command::Room => {
                self.transcript.set_conversation(None);
                self.transcript.notice("back in the room's conversation");
                self.scroll = 0;
            }
            Command::Block(ref query) | Command::Unblock(ref query) => {
                let block = matches!(command, Command::Block(_));
                let Some(found) = self.find_member(query) else {
                    return;
                };
                let short = members::short_id(&found.id);
                let result = if block {
                    self.room.block(&found.id)
                } else {
                    self.room.unblock(&found.id)
                };
                self.transcript.notice(match result {
                    Ok(()) if block => format!(
                        "blocked {short}: their messages are hidden on your devices (they are                          not told); /unblock {short} undoes it"
                    ),
                    Ok(()) => format!(
                        "unblocked {short}: their new messages show; /history brings back                          what was hidden"
                    ),
                    Err(e) => format!("not changed: {e}"),
                });
            }
            // A removed device's room still takes the message into its outbox (and never
            // delivers it): say so at once instead.
            Command::Send(_) if self.not_a_member() => self.transcript.notice(NOT_SENT_NOTICE),
            Command::Send(text) if self.transcript.conversation().is_some() => {
                let Some(to) = self.transcript.conversation() else {
                    return;
                };
                match self.room.send_private(&to, &text) {
                    Ok(id) => {
                        if let Some(message) = self.room.message(&id) {
                            self.transcript.upsert(message);
                        }
                        self.scroll = 0;
                    }
                    Err(e) => self.transcript.notice(format!("not sent: {e}")),
                }
            }
            Command::Send(text) => match self.room.send(&text) {
                Ok(id) => {
                    if let Some(message) = self.room.message(&id) {
                        self.transcript.upsert(message);
                    }
                    self.scroll = 0;
                }
                Err(RoomError::NotAMember) => self.transcript.notice(NOT_SENT_NOTICE),
                Err(e) => self.transcript.notice(format!("not sent: {e}")),
            },
        }
    }

    /// `/send`: uploads the file on a thread of its own (it may take a while); its message
    /// is queued when the file is on the server.
    fn send_file(&mut self, path: &str, caption: &str) {
        if self.compat {
            self.transcript.notice(
                "not sent: files need a native or member room (an FTPChat chat file cannot \
                 carry them)",
            );
            return;
        }
        if self.transcript.conversation().is_some() {
            self.transcript.notice(
                "not sent: files go to the whole room, not to a private conversation (/room \
                 goes back to the room)",
            );
            return;
        }
        if self.not_a_member() {
            self.transcript.notice(NOT_SENT_NOTICE);
            return;
        }
        let path = chat::expand_home(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let room = self.room.clone();
        let caption = caption.to_owned();
        let thread_name = name.clone();
        // The bar's total until the transfer reports (0 when the file is not there).
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.start_transfer(Direction::Send, name, None, size, move |transfer| {
            room.send_file_with(&path, &caption, transfer)
                .map(Finished::Sent)
                .map_err(|e| chat::transfer_error(&e, Direction::Send, &thread_name))
        });
    }

    /// `/save`: downloads the `back`-th last file on screen to `requested` (or its name
    /// here) on a thread of its own. Never replaces an existing file.
    fn save_file(&mut self, back: usize, requested: Option<&str>) {
        let Some(message) = self.transcript.nth_last_attachment(back) else {
            self.transcript.notice(if back == 1 {
                "nothing to save: no file on screen".to_owned()
            } else {
                format!("nothing to save: fewer than {back} files on screen")
            });
            return;
        };
        let Some(attachment) = message.attachment.clone() else {
            return;
        };
        let id = message.id;
        let target = chat::save_target(requested, attachment.name());
        let shown = target.display().to_string();
        if target.exists() || target.is_symlink() {
            self.transcript.notice(format!(
                "not saved: {shown} already exists (nothing is replaced): give another path, \
                 /save{} PATH",
                if back == 1 {
                    String::new()
                } else {
                    format!(" ^{back}")
                }
            ));
            return;
        }
        if self
            .transfers
            .iter()
            .any(|t| t.target.as_ref() == Some(&target))
        {
            self.transcript
                .notice(format!("not saved: {shown} is being saved already"));
            return;
        }
        let room = self.room.clone();
        let name = attachment.name().to_owned();
        let into = target.clone();
        self.start_transfer(
            Direction::Save,
            name.clone(),
            Some(target),
            attachment.size(),
            move |transfer| {
                room.save_attachment_with(&id, &into, transfer)
                    .map(|()| Finished::Saved(into))
                    .map_err(|e| chat::transfer_error(&e, Direction::Save, &name))
            },
        );
    }

    /// Runs `work` on a thread of its own with a [`Transfer`] that reports its progress
    /// to the UI, which shows a bar until it ends.
    fn start_transfer(
        &mut self,
        direction: Direction,
        name: String,
        target: Option<PathBuf>,
        total: u64,
        work: impl FnOnce(&Transfer) -> Result<Finished, String> + Send + 'static,
    ) {
        let id = self.next_transfer;
        self.next_transfer += 1;
        let progress_tx = self.tx.clone();
        let transfer = Transfer::with_progress(move |done, total| {
            let _ = progress_tx.send(UiEvent::TransferProgress { id, done, total });
        });
        let tx = self.tx.clone();
        let running = transfer.clone();
        let thread = std::thread::spawn(move || {
            let outcome = work(&running);
            let _ = tx.send(UiEvent::TransferDone { id, outcome });
        });
        self.transfers.push(ActiveTransfer {
            id,
            direction,
            name: chat::sanitize(&name),
            target,
            done: 0,
            total,
            transfer,
            thread,
        });
    }

    /// A transfer ended: its bar goes, a line says how it went.
    fn transfer_done(&mut self, id: u64, outcome: Result<Finished, String>) {
        let Some(i) = self.transfers.iter().position(|t| t.id == id) else {
            return;
        };
        let mut t = self.transfers.remove(i);
        match outcome {
            Ok(Finished::Sent(message)) => {
                t.done = t.total;
                self.transcript
                    .notice(format!("sent {} {}", t.name, t.bar()));
                if let Some(m) = self.room.message(&message) {
                    self.transcript.upsert(m);
                }
                self.scroll = 0;
            }
            Ok(Finished::Saved(path)) => {
                t.done = t.total;
                self.transcript.notice(format!(
                    "saved {} to {} (SHA-256 checked) {}",
                    t.name,
                    path.display(),
                    t.bar()
                ));
            }
            Err(line) => self.transcript.notice(line),
        }
        // It has sent its last event: this returns at once.
        let _ = t.thread.join();
    }

    /// Shows the private conversation with `member` (typing goes there).
    fn open_conversation(&mut self, member: &Member) {
        if self.transcript.conversation() != Some(member.id) {
            self.transcript.set_conversation(Some(member.id));
            self.transcript.notice(format!(
                "private conversation with {}: only you and they read it; /room goes back",
                members::short_id(&member.id)
            ));
        }
        self.scroll = 0;
    }

    /// Edits, deletes or reacts to `target` (no I/O: it goes out with the outbox) and
    /// shows the result at once.
    fn change(
        &mut self,
        target: Option<MessageId>,
        what: &str,
        make: impl FnOnce(&Room, &MessageId) -> Result<MessageId, RoomError>,
    ) {
        let Some(id) = target else {
            self.transcript
                .notice(format!("nothing to {what}: no such message on screen"));
            return;
        };
        match make(&self.room, &id) {
            Ok(_) => {
                if let Some(message) = self.room.message(&id) {
                    self.transcript.update(&[message]);
                }
            }
            Err(RoomError::NotAMember) => self.transcript.notice(NOT_SENT_NOTICE),
            Err(e) => self.transcript.notice(format!("cannot {what}: {e}")),
        }
    }

    fn status_line(&self) -> Line<'static> {
        let (conn, conn_style) = match self.observer.connectivity() {
            Connectivity::Unknown => ("connecting".to_owned(), Style::default().fg(Color::Yellow)),
            Connectivity::Online => ("online".to_owned(), Style::default().fg(Color::Green)),
            Connectivity::Offline(_) => (
                "OFFLINE".to_owned(),
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        let security = self.opened.security().unwrap_or("TLS?");
        let waiting = self.room.outbox_len();
        let outbox_style = if waiting > 0 {
            Style::default().fg(Color::Yellow)
        } else {
            Style::default()
        };
        let sep = || Span::raw(" | ");
        Line::from(vec![
            Span::raw(format!(" {} ", self.server)),
            sep(),
            Span::raw(security.to_owned()),
            sep(),
            Span::styled(conn, conn_style),
            sep(),
            Span::styled(format!("outbox {waiting}"), outbox_style),
            sep(),
            Span::raw(format!("{} in {}", self.name, self.room_name)),
            Span::styled(
                self.transcript
                    .conversation()
                    .map(|c| format!(" > private with {}", members::short_id(&c)))
                    .unwrap_or_default(),
                Style::default().fg(Color::Magenta),
            ),
            Span::styled(
                if self.member.as_ref().is_some_and(|m| m.removed) {
                    " (REMOVED)"
                } else {
                    ""
                },
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
            sep(),
            Span::raw("/help "),
        ])
        .style(Style::default().bg(Color::Black).fg(Color::White))
    }
}

fn draw(frame: &mut Frame<'_>, app: &App) {
    let progress = app.observer.progress();
    let downloading = progress.remaining() >= PROGRESS_MIN_BYTES
        && app.observer.reading_within(Duration::from_secs(1));
    let transfer_lines = transfer_lines(&app.transfers);
    let [messages_area, transfers_area, progress_area, status_area, input_area] =
        Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(u16::try_from(transfer_lines.len()).unwrap_or(u16::MAX)),
            Constraint::Length(u16::from(downloading)),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(frame.area());

    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let lines = app
        .transcript
        .lines(messages_area.width, &chrono::Local, now_ms);
    let height = usize::from(messages_area.height);
    let scroll = app.scroll.min(lines.len().saturating_sub(height));
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    frame.render_widget(Paragraph::new(lines[start..end].to_vec()), messages_area);

    if downloading {
        let gauge = Gauge::default()
            .gauge_style(Style::default().fg(Color::Cyan).bg(Color::DarkGray))
            .ratio(progress.ratio())
            .label(format!(
                "downloading history {} / {}",
                chat::human_bytes(progress.done),
                chat::human_bytes(progress.total)
            ));
        frame.render_widget(gauge, progress_area);
    }
    if !transfer_lines.is_empty() {
        frame.render_widget(Paragraph::new(transfer_lines), transfers_area);
    }
    frame.render_widget(Paragraph::new(app.status_line()), status_area);

    let prompt = "> ";
    let input_width = usize::from(input_area.width).saturating_sub(prompt.len() + 1);
    let chars: Vec<char> = app.input.chars().collect();
    let visible: String = chars[chars.len().saturating_sub(input_width)..]
        .iter()
        .collect();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(prompt, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(visible.clone()),
        ])),
        input_area,
    );
    let cursor_x = input_area.x
        + u16::try_from(prompt.len() + unicode_width::UnicodeWidthStr::width(visible.as_str()))
            .unwrap_or(input_area.width)
            .min(input_area.width.saturating_sub(1));
    frame.set_cursor_position(Position::new(cursor_x, input_area.y));
}

/// A line per running transfer (the first [`TRANSFER_ROWS`]; the rest summed up).
fn transfer_lines(transfers: &[ActiveTransfer]) -> Vec<Line<'static>> {
    let style = Style::default().fg(Color::Cyan);
    let mut lines: Vec<Line<'static>> = transfers
        .iter()
        .take(TRANSFER_ROWS)
        .map(|t| {
            Line::from(Span::styled(
                format!(" {} (/cancel stops)", t.describe()),
                style,
            ))
        })
        .collect();
    if transfers.len() > TRANSFER_ROWS {
        lines.push(Line::from(Span::styled(
            format!(" and {} more", transfers.len() - TRANSFER_ROWS),
            style,
        )));
    }
    lines
}
