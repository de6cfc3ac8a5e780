//! `ftpchat`: one command for chatting, serving, scripting and importing.
//!
//! ```text
//! ftpchat chat                                  # start a server here and chat (the README's first command)
//! ftpchat chat ftp://bob@host:2221/lobby        # join a room
//! ftpchat serve --root DIR --users FILE         # an FTP/FTPS server for a LAN
//! ftpchat serve add-user --users FILE alice
//! ftpchat send ftp://bob@host:2221/lobby "hello"
//! ftpchat tail --json ftp://bob@host:2221/lobby
//! ftpchat export --format json --output lobby.json ftp://bob@host:2221/lobby
//! ftpchat import chat.txt --into ftp://bob@host:2221/lobby
//! ftpchat invite --members ftp://alice@host:2221/team
//! ftpchat members ftp://alice@host:2221/team
//! ftpchat completions bash > ~/.local/share/bash-completion/completions/ftpchat
//! ```
//!
//! A thin front end: the work is done by `ftpchat_examples::cli` (and, for `chat`, by the
//! terminal client of `src/bin/chat.rs`, compiled into this program as a module).

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use ftpchat_core::Role;
use ftpchat_examples::chat::{ChatArgs, CompatVersion};
use ftpchat_examples::cli::{self, Access, CliError, ExportFormat, RoomOptions, ServeOptions};

/// The terminal client, shared with the `chat` program (its `main` is not used here).
#[allow(dead_code)]
#[path = "chat.rs"]
mod terminal;

const AFTER_HELP: &str = "\
LOCATION: a URL or folder whose last component is the room:
    ftp://[user[:password]@]host[:port]/[dir/]ROOM    plain FTP
    ftps://... or ftpes://...                         explicit FTPS (TLS required)
    /path/to/folder/ROOM, file:///path/...            a local or synced folder

PASSWORDS are never taken from the command line:
    room password      --password-file FILE, else FTPCHAT_PASSWORD, else a prompt (not echoed)
    FTP login          in the URL, else FTPCHAT_FTP_PASSWORD, else a prompt when the URL names
                       a user without a password
    FTPChat file       (import) --source-password-file FILE, else FTPCHAT_SOURCE_PASSWORD,
                       else a prompt

DISPLAY NAME: --name, else your login name ($USER, $USERNAME, $LOGNAME or the account), else
the FTP user of the URL, else `guest`.

EXIT CODES: 0 done, 1 error, 2 bad arguments, 3 wrong password, 4 server unreachable or
message not delivered in time, 5 no such room or not a member.";

/// ftpchat: encrypted chat whose only server is a plain file server (FTP, FTPS, a folder).
#[derive(Debug, Parser)]
#[command(name = "ftpchat", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Chat in a terminal; without LOCATION, start a server on this machine and chat there.
    Chat(ChatCommand),
    /// An FTP/FTPS server for ftpchat rooms (users file, lock-out after wrong passwords).
    Serve(ServeCommand),
    /// Send one message and exit once it is on the server (prints its id).
    Send(SendCommand),
    /// Print new messages as they arrive, one per line (--json: one JSON object per line).
    #[command(after_help = JSON_HELP)]
    Tail(TailCommand),
    /// Write every message of a room as JSON or text.
    #[command(after_help = JSON_HELP)]
    Export(ExportCommand),
    /// Copy the messages of an FTPChat 1.5/1.6/1.7 chat file into a native room.
    #[command(after_help = IMPORT_HELP)]
    Import(ImportCommand),
    /// Make an invitation to a member room (admins): a one-time URL for one person.
    Invite(InviteCommand),
    /// List the members of a member room, their devices and whether you verified them.
    Members(MembersCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

const JSON_HELP: &str = "\
JSON (tail --json: one object per line; export: {\"format\": \"ftpchat-export\", \"version\": 1,
\"room\", \"location\", \"exported_at\", \"messages\": [...]}). Each message:
    id            32 hex digits
    sender        the display name its sender chose (not proof of identity)
    time          RFC 3339 in UTC, e.g. 2026-12-02T04:18:07.123Z; null when unknown
    local_time    FTPChat lines: the writer's local time as written (YYYY-MM-DD HH:MM)
    text          the text (an attachment's caption); empty once deleted
    status        confirmed | pending
    own           true when this device wrote it
    codec         native | ftpchat-1.7 | ftpchat-1.6 | ftpchat-1.5
    edited        true when edited (left out otherwise)
    deleted       true when deleted (left out otherwise)
    reactions     [{\"reaction\": \"👍\", \"senders\": [\"Bob\"]}] (left out when none)
    attachment    {\"name\", \"size\", \"media_type\"} (left out when none)
    private_with  member rooms: the member id of a private conversation (left out otherwise)
    signer        member rooms: the signing device's fingerprint (left out otherwise)
    change        tail: true when the line is a newer state (edit, delete, reaction) of a
                  message printed before (left out otherwise)";

const IMPORT_HELP: &str = "\
Every line shape of the file is read (FTPChat 1.5, 1.6 and 1.7, mixed); the messages are
written, in order, into the native room LOCATION (created when missing), each under its
original sender's name (one writer per sender).

Kept: texts, sender names, order. Not kept: the original times (a native message carries
the time it is written, which a writer never sets in the past); --keep-time puts the
original time in front of each text instead. FTPChat 1.5 lines have no key: anyone with
write access to the file could have written them, under any name.

Running it again is safe: a message whose sender and text are already in the room is not
written again, so a second run adds only what the file gained since (a native message with
the same sender and text as one of the file counts as imported).";

/// Options naming a room, shared by the scripting subcommands.
#[derive(Debug, Args)]
struct RoomArgs {
    /// The room: a URL or folder whose last component is the room (see `ftpchat --help`).
    location: String,
    /// Your display name (default: your login name).
    #[arg(long)]
    name: Option<String>,
    /// Read the room password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// LOCATION is an FTPChat chat file written as this FTPChat client does.
    #[arg(long, value_name = "VERSION", value_parser = ["1.7", "1.6", "1.5"])]
    compat: Option<String>,
    /// A member room (this device's identity instead of a room password).
    #[arg(long)]
    members: bool,
    /// Keep local state (and, for member rooms, this device's identity) in DIR.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Trust this PEM certificate for FTPS.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

impl RoomArgs {
    fn options(&self) -> RoomOptions {
        RoomOptions {
            location: self.location.clone(),
            name: self.name.clone(),
            password_file: self.password_file.clone(),
            compat: self.compat.as_deref().and_then(CompatVersion::parse),
            members: self.members,
            state_dir: self.state_dir.clone(),
            ca_file: self.ca.clone(),
        }
    }
}

/// `ftpchat chat --help`'s text after the options: the terminal client's own notes on
/// member rooms, passwords, files and the chat's commands.
fn chat_notes() -> String {
    let usage = ftpchat_examples::chat::USAGE;
    let notes = usage
        .find("\nMEMBER ROOMS (")
        .map_or(usage, |at| usage[at..].trim_start());
    format!(
        "{notes}\n\nWithout LOCATION the started server serves a temporary folder (deleted \
         when you quit)."
    )
}

#[derive(Debug, Args)]
#[command(after_help = chat_notes())]
struct ChatCommand {
    /// The room (see `ftpchat --help`); none: start a server here.
    location: Option<String>,
    /// Your display name (default: your login name).
    #[arg(long)]
    name: Option<String>,
    /// LOCATION is an FTPChat chat file; write lines as this FTPChat client does.
    ///
    /// Every line shape in the file is read whatever you pick; this chooses what you write.
    /// 1.7: one Fernet token per line. 1.6: the token base64-encoded once more (1.7
    /// clients stop showing messages at the first such line). 1.5: no key at all, anyone
    /// who can read the file reads everything. 1.6 and 1.7 need only the room password
    /// (both clients derive the key with PBKDF2-HMAC-SHA256, 100000 iterations and the
    /// same constant salt for every chat, which are the defaults here).
    #[arg(long, value_name = "VERSION", value_parser = ["1.7", "1.6", "1.5"])]
    compat: Option<String>,
    /// FTPChat 1.6/1.7 files made with another key derivation: the salt.
    #[arg(long, value_name = "TEXT", conflicts_with = "salt_hex")]
    salt: Option<String>,
    /// The same, in hex.
    #[arg(long, value_name = "HEX")]
    salt_hex: Option<String>,
    /// FTPChat 1.6/1.7 files made with another key derivation: the iterations.
    #[arg(long, value_name = "N")]
    iterations: Option<u32>,
    /// FTPChat 1.6/1.7: also show keyless 1.5 lines found in the file.
    #[arg(long)]
    show_unauthenticated: bool,
    /// FTPChat files: take a directory lock around each append.
    #[arg(long)]
    lock: bool,
    /// Trust this PEM certificate for FTPS.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// A member room (created, you its admin, when LOCATION has none yet).
    #[arg(long)]
    members: bool,
    /// Join the member room of an invitation (ftpchat://join?..., quoted).
    #[arg(long, value_name = "INVITATION")]
    join: Option<String>,
    /// Keep writer id, read positions, unsent messages (and a member room identity) in DIR.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Without LOCATION: the room on the started server (default: lobby).
    #[arg(long)]
    room: Option<String>,
    /// Without LOCATION: the port to listen on (default: 2221, else any free).
    #[arg(long)]
    port: Option<u16>,
    /// Without LOCATION: the address to listen on (default: 127.0.0.1).
    #[arg(long)]
    bind: Option<IpAddr>,
}

impl ChatCommand {
    /// The same options as the `chat` program's command line, checked by its parser.
    fn chat_args(&self) -> Result<ChatArgs, String> {
        let mut argv: Vec<String> = Vec::new();
        let mut opt = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                argv.push(format!("{flag}={v}"));
            }
        };
        opt("--name", self.name.clone());
        opt("--compat", self.compat.clone());
        opt("--salt", self.salt.clone());
        opt("--salt-hex", self.salt_hex.clone());
        opt("--iterations", self.iterations.map(|n| n.to_string()));
        opt("--ca", self.ca.as_ref().map(|p| p.display().to_string()));
        opt("--join", self.join.clone());
        opt(
            "--state-dir",
            self.state_dir.as_ref().map(|p| p.display().to_string()),
        );
        opt("--room", self.room.clone());
        opt("--port", self.port.map(|p| p.to_string()));
        opt("--bind", self.bind.map(|b| b.to_string()));
        for (set, flag) in [
            (self.show_unauthenticated, "--show-unauthenticated"),
            (self.lock, "--lock"),
            (self.members, "--members"),
        ] {
            if set {
                argv.push(flag.to_owned());
            }
        }
        if let Some(l) = &self.location {
            argv.push("--".to_owned());
            argv.push(l.clone());
        }
        ChatArgs::parse(argv)
    }
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
struct ServeCommand {
    #[command(subcommand)]
    action: Option<ServeAction>,
    /// The folder to serve (its subfolders are rooms).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// The users file (`serve add-user` writes it; keep it outside the served folder).
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Control port (default 2221; 0: any free port).
    #[arg(long)]
    port: Option<u16>,
    /// Address to listen on (default 127.0.0.1; 0.0.0.0 for the LAN).
    #[arg(long)]
    bind: Option<IpAddr>,
    /// Offer FTPS with this PEM certificate (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The certificate's PEM key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// Generate a self-signed certificate for localhost/127.0.0.1 into DIR and offer FTPS.
    #[arg(long, value_name = "DIR", conflicts_with = "cert")]
    self_signed: Option<PathBuf>,
    /// An extra host name or IP address for --self-signed (repeatable).
    #[arg(long, value_name = "NAME")]
    tls_name: Vec<String>,
    /// Refuse clients that do not use TLS.
    #[arg(long)]
    require_tls: bool,
    /// Wrong passwords that block a user (default 3; 0: no lock-out).
    #[arg(long, value_name = "N")]
    max_failures: Option<u32>,
    /// How long a block lasts after the last failure, in seconds (default 60).
    #[arg(long, value_name = "SECS")]
    block_secs: Option<u64>,
    /// Log every session, not only warnings.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum ServeAction {
    /// Add a user to the users file (password: --password-file, FTPCHAT_FTP_PASSWORD or a
    /// prompt; a salted hash is stored, never the password).
    AddUser {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// Read the password from the first line of FILE.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// The user's login name.
        name: String,
    },
    /// Remove a user from the users file (or delete the line yourself).
    RemoveUser {
        /// The users file.
        #[arg(long, value_name = "FILE")]
        users: PathBuf,
        /// The user's login name.
        name: String,
    },
}

#[derive(Debug, Args)]
struct SendCommand {
    #[command(flatten)]
    room: RoomArgs,
    /// The message.
    text: String,
    /// Create the (native or member) room when it does not exist yet.
    #[arg(long)]
    create: bool,
    /// Give up when the message is not on the server after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct TailCommand {
    #[command(flatten)]
    room: RoomArgs,
    /// One JSON object per line (schema below).
    #[arg(long)]
    json: bool,
    /// Print the last N messages first.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    lines: usize,
    /// Milliseconds between polls while the room is busy (at most 2 s when idle).
    #[arg(long, value_name = "MS", default_value_t = 250)]
    interval: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Text,
}

#[derive(Debug, Args)]
struct ExportCommand {
    #[command(flatten)]
    room: RoomArgs,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
    /// Write to FILE (replaced atomically) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportCommand {
    /// The FTPChat chat file: a path, file:///..., ftp://... or ftps://...
    source: String,
    /// The native room to write into (created when missing).
    #[arg(long, value_name = "LOCATION")]
    into: String,
    /// Read the FTPChat file's password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    source_password_file: Option<PathBuf>,
    /// Read the room password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Start each text with its original time, "[YYYY-MM-DD HH:MM] ".
    #[arg(long)]
    keep_time: bool,
    /// Trust this PEM certificate for FTPS.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct InviteCommand {
    /// The member room (see LOCATION in `ftpchat --help`).
    location: String,
    /// Invite an admin instead of a member.
    #[arg(long)]
    admin: bool,
    /// This device's identity folder (default: the chat's).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Trust this PEM certificate for FTPS.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct MembersCommand {
    /// The member room (see LOCATION in `ftpchat --help`).
    location: String,
    /// This device's identity folder (default: the chat's).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Trust this PEM certificate for FTPS.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpchat: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn member_options(location: &str, state_dir: Option<PathBuf>, ca: Option<PathBuf>) -> RoomOptions {
    RoomOptions {
        location: location.to_owned(),
        members: true,
        state_dir,
        ca_file: ca,
        ..RoomOptions::default()
    }
}

fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Chat(chat) => {
            let args = chat.chat_args().map_err(CliError::Usage)?;
            terminal::set_join_command(format!("{} chat", cli::command_prefix()));
            terminal::run_chat(args).map_err(CliError::Chat)
        }
        Command::Serve(serve) => match serve.action {
            Some(ServeAction::AddUser {
                users,
                password_file,
                name,
            }) => {
                cli::add_user(&users, &name, password_file.as_deref())?;
                println!("added {name} to {}", users.display());
                Ok(())
            }
            Some(ServeAction::RemoveUser { users, name }) => {
                cli::remove_user(&users, &name)?;
                println!("removed {name} from {}", users.display());
                Ok(())
            }
            None => {
                let (Some(root), Some(users)) = (serve.root, serve.users) else {
                    return Err(CliError::Usage(
                        "serve needs --root DIR and --users FILE (see ftpchat serve --help)".into(),
                    ));
                };
                let options = ServeOptions {
                    root,
                    users,
                    port: serve.port,
                    bind: serve.bind,
                    cert: serve.cert,
                    key: serve.key,
                    self_signed: serve.self_signed,
                    tls_names: serve.tls_name,
                    require_tls: serve.require_tls,
                    max_failures: serve.max_failures,
                    block_secs: serve.block_secs,
                    verbose: serve.verbose,
                };
                let hint = format!("{} serve add-user", cli::command_prefix());
                match cli::serve(&options, &hint)? {}
            }
        },
        Command::Send(send) => {
            let opened = cli::open_room(
                &send.room.options(),
                Access::Write {
                    create: send.create,
                },
            )?;
            let id = cli::send(&opened, &send.text, Duration::from_secs(send.timeout))?;
            println!("{id}");
            Ok(())
        }
        Command::Tail(tail) => {
            let opened = cli::open_room(&tail.room.options(), Access::Read)?;
            static STOP: AtomicBool = AtomicBool::new(false);
            cli::tail(
                &opened,
                tail.lines,
                tail.json,
                Duration::from_millis(tail.interval.max(50)),
                &STOP,
            )
        }
        Command::Export(export) => {
            let opened = cli::open_room(&export.room.options(), Access::Read)?;
            let format = match export.format {
                Format::Json => ExportFormat::Json,
                Format::Text => ExportFormat::Text,
            };
            let count = match &export.output {
                None => cli::export(&opened, format, &mut std::io::stdout().lock())?,
                Some(path) => {
                    let io_err = |e| CliError::Io {
                        what: format!("--output {}", path.display()),
                        source: e,
                    };
                    let dir = match path.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                        _ => PathBuf::from("."),
                    };
                    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io_err)?;
                    let count = cli::export(&opened, format, tmp.as_file_mut())?;
                    tmp.as_file().sync_all().map_err(io_err)?;
                    tmp.persist(path).map_err(|e| io_err(e.error))?;
                    count
                }
            };
            eprintln!(
                "ftpchat: exported {count} message(s) of {}",
                opened.target.room
            );
            Ok(())
        }
        Command::Import(import) => {
            let options = cli::ImportOptions {
                source: import.source,
                source_password_file: import.source_password_file,
                keep_time: import.keep_time,
                into: RoomOptions {
                    location: import.into,
                    password_file: import.password_file,
                    ca_file: import.ca,
                    ..RoomOptions::default()
                },
            };
            let report = cli::import(&options)?;
            println!(
                "read {} message(s) from {} sender(s): imported {}, already there {}{}",
                report.read,
                report.senders,
                report.imported,
                report.already_there,
                if report.undecoded > 0 {
                    format!(", {} line(s) not decoded", report.undecoded)
                } else {
                    String::new()
                }
            );
            if report.keyless > 0 {
                println!(
                    "{} of them are FTPChat 1.5 lines: no key, so anyone with write access to \
                     the file could have written them, under any name",
                    report.keyless
                );
            }
            println!("original times are not kept (see ftpchat import --help; --keep-time)");
            Ok(())
        }
        Command::Invite(invite) => {
            let options = member_options(&invite.location, invite.state_dir, invite.ca);
            let opened = cli::open_room(&options, Access::Read)?;
            let role = if invite.admin {
                Role::Admin
            } else {
                Role::Member
            };
            let (url, command) = cli::invite(&opened, role, &invite.location)?;
            println!("{url}");
            eprintln!(
                "An invitation works once, for one person; whoever holds it can join: hand it \
                 over a channel you trust. They join with:\n    {command}"
            );
            if cli::url_user(&opened.target).is_some() {
                eprintln!(
                    "It carries no FTP login: they add theirs after it, e.g. --join '...' \
                     ftp://THEIR_USER@host/dir/room"
                );
            }
            Ok(())
        }
        Command::Members(m) => {
            let options = member_options(&m.location, m.state_dir, m.ca);
            let opened = cli::open_room(&options, Access::Read)?;
            let mut out = std::io::stdout().lock();
            for line in cli::describe_members(&opened)? {
                writeln!(out, "{line}").map_err(|e| CliError::Io {
                    what: "standard output".into(),
                    source: e,
                })?;
            }
            Ok(())
        }
        Command::Completions { shell } => {
            let mut command = Cli::command();
            clap_complete::generate(shell, &mut command, "ftpchat", &mut std::io::stdout());
            Ok(())
        }
    }
}
