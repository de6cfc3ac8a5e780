//! Dropped SFTP connections: the sshd processes serving the sessions are killed mid-session
//! (the listener stays up), and the transport reconnects and the room goes on.
//!
//! A test binary of its own: killing sshd's session processes would break the other SFTP
//! tests' connections if they ran in the same process at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use ftpchat_core::{
    RemotePath, Room, RoomConfig, RoomEvent, SftpTransport, Transport, TransportErrorKind,
    TransportEvent,
};
use support::ftp_server::unique_name;
use support::sftp::{external_sftp, SftpServer};

/// The (pid, parent pid) of every live process.
fn processes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(state), Some(ppid)) = (fields.first(), fields.get(1)) {
            if *state != "Z" {
                out.push((pid, (*ppid).to_owned()));
            }
        }
    }
    out
}

/// Kills every process sshd forked to serve a session (the privileged monitor and its
/// unprivileged child, which holds the socket too), by pid, never the listener. Returns
/// how many sessions were killed.
fn kill_sessions(server: &SftpServer) -> usize {
    let listener = std::fs::read_to_string(&server.pidfile)
        .unwrap()
        .trim()
        .to_owned();
    let procs = processes();
    let sessions: Vec<&String> = procs
        .iter()
        .filter(|(_, ppid)| *ppid == listener)
        .map(|(pid, _)| pid)
        .collect();
    let mut victims: Vec<&String> = procs
        .iter()
        .filter(|(_, ppid)| sessions.contains(&ppid))
        .map(|(pid, _)| pid)
        .collect();
    victims.extend(sessions.iter().copied());
    for pid in &victims {
        let _ = std::process::Command::new("kill")
            .args(["-9", pid.as_str()])
            // A child may be gone already with its parent.
            .stderr(std::process::Stdio::null())
            .status();
    }
    // Let the kernel close the sockets.
    std::thread::sleep(std::time::Duration::from_millis(200));
    sessions.len()
}

fn reconnects(events: &[TransportEvent]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, TransportEvent::Reconnected { .. }))
        .count()
}

#[test]
fn transport_reconnects_after_the_session_is_killed_and_room_goes_on() {
    let Some(server) = external_sftp() else {
        return;
    };

    // --- the transport alone -----------------------------------------------------------
    let t = SftpTransport::new(server.config()).unwrap();
    let file = RemotePath::new(&unique_name("reconnect")).unwrap();
    t.append(&file, b"one\n").unwrap();
    assert!(kill_sessions(&server) >= 1, "no sshd session process found");
    // A read is repeated on a new connection: no error reaches the caller.
    assert_eq!(t.size(&file).unwrap(), Some(4));
    assert_eq!(reconnects(&t.take_events()), 1);

    // An append whose connection died is not repeated blindly: it fails as Transient (or
    // succeeds when the drop was noticed before sending), and the next call reconnects.
    kill_sessions(&server);
    let mut appended = false;
    for _ in 0..3 {
        match t.append(&file, b"two\n") {
            Ok(()) => {
                appended = true;
                break;
            }
            Err(e) => assert_eq!(e.kind(), TransportErrorKind::Transient, "{e}"),
        }
    }
    assert!(appended);
    let mut content = Vec::new();
    t.read_from(&file, 0, &mut content).unwrap();
    assert_eq!(content, b"one\ntwo\n");
    assert_eq!(reconnects(&t.take_events()), 1);
    t.remove_file(&file).unwrap();

    // --- a room on two clients ---------------------------------------------------------
    let room_name = unique_name("room");
    let config = |who: &str| {
        RoomConfig::native(room_name.clone(), who.to_owned(), "pw").with_native_iterations(1_000)
    };
    let ta: Arc<SftpTransport> = Arc::new(SftpTransport::new(server.config()).unwrap());
    let tb: Arc<SftpTransport> = Arc::new(SftpTransport::new(server.config()).unwrap());
    let a = Room::open(ta.clone() as Arc<dyn Transport>, config("alice")).unwrap();
    let b = Room::open(tb.clone() as Arc<dyn Transport>, config("bob")).unwrap();
    // Reconnects the rooms report (the room drains its transport's events into its own).
    let reconnected = std::cell::Cell::new(0);
    let deliver = |room: &Room| {
        for _ in 0..20 {
            match room.sync() {
                Ok(update) => {
                    reconnected.set(
                        reconnected.get()
                            + update
                                .events
                                .iter()
                                .filter(|e| {
                                    matches!(
                                        e,
                                        RoomEvent::Transport(TransportEvent::Reconnected { .. })
                                    )
                                })
                                .count(),
                    );
                    if room.outbox_len() == 0 {
                        return;
                    }
                }
                Err(e) => eprintln!("sync failed, retrying: {e}"),
            }
        }
        panic!("outbox never drained");
    };
    let texts = |room: &Room| -> Vec<String> {
        room.history(None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect()
    };

    a.send("before the drop").unwrap();
    deliver(&a);
    deliver(&b);
    assert_eq!(texts(&b), ["before the drop"]);

    assert!(kill_sessions(&server) >= 2, "both clients had a session");
    a.send("after the drop").unwrap();
    deliver(&a);
    b.send("bob after the drop").unwrap();
    deliver(&b);
    deliver(&a);
    let want = ["before the drop", "after the drop", "bob after the drop"];
    assert_eq!(texts(&a), want);
    assert_eq!(texts(&b), want);
    // Both clients reconnected (events that arrived after the last sync stay queued).
    let pending = reconnects(&ta.take_events()) + reconnects(&tb.take_events());
    assert!(reconnected.get() + pending >= 2, "{}", reconnected.get());
}
