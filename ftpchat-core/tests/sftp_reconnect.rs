//! Dropped SFTP connections: the sshd processes serving the sessions are killed mid-session
//! (the listener stays up), and the transport reconnects and the room goes on.
//!
//! A test binary of its own: killing sshd's session processes would break the other SFTP
//! tests' connections if they ran in the same process at the same time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use ftpchat_core::{
    RemotePath, Room, RoomConfig, SftpTransport, Transport, TransportErrorKind, TransportEvent,
};
use support::ftp_server::unique_name;
use support::sftp::{external_sftp, SftpServer};

/// Kills every process sshd forked to serve a session (by parent pid), not the listener.
/// Returns how many were killed.
fn kill_sessions(server: &SftpServer) -> usize {
    let listener = std::fs::read_to_string(&server.pidfile)
        .unwrap()
        .trim()
        .to_owned();
    let mut killed = 0;
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
        if fields.get(1) == Some(&listener.as_str()) && fields.first() != Some(&"Z") {
            let status = std::process::Command::new("kill")
                .args(["-9", &pid])
                .status()
                .unwrap();
            if status.success() {
                killed += 1;
            }
        }
    }
    // Let the kernel close the sockets.
    std::thread::sleep(std::time::Duration::from_millis(200));
    killed
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
    let deliver = |room: &Room| {
        for _ in 0..20 {
            match room.sync() {
                Ok(_) if room.outbox_len() == 0 => return,
                Ok(_) => {}
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
    assert!(reconnects(&ta.take_events()) >= 1);
    assert!(reconnects(&tb.take_events()) >= 1);
}
