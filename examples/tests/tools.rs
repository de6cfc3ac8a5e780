//! The `read-ftpchat`, `bot` and `chat` binaries, run as a user would (the interactive
//! `chat` screen itself is driven under tmux by `.ci/examples-tests.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_core::crypto::KdfParams;
use ftpchat_core::room::{Room, RoomConfig, WriteCodec};
use ftpchat_core::transport::local::LocalTransport;
use ftpchat_examples::server::{EmbeddedServer, ServerConfig};
use ftpchat_examples::users;

const READ_FTPCHAT: &str = env!("CARGO_BIN_EXE_read-ftpchat");
const BOT: &str = env!("CARGO_BIN_EXE_bot");
const CHAT: &str = env!("CARGO_BIN_EXE_chat");

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../ftpchat-core/tests/testdata")
        .join(name)
}

fn run(cmd: &mut Command) -> (Output, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn read_ftpchat_prints_an_ftpchat_15_file() {
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(testdata("legacy-v1.5-chat.txt"))
        .env_remove("FTPCHAT_PASSWORD"));
    assert!(out.status.success(), "{stderr}");
    // What legacy-v1.5-chat.expected.json lists, in order.
    assert_eq!(
        stdout,
        "[2025-12-04 18:30] ahmed: Salam! anyone here?\n\
         [2025-12-04 18:31] Sara: yes :) hi\n\
         [2025-12-04 18:31] ahmed: sending from Windows\n\
         [2025-12-04 18:33] Omar K: multi\n    line\n\
         [2025-12-05 07:00] ahmed: emoji 😀\n\
         [2025-12-05 07:01] user:odd: colon in name\n"
    );
    assert!(
        stderr.contains("not decoded"),
        "the non-record line is reported: {stderr}"
    );
    assert!(stderr.contains("6 message(s)"), "{stderr}");
}

#[test]
fn read_ftpchat_decodes_16_lines_over_ftp() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("club")).unwrap();
    let users_file = dir.path().join("users");
    users::add_user(&users_file, "reader", "ftp pw").unwrap();
    let server = EmbeddedServer::start(ServerConfig::new(&root, &users_file)).unwrap();

    // An FTPChat 1.6 file written with a non-default salt and iteration count.
    let kdf = KdfParams::new(b"pepper".to_vec(), 1000).unwrap();
    let writer = Room::open(
        Arc::new(LocalTransport::new(root.join("club"))),
        RoomConfig::shared_file("chat.txt", WriteCodec::Fernet16, "Sara")
            .with_password("s3cret")
            .with_compat_kdf(kdf),
    )
    .unwrap();
    writer.send("first").unwrap();
    writer.send("second\nwith two lines").unwrap();
    writer.sync().unwrap();

    // The FTP password comes from the environment because the URL has none.
    let url = format!("ftp://reader@127.0.0.1:{}/club/chat.txt", server.port());
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .args(["--salt", "pepper", "--iterations", "1000", &url])
        .env("FTPCHAT_FTP_PASSWORD", "ftp pw")
        .env("FTPCHAT_PASSWORD", "s3cret"));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].ends_with("] Sara: first"), "{stdout}");
    assert!(lines[1].ends_with("] Sara: second"), "{stdout}");
    assert_eq!(lines[2], "    with two lines");
    assert!(!stderr.contains("ftp pw") && !stderr.contains("s3cret"));

    // Without the right parameters nothing decodes, and it says why.
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(&url)
        .env("FTPCHAT_FTP_PASSWORD", "ftp pw")
        .env("FTPCHAT_PASSWORD", "s3cret"));
    assert!(out.status.success());
    assert_eq!(stdout, "");
    assert!(stderr.contains("did not open"), "{stderr}");
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
fn bot_answers_new_messages() {
    let dir = tempfile::tempdir().unwrap();
    let me = Room::open(
        Arc::new(LocalTransport::new(dir.path())),
        RoomConfig::native("lobby", "tester", "room pw").with_native_iterations(1000),
    )
    .unwrap();
    me.send("written before the bot came").unwrap();
    me.sync().unwrap();

    let mut child = Command::new(BOT)
        .arg(dir.path().join("lobby"))
        .env("FTPCHAT_PASSWORD", "room pw")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _bot = Running(child);
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    assert!(first.starts_with("bot is listening"), "{first:?}");

    me.send("ping").unwrap();
    me.send("hello bot").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answers = Vec::new();
    while answers.len() < 2 && Instant::now() < deadline {
        for m in me.sync().unwrap().messages {
            assert_eq!(m.sender, "bot");
            answers.push(m.text);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(answers, ["pong", "tester said: hello bot"]);
}

#[test]
fn chat_help_and_refused_arguments() {
    let (out, stdout, _) = run(Command::new(CHAT).arg("--help"));
    assert!(out.status.success());
    assert!(stdout.contains("FTPCHAT_PASSWORD") && stdout.contains("--compat 1.5|1.6"));

    let (out, _, stderr) = run(Command::new(CHAT).args(["--password", "hunter2", "ftp://h/r"]));
    assert!(!out.status.success());
    assert!(
        stderr.contains("never taken from the command line"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));

    let (out, _, stderr) = run(Command::new(CHAT).arg("gopher://host/room"));
    assert!(!out.status.success());
    assert!(stderr.contains("unsupported scheme"), "{stderr}");
}

#[test]
fn chat_reports_a_wrong_room_password() {
    let dir = tempfile::tempdir().unwrap();
    Room::open(
        Arc::new(LocalTransport::new(dir.path())),
        RoomConfig::native("lobby", "tester", "right").with_native_iterations(1000),
    )
    .unwrap();
    let (out, _, stderr) = run(Command::new(CHAT)
        .arg(dir.path().join("lobby"))
        .env("FTPCHAT_PASSWORD", "wrong"));
    assert!(!out.status.success());
    assert!(stderr.contains("wrong room password"), "{stderr}");
}
