//! The `ftpchat` command, run as a user or a script would, against an in-process FTP
//! server (libunftp, the `serve` code) and real files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ftpchat_core::{DeviceIdentity, Invitation, LocalTransport, Room, RoomConfig};
use ftpchat_examples::server::{EmbeddedServer, ServerConfig};
use ftpchat_examples::users;
use serde_json::Value;

const FTPCHAT: &str = env!("CARGO_BIN_EXE_ftpchat");
const FTP_PASSWORD: &str = "ftp login pw";
const ROOM_PASSWORD: &str = "room pw 123";

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ftpchat-core/tests/testdata")
        .join(name)
}

/// An FTP server on a temporary folder, with user alice.
struct Served {
    dir: tempfile::TempDir,
    server: EmbeddedServer,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let users_file = dir.path().join("users");
        users::add_user(&users_file, "alice", FTP_PASSWORD).unwrap();
        let mut config = ServerConfig::new(dir.path().join("root"), &users_file);
        config.port = 0;
        let server = EmbeddedServer::start(config).unwrap();
        Served { dir, server }
    }

    /// The URL of `room`, with the user but not the password (it comes from the
    /// environment).
    fn url(&self, room: &str) -> String {
        format!("ftp://alice@127.0.0.1:{}/{room}", self.server.port())
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A native room made directly in the served folder (few PBKDF2 iterations: fast).
    fn make_room(&self, room: &str) -> Room {
        Room::open(
            Arc::new(LocalTransport::new(self.root())),
            RoomConfig::native(room, "maker", ROOM_PASSWORD).with_native_iterations(1000),
        )
        .unwrap()
    }

    /// `ftpchat ARGS` with this server's temporary folder as home.
    fn ftpchat(&self, args: &[&str]) -> Command {
        ftpchat_in(&self.dir.path().join("home"), args)
    }

    fn state(&self, who: &str) -> PathBuf {
        self.dir.path().join(format!("state-{who}"))
    }
}

/// `ftpchat ARGS` with the FTP and room passwords in the environment, a known login name,
/// no standard input, and `home` as home folder (the default state folders are under it:
/// nothing is kept in the user's).
fn ftpchat_in(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(FTPCHAT);
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("FTPCHAT_FTP_PASSWORD", FTP_PASSWORD)
        .env("FTPCHAT_PASSWORD", ROOM_PASSWORD)
        .env_remove("FTPCHAT_SOURCE_PASSWORD")
        .env_remove("CARGO")
        .env("USER", "tester")
        .stdin(Stdio::null());
    cmd
}

/// [`ftpchat_in`] a home folder that does not exist (for commands that keep nothing).
fn ftpchat(args: &[&str]) -> Command {
    ftpchat_in(Path::new("/nonexistent/ftpchat-test-home"), args)
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn export_json(served: &Served, room: &str) -> Value {
    let (out, stdout, stderr) =
        run(&mut served.ftpchat(&["export", "--format", "json", &served.url(room)]));
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// (sender, text) of each exported message.
fn senders_and_texts(doc: &Value) -> Vec<(String, String)> {
    doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["sender"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn millis(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn send_then_export_as_json_and_text() {
    let served = Served::start();
    let url = served.url("lobby");
    let before = chrono::Utc::now().timestamp_millis();

    // No room yet: send refuses to create one unless asked.
    let (out, _, stderr) = run(&mut served.ftpchat(&["send", &url, "lost"]));
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no room lobby"), "{stderr}");
    assert!(!served.root().join("lobby").exists());

    let alice_state = served.state("alice");
    let (out, stdout, stderr) = run(&mut served.ftpchat(&[
        "send",
        "--create",
        "--name",
        "Alice",
        "--state-dir",
        alice_state.to_str().unwrap(),
        &url,
        "hello from the command line",
    ]));
    assert!(out.status.success(), "{stderr}");
    let first_id = stdout.trim().to_owned();
    assert_eq!(first_id.len(), 32, "{stdout}");
    // The display name defaults to the login name.
    let (out, stdout, stderr) = run(&mut served.ftpchat(&["send", &url, "two\nlines"]));
    assert!(out.status.success(), "{stderr}");
    let second_id = stdout.trim().to_owned();
    // Without --state-dir, send keeps its writer in the default folder under the home.
    let kept = served.dir.path().join("home/data/ftpchat/cli");
    // The local store (store.sqlite and its journal) holds the writer and nothing else
    // is written there.
    let names: Vec<String> = std::fs::read_dir(&kept)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == "store.sqlite"), "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("store.sqlite")),
        "{names:?} in {}",
        kept.display()
    );
    let after = chrono::Utc::now().timestamp_millis();
    assert!(!stderr.contains(ROOM_PASSWORD) && !stderr.contains(FTP_PASSWORD));

    // Another process, with nothing saved, reads both from the server.
    let doc = export_json(&served, "lobby");
    assert_eq!(doc["format"], "ftpchat-export");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["room"], "lobby");
    assert!(!doc["location"].as_str().unwrap().contains(FTP_PASSWORD));
    assert_eq!(
        senders_and_texts(&doc),
        [
            ("Alice".to_owned(), "hello from the command line".to_owned()),
            ("tester".to_owned(), "two\nlines".to_owned()),
        ]
    );
    let messages = doc["messages"].as_array().unwrap();
    assert_eq!(messages[0]["id"], first_id.as_str());
    assert_eq!(messages[1]["id"], second_id.as_str());
    for m in messages {
        let t = millis(m["time"].as_str().unwrap());
        assert!((before - 1000..=after + 1000).contains(&t), "{m}");
        assert_eq!(m["status"], "confirmed");
        assert_eq!(m["codec"], "native");
        assert_eq!(m["own"], false);
        assert!(m.get("edited").is_none() && m.get("attachment").is_none());
    }

    // Text, into a file.
    let file = served.dir.path().join("lobby.txt");
    let (out, stdout, stderr) = run(&mut served.ftpchat(&[
        "export",
        "--format",
        "text",
        "--output",
        file.to_str().unwrap(),
        &url,
    ]));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("exported 2 message(s)"), "{stderr}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].ends_with("] Alice: hello from the command line"),
        "{text}"
    );
    assert!(lines[1].ends_with("] tester: two"), "{text}");
    assert_eq!(lines[2].trim(), "lines");
}

/// Reads lines of a child's output on a thread (so a test can wait with a timeout).
fn lines_of(reader: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn tail_json_prints_a_message_sent_by_another_process() {
    let served = Served::start();
    let room = served.make_room("lobby");
    room.send("old news").unwrap();
    room.sync().unwrap();
    let url = served.url("lobby");

    let mut child = served
        .ftpchat(&["tail", "--json", "-n", "1", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let _tail = Running(child);

    // The last message first, then it follows.
    let first: Value =
        serde_json::from_str(&stdout.recv_timeout(Duration::from_secs(30)).unwrap()).unwrap();
    assert_eq!(
        (first["sender"].as_str(), first["text"].as_str()),
        (Some("maker"), Some("old news"))
    );
    let ready = stderr.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(ready.contains("following lobby"), "{ready}");

    let sent_at = Instant::now();
    let (out, stdout_send, stderr_send) =
        run(&mut served.ftpchat(&["send", "--name", "Bob", &url, "ping from another process"]));
    assert!(out.status.success(), "{stderr_send}");
    let line = stdout
        .recv_timeout(Duration::from_secs(15))
        .expect("tail printed nothing within 15 s");
    assert!(sent_at.elapsed() < Duration::from_secs(15));
    let m: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(m["sender"], "Bob");
    assert_eq!(m["text"], "ping from another process");
    assert_eq!(m["id"], stdout_send.trim());
    let t = millis(m["time"].as_str().unwrap());
    assert!((chrono::Utc::now().timestamp_millis() - t).abs() < 60_000);
    // Exactly one object per line.
    assert!(!line.contains('\n'));
    assert!(stdout.recv_timeout(Duration::from_millis(500)).is_err());
}

#[test]
fn import_a_real_ftpchat_16_17_file_then_export_it() {
    let served = Served::start();
    std::fs::copy(
        testdata("ftpchat-1.6-1.7-chat.txt"),
        served.root().join("chat.txt"),
    )
    .unwrap();
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("ftpchat-1.6-1.7-chat.expected.json")).unwrap(),
    )
    .unwrap();
    // (client, sender, text) from each record's plaintext "YYYY-MM-DD HH:MM:sender: text".
    let records: Vec<(String, String, String)> = expected["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sender = r["sender"].as_str().unwrap();
            let plain = r["plaintext"].as_str().unwrap();
            let text = plain[17..].strip_prefix(&format!("{sender}: ")).unwrap();
            (
                r["client"].as_str().unwrap().to_owned(),
                sender.to_owned(),
                text.to_owned(),
            )
        })
        .collect();
    assert!(records.iter().any(|r| r.0 == "1.7") && records.iter().any(|r| r.0 == "1.6"));

    let source = served.url("chat.txt");
    let into = served.url("imported");
    let import = || {
        let mut cmd = served.ftpchat(&["import", &source, "--into", &into]);
        cmd.env(
            "FTPCHAT_SOURCE_PASSWORD",
            expected["password"].as_str().unwrap(),
        );
        run(&mut cmd)
    };
    let (out, stdout, stderr) = import();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("read 6 message(s) from 2 sender(s): imported 6, already there 0"),
        "{stdout}"
    );
    assert!(stdout.contains("original times are not kept"), "{stdout}");

    let doc = export_json(&served, "imported");
    let got = senders_and_texts(&doc);
    let want: Vec<(String, String)> = records
        .iter()
        // The clients' own trailing newline is not part of the text.
        .map(|(_, s, t)| (s.clone(), t.strip_suffix('\n').unwrap_or(t).to_owned()))
        .collect();
    assert_eq!(got, want);
    for m in doc["messages"].as_array().unwrap() {
        assert_eq!(m["codec"], "native");
        assert!(m.get("local_time").is_none());
    }
    // One writer (log) per sender.
    let logs = std::fs::read_dir(served.root().join("imported/logs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert_eq!(logs, 2);

    // Again: nothing is written twice.
    let (out, stdout, stderr) = import();
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("imported 0, already there 6"), "{stdout}");
    assert_eq!(senders_and_texts(&export_json(&served, "imported")), want);

    // --keep-time: the original times go in front of the texts.
    let timed = served.url("timed");
    let mut cmd = served.ftpchat(&["import", "--keep-time", &source, "--into", &timed]);
    cmd.env(
        "FTPCHAT_SOURCE_PASSWORD",
        expected["password"].as_str().unwrap(),
    );
    let (out, _, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    let with_times: Vec<(String, String)> = records
        .iter()
        .map(|(_, s, t)| {
            let plain_time = "2026-12-02 04:18";
            (
                s.clone(),
                format!("[{plain_time}] {}", t.strip_suffix('\n').unwrap_or(t)),
            )
        })
        .collect();
    for r in expected["records"].as_array().unwrap() {
        assert!(r["plaintext"]
            .as_str()
            .unwrap()
            .starts_with("2026-12-02 04:18:"));
    }
    assert_eq!(
        senders_and_texts(&export_json(&served, "timed")),
        with_times
    );

    // An FTPChat 1.5 file needs no password (empty at the prompt): its messages and the
    // warning that 1.5 lines carry no key.
    std::fs::copy(
        testdata("legacy-v1.5-chat.txt"),
        served.root().join("old.txt"),
    )
    .unwrap();
    let (out, stdout, stderr) = run(&mut served.ftpchat(&[
        "import",
        &served.url("old.txt"),
        "--into",
        &served.url("old"),
    ]));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("read 6 message(s) from 4 sender(s): imported 6, already there 0, 1 line(s) not decoded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("6 of them are FTPChat 1.5 lines"),
        "{stdout}"
    );
    let old = senders_and_texts(&export_json(&served, "old"));
    assert_eq!(old.len(), 6);
    assert_eq!(old[3], ("Omar K".to_owned(), "multi\nline".to_owned()));

    // No password for a file of 1.6/1.7 lines: nothing imported, and why.
    let (out, _, stderr) =
        run(&mut served.ftpchat(&["import", &source, "--into", &served.url("other")]));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("need its password"), "{stderr}");

    // The wrong password for the file: nothing imported, and why.
    let mut cmd = served.ftpchat(&["import", &source, "--into", &served.url("other")]);
    cmd.env("FTPCHAT_SOURCE_PASSWORD", "wrong horse");
    let (out, _, stderr) = run(&mut cmd);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("6 FTPChat 1.6/1.7 line(s) did not open"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong horse"));
    assert!(!served.root().join("other").exists());
}

#[test]
fn a_wrong_password_is_a_clear_error() {
    let served = Served::start();
    served.make_room("lobby");
    let url = served.url("lobby");

    let mut cmd = served.ftpchat(&["export", &url]);
    cmd.env("FTPCHAT_PASSWORD", "not the password");
    let (out, stdout, stderr) = run(&mut cmd);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.trim(), "ftpchat: wrong room password for lobby");

    // From a file, for send too.
    let file = served.dir.path().join("pw");
    std::fs::write(&file, "still wrong\n").unwrap();
    let (out, _, stderr) =
        run(&mut served.ftpchat(&["send", "--password-file", file.to_str().unwrap(), &url, "x"]));
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("wrong room password"), "{stderr}");
    assert!(!stderr.contains("still wrong"));

    // A wrong FTP login.
    let mut cmd = served.ftpchat(&["export", &url]);
    cmd.env("FTPCHAT_FTP_PASSWORD", "bad login");
    let (out, _, stderr) = run(&mut cmd);
    assert!(!out.status.success());
    assert!(stderr.starts_with("ftpchat: "), "{stderr}");
    assert!(!stderr.contains("bad login"), "{stderr}");

    // No server there: exit code 4, and where.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = listener.local_addr().unwrap().port();
    drop(listener);
    let nowhere = format!("ftp://alice@127.0.0.1:{closed_port}/lobby");
    let (out, _, stderr) = run(&mut served.ftpchat(&["export", &nowhere]));
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach ftp://alice@127.0.0.1:{closed_port}")),
        "{stderr}"
    );
    assert!(!stderr.contains(FTP_PASSWORD), "{stderr}");

    // Passwords are not arguments.
    let (out, _, stderr) = run(&mut served.ftpchat(&["send", "--password", "hunter2", &url, "x"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("--password"), "{stderr}");
}

#[test]
fn invite_and_members_of_a_member_room() {
    let served = Served::start();
    let url = served.url("team");
    let admin = served.state("admin");
    let admin_dir = admin.to_str().unwrap();
    let (out, _, stderr) = run(&mut served.ftpchat(&[
        "send",
        "--members",
        "--create",
        "--state-dir",
        admin_dir,
        "--name",
        "Ann",
        &url,
        "welcome",
    ]));
    assert!(out.status.success(), "{stderr}");
    let me = DeviceIdentity::load_or_create(&admin).unwrap().public();

    let (out, stdout, stderr) =
        run(&mut served.ftpchat(&["members", "--state-dir", admin_dir, &url]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("1 member(s)"), "{stdout}");
    assert!(
        stdout.contains("admin") && stdout.contains("Ann (you)"),
        "{stdout}"
    );
    assert!(stdout.contains(&me.fingerprint()), "{stdout}");

    let (out, stdout, stderr) =
        run(&mut served.ftpchat(&["invite", "--state-dir", admin_dir, &url]));
    assert!(out.status.success(), "{stderr}");
    let invitation = stdout.trim();
    assert!(invitation.starts_with("ftpchat://join?"), "{stdout}");
    assert!(stderr.contains("ftpchat chat --join '"), "{stderr}");
    assert!(stderr.contains("carries no FTP login"), "{stderr}");
    assert!(!invitation.contains(FTP_PASSWORD));

    // Bob joins with it (through the library, on the served folder).
    let bob = Arc::new(DeviceIdentity::generate());
    let joined = Room::open(
        Arc::new(LocalTransport::new(served.root())),
        RoomConfig::join(
            "team",
            "Bob",
            bob.clone(),
            Invitation::parse(invitation).unwrap(),
        ),
    )
    .unwrap();
    joined.send("hi, I am Bob").unwrap();
    joined.sync().unwrap();

    let (out, stdout, stderr) =
        run(&mut served.ftpchat(&["members", "--state-dir", admin_dir, &url]));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("2 member(s)"), "{stdout}");
    assert!(
        stdout.contains("Bob") && stdout.contains(&bob.public().fingerprint()),
        "{stdout}"
    );
    assert!(stdout.contains("not verified"), "{stdout}");

    // Not a member: a clear error.
    let stranger = served.state("stranger");
    let (out, _, stderr) =
        run(&mut served.ftpchat(&["members", "--state-dir", stranger.to_str().unwrap(), &url]));
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("not a member of team"), "{stderr}");
}

#[test]
fn serve_add_user_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let users_file = dir.path().join("users");
    let root = dir.path().join("rooms");
    std::fs::create_dir(&root).unwrap();
    let mut cmd = ftpchat(&[
        "serve",
        "add-user",
        "--users",
        users_file.to_str().unwrap(),
        "carol",
    ]);
    cmd.env("FTPCHAT_FTP_PASSWORD", "carol pw");
    let (out, stdout, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("added carol"), "{stdout}");
    let saved = std::fs::read_to_string(&users_file).unwrap();
    assert!(saved.starts_with("carol:pbkdf2-sha256$") && !saved.contains("carol pw"));

    let mut child = ftpchat(&[
        "serve",
        "--root",
        root.to_str().unwrap(),
        "--users",
        users_file.to_str().unwrap(),
        "--port",
        "0",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let _server = Running(child);
    let first = lines.recv_timeout(Duration::from_secs(30)).unwrap();
    let addr = first
        .split("ftp://")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let url = format!("ftp://carol@{addr}/lobby");
    let mut cmd = ftpchat_in(
        &dir.path().join("home"),
        &["send", "--create", &url, "served"],
    );
    cmd.env("FTPCHAT_FTP_PASSWORD", "carol pw");
    let (out, _, stderr) = run(&mut cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(root.join("lobby/room.ftpchat").is_file());
}

#[test]
fn completions_and_help() {
    let (out, stdout, _) = run(&mut ftpchat(&["completions", "bash"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("_ftpchat()") && stdout.contains("complete -F _ftpchat"),
        "{stdout}"
    );
    for sub in [
        "chat", "serve", "send", "tail", "export", "import", "invite", "members",
    ] {
        assert!(stdout.contains(sub), "{sub}");
    }
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &stdout).unwrap();
    if let Ok(status) = Command::new("bash").arg("-n").arg(script.path()).status() {
        assert!(status.success(), "bash -n rejects the script");
    }
    let (out, stdout, _) = run(&mut ftpchat(&["completions", "zsh"]));
    assert!(out.status.success() && stdout.starts_with("#compdef ftpchat"));
    let (out, _, stderr) = run(&mut ftpchat(&["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");

    let (out, stdout, _) = run(&mut ftpchat(&["--help"]));
    assert!(out.status.success());
    assert!(
        stdout.contains("FTPCHAT_PASSWORD") && stdout.contains("EXIT CODES"),
        "{stdout}"
    );
    for sub in [
        vec!["chat"],
        vec!["serve"],
        vec!["serve", "add-user"],
        vec!["serve", "remove-user"],
        vec!["send"],
        vec!["tail"],
        vec!["export"],
        vec!["import"],
        vec!["invite"],
        vec!["members"],
        vec!["completions"],
    ] {
        let mut args = sub.clone();
        args.push("--help");
        let (out, stdout, stderr) = run(&mut ftpchat(&args));
        assert!(out.status.success(), "{sub:?}: {stderr}");
        let usage = format!("Usage: ftpchat {}", sub.join(" "));
        assert!(stdout.contains(&usage), "{usage} not in:\n{stdout}");
    }
    let (_, stdout, _) = run(&mut ftpchat(&["tail", "--help"]));
    for field in [
        "id ",
        "sender ",
        "time ",
        "text ",
        "attachment ",
        "edited ",
        "deleted ",
    ] {
        assert!(stdout.contains(field), "{field} not in tail --help");
    }
    let (_, stdout, _) = run(&mut ftpchat(&["chat", "--help"]));
    for needle in [
        "--members",
        "--join <INVITATION>",
        "MEMBER ROOMS",
        "FTPCHAT_PASSWORD",
        "/save",
    ] {
        assert!(
            stdout.contains(needle),
            "{needle} not in chat --help:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("USAGE:"),
        "only the chat's notes, not its usage:\n{stdout}"
    );
    let (_, stdout, _) = run(&mut ftpchat(&["import", "--help"]));
    assert!(stdout.contains("Not kept: the original times"), "{stdout}");

    // The chat's own checks apply to `ftpchat chat`.
    let (out, _, stderr) = run(&mut ftpchat(&["chat", "--lock", "ftp://h/r"]));
    assert!(!out.status.success());
    assert!(stderr.contains("--lock is for --compat rooms"), "{stderr}");
}

#[test]
fn json_carries_edits_deletes_reactions_and_attachments() {
    let served = Served::start();
    let room = served.make_room("lobby");
    let edited = room.send("helo").unwrap();
    let deleted = room.send("oops").unwrap();
    let plain = room.send("plain").unwrap();
    let file = served.dir.path().join("notes.txt");
    std::fs::write(&file, b"twelve bytes").unwrap();
    let attached = room.send_file(&file, "the notes").unwrap();
    room.sync().unwrap();
    room.edit(&edited, "hello").unwrap();
    room.delete(&deleted).unwrap();
    room.react(&plain, "👍").unwrap();
    room.sync().unwrap();
    let url = served.url("lobby");

    let doc = export_json(&served, "lobby");
    let messages = doc["messages"].as_array().unwrap();
    let by_id = |id: &ftpchat_core::MessageId| {
        messages
            .iter()
            .find(|m| m["id"] == id.to_hex().as_str())
            .unwrap_or_else(|| panic!("{id} not exported: {doc}"))
    };
    let m = by_id(&edited);
    assert_eq!(
        (&m["text"], &m["edited"]),
        (&Value::from("hello"), &Value::from(true))
    );
    assert!(m.get("deleted").is_none());
    let m = by_id(&deleted);
    assert_eq!(
        (&m["text"], &m["deleted"]),
        (&Value::from(""), &Value::from(true))
    );
    let m = by_id(&plain);
    assert_eq!(
        m["reactions"],
        serde_json::json!([{"reaction": "👍", "senders": ["maker"]}])
    );
    assert!(m.get("edited").is_none() && m.get("attachment").is_none());
    let m = by_id(&attached);
    assert_eq!(m["text"], "the notes");
    assert_eq!(
        m["attachment"],
        serde_json::json!({"name": "notes.txt", "size": 12, "media_type": "text/plain"})
    );

    // tail prints a later change as a `change` line.
    let mut child = served
        .ftpchat(&["tail", "--json", "-n", "0", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let _tail = Running(child);
    let ready = stderr.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(ready.contains("following lobby"), "{ready}");
    room.edit(&edited, "hello again").unwrap();
    room.sync().unwrap();
    let line = stdout
        .recv_timeout(Duration::from_secs(15))
        .expect("tail printed no change within 15 s");
    let m: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(m["id"], edited.to_hex().as_str());
    assert_eq!(
        (&m["text"], &m["change"]),
        (&Value::from("hello again"), &Value::from(true))
    );
}

/// Without the `stores` feature an object-store location is a clear error naming it.
#[cfg(not(feature = "stores"))]
#[test]
fn an_object_store_location_without_the_feature_names_it() {
    let home = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(&mut ftpchat_in(
        home.path(),
        &["send", "--create", "s3://bucket/chats/lobby", "hi"],
    ));
    assert!(!out.status.success());
    assert!(stderr.contains("s3"), "{stderr}");
    assert!(stderr.contains("feature"), "{stderr}");
}

/// With the `stores` feature (`.ci/test` runs it against moto and wsgidav): `ftpchat send`
/// and `export` on `s3://` and `webdav://` rooms, which use the segment layout.
#[cfg(feature = "stores")]
mod stores {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Some(v),
            _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
                panic!("CI=true but {name} is not set: run .ci/ftp-servers.sh")
            }
            _ => {
                eprintln!("skipped: {name} is not set");
                None
            }
        }
    }

    fn send_and_export(url: &str, envs: &[(&str, String)]) {
        let home = tempfile::tempdir().unwrap();
        let cmd = |args: &[&str]| {
            let mut c = ftpchat_in(home.path(), args);
            for (k, v) in envs {
                c.env(k, v);
            }
            c
        };
        let (out, _, stderr) = run(&mut cmd(&["send", "--create", "--name", "Ann", url, "hi"]));
        assert!(out.status.success(), "{stderr}");
        let (out, _, stderr) = run(&mut cmd(&["send", "--name", "Ben", url, "hello Ann"]));
        assert!(out.status.success(), "{stderr}");
        let (out, stdout, stderr) = run(&mut cmd(&["export", "--format", "json", url]));
        assert!(out.status.success(), "{stderr}");
        let doc: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(
            senders_and_texts(&doc),
            [
                ("Ann".to_owned(), "hi".to_owned()),
                ("Ben".to_owned(), "hello Ann".to_owned())
            ]
        );
    }

    fn unique() -> String {
        format!(
            "cli-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }

    #[test]
    fn stores_send_and_export_on_s3() {
        let (Some(url), Some(endpoint), Some(key), Some(secret)) = (
            env("FTPCHAT_TEST_S3_URL"),
            env("FTPCHAT_TEST_S3_ENDPOINT"),
            env("FTPCHAT_TEST_S3_ACCESS_KEY"),
            env("FTPCHAT_TEST_S3_SECRET_KEY"),
        ) else {
            return;
        };
        let region = std::env::var("FTPCHAT_TEST_S3_REGION").unwrap_or("us-east-1".into());
        send_and_export(
            &format!("{url}/{}", unique()),
            &[
                ("AWS_ENDPOINT_URL", endpoint),
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", secret),
                ("AWS_REGION", region),
            ],
        );
    }

    #[test]
    fn stores_send_and_export_on_sftp_with_a_login_key_and_a_pinned_host_key() {
        let (Some(url), Some(key), Some(fingerprint)) = (
            env("FTPCHAT_TEST_SFTP_URL"),
            env("FTPCHAT_TEST_SFTP_KEY"),
            env("FTPCHAT_TEST_SFTP_FINGERPRINT"),
        ) else {
            return;
        };
        // The URL without its password: the key logs in (no prompt), and the host key is
        // accepted by its fingerprint (this sshd is in no known_hosts the command reads).
        let (scheme, rest) = url.split_once("://").unwrap();
        let (userinfo, host_and_path) = rest.split_once('@').unwrap();
        let user = userinfo.split(':').next().unwrap();
        let location = format!("{scheme}://{user}@{host_and_path}/{}", unique());
        send_and_export(
            &location,
            &[
                ("FTPCHAT_SSH_KEY", key),
                ("FTPCHAT_SSH_HOST_FINGERPRINT", fingerprint),
            ],
        );
    }

    #[test]
    fn stores_send_and_export_on_webdav() {
        let (Some(url), Some(user), Some(pass)) = (
            env("FTPCHAT_TEST_WEBDAV_URL"),
            env("FTPCHAT_TEST_WEBDAV_USER"),
            env("FTPCHAT_TEST_WEBDAV_PASSWORD"),
        ) else {
            return;
        };
        // The login password comes from the environment, as for FTP.
        let (scheme, rest) = url.split_once("://").unwrap();
        let with_user = format!(
            "{scheme}://{}@{rest}/{}",
            ftpchat_examples::location::percent_encode(&user),
            unique()
        );
        send_and_export(&with_user, &[("FTPCHAT_FTP_PASSWORD", pass)]);
    }
}
