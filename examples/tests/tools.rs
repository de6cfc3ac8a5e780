//! The `read-ftpchat`, `bot` and `chat` binaries, run as a user would (the interactive
//! `chat` screen itself is driven under tmux by `.ci/examples-tests.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ftpchat_core::KdfParams;
use ftpchat_core::LocalTransport;
use ftpchat_core::{Room, RoomConfig, WriteCodec};
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

/// `ftpchat-1.6-1.7-chat.txt` as `read-ftpchat` prints it: the six messages of
/// `ftpchat-1.6-1.7-chat.expected.json` (1.6's trailing newline not shown, 1.6's trailing
/// spaces kept, 1.7's stripped by its client).
const REAL_CLIENTS_CHAT: &str = "\
[2026-12-02 04:18] Ahmed: Hello from FTPChat 1.6
[2026-12-02 04:18] Mona: Hi Ahmed, this is 1.7
[2026-12-02 04:18] Ahmed: Two lines
    in one message
[2026-12-02 04:18] Mona: unicode: مرحبا ✓ — ok
[2026-12-02 04:18] Ahmed: last: ends with spaces   
[2026-12-02 04:18] Mona: trailing spaces are stripped by 1.7
";

#[test]
fn read_ftpchat_prints_the_real_16_and_17_clients_file_with_only_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chat.txt");
    std::fs::copy(testdata("ftpchat-1.6-1.7-chat.txt"), &file).unwrap();
    let before = std::fs::read(&file).unwrap();
    // The expected output agrees with the expected file.
    let expected = std::fs::read_to_string(testdata("ftpchat-1.6-1.7-chat.expected.json")).unwrap();
    for needle in [
        "\"password\": \"correct horse\"",
        "Hello from FTPChat 1.6",
        "Two lines\\nin one message\\n",
        "trailing spaces are stripped by 1.7\"",
    ] {
        assert!(expected.contains(needle), "{needle}");
    }

    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(&file)
        .env("FTPCHAT_PASSWORD", "correct horse"));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, REAL_CLIENTS_CHAT);
    assert!(!stderr.contains("not decoded"), "{stderr}");
    assert!(stderr.contains("6 message(s)"), "{stderr}");

    // --ask-password reads the password from the terminal (standard input when it is not
    // one); nothing else is needed.
    let child = Command::new(READ_FTPCHAT)
        .args(["--ask-password".as_ref(), file.as_os_str()])
        .env_remove("FTPCHAT_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.as_ref().unwrap(), b"correct horse\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), REAL_CLIENTS_CHAT);
    assert!(
        stderr.contains("Password of ") && !stderr.contains("correct horse"),
        "{stderr}"
    );

    // A wrong password: nothing shown, and why.
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(&file)
        .env("FTPCHAT_PASSWORD", "wrong horse"));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("6 FTPChat 1.6/1.7 line(s) did not open: wrong password"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong horse"));

    // No password: each line says what it looks like.
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(&file)
        .env_remove("FTPCHAT_PASSWORD"));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr
            .matches("looks like FTPChat 1.6, but this room has no password")
            .count(),
        3,
        "{stderr}"
    );
    assert_eq!(
        stderr
            .matches("looks like FTPChat 1.7, but this room has no password")
            .count(),
        3,
        "{stderr}"
    );
    // read-ftpchat never writes.
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn read_ftpchat_decodes_16_and_17_lines_over_ftp() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("club")).unwrap();
    let users_file = dir.path().join("users");
    users::add_user(&users_file, "reader", "ftp pw").unwrap();
    let server = EmbeddedServer::start(ServerConfig::new(&root, &users_file)).unwrap();

    // A chat file of 1.6 and 1.7 lines written with a non-default salt and iteration count.
    let kdf = KdfParams::new(b"pepper".to_vec(), 1000).unwrap();
    let writer = |codec, name: &str| {
        Room::open(
            Arc::new(LocalTransport::new(root.join("club"))),
            RoomConfig::shared_file("chat.txt", codec, name)
                .with_password("s3cret")
                .with_compat_kdf(kdf.clone()),
        )
        .unwrap()
    };
    let sara = writer(WriteCodec::Fernet16, "Sara");
    sara.send("first").unwrap();
    sara.send("second\nwith two lines").unwrap();
    sara.sync().unwrap();
    let mona = writer(WriteCodec::Fernet17, "Mona");
    mona.send("third, from 1.7  ").unwrap();
    mona.sync().unwrap();
    let lines = std::fs::read_to_string(root.join("club/chat.txt")).unwrap();
    let starts: Vec<bool> = lines.lines().map(|l| l.starts_with("Z0FBQUFB")).collect();
    assert_eq!(starts, [true, true, false], "1.6, 1.6, 1.7: {lines}");
    assert!(lines.lines().nth(2).unwrap().starts_with("gAAAAA"));

    // The FTP password comes from the environment because the URL has none.
    let url = format!("ftp://reader@127.0.0.1:{}/club/chat.txt", server.port());
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .args(["--salt", "pepper", "--iterations", "1000", &url])
        .env("FTPCHAT_FTP_PASSWORD", "ftp pw")
        .env("FTPCHAT_PASSWORD", "s3cret"));
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].ends_with("] Sara: first"), "{stdout}");
    assert!(lines[1].ends_with("] Sara: second"), "{stdout}");
    assert_eq!(lines[2], "    with two lines");
    assert!(lines[3].ends_with("] Mona: third, from 1.7"), "{stdout}");
    assert!(!stderr.contains("ftp pw") && !stderr.contains("s3cret"));

    // Without the right parameters nothing decodes, and it says why.
    let (out, stdout, stderr) = run(Command::new(READ_FTPCHAT)
        .arg(&url)
        .env("FTPCHAT_FTP_PASSWORD", "ftp pw")
        .env("FTPCHAT_PASSWORD", "s3cret"));
    assert!(out.status.success());
    assert_eq!(stdout, "");
    assert!(
        stderr.contains("3 FTPChat 1.6/1.7 line(s) did not open"),
        "{stderr}"
    );
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
    let stdout_help = stdout.clone();
    assert!(stdout.contains("FTPCHAT_PASSWORD") && stdout.contains("--compat [VERSION]"));
    // Which client writes what, and the clients' key-derivation constants.
    for needle in [
        "1.7  FTPChat 1.7: one raw Fernet token per line (gAAAAA...)",
        "1.6  FTPChat 1.6: the token base64-encoded once more (Z0FBQUFB...)",
        "1.5  FTPChat 1.5:",
        "(default 1.7)",
        "q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E",
        "100000 iterations",
    ] {
        assert!(stdout.contains(needle), "{needle} not in:\n{stdout}");
    }
    assert!(!stdout.contains("unpublished") && !stdout.contains("default: ftpchat"));
    let (out, stdout, _) = run(Command::new(READ_FTPCHAT).arg("--help"));
    assert!(out.status.success());
    assert!(
        stdout.contains("q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E"),
        "{stdout}"
    );
    assert!(!stdout.contains("default: ftpchat"), "{stdout}");

    for (args, why) in [
        (vec!["--compat", "1.8", "x"], "use 1.7, 1.6 or 1.5"),
        (
            vec!["--compat", "1.5", "--salt", "s", "x"],
            "are for --compat 1.7 and 1.6",
        ),
    ] {
        let (out, _, stderr) = run(Command::new(CHAT).args(&args));
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    }

    let (out, _, stderr) = run(Command::new(CHAT).args(["--password", "hunter2", "ftp://h/r"]));
    assert!(!out.status.success());
    assert!(
        stderr.contains("never taken from the command line"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));

    // Member rooms: the options are documented; a bad invitation is refused before anything
    // is opened or created.
    for needle in [
        "--members",
        "--join INVITATION",
        "MEMBER ROOMS",
        "/invite prints",
    ] {
        assert!(stdout_help.contains(needle), "{needle} not in --help");
    }
    let state = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(Command::new(CHAT)
        .args(["--join", "ftpchat://join?v=9", "--state-dir"])
        .arg(state.path()));
    assert!(!out.status.success());
    assert!(stderr.contains("--join: "), "{stderr}");
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 0);

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
