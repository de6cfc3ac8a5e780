//! A room on a store that cannot append (S3, WebDAV), as the transport tests check it: two
//! clients chat in the segment layout (SPEC §9.5), the logs are folders of segments beside
//! a feed, a client with a state folder restarts from its segment cache and reads what
//! came while it was away, and a FTPChat chat file is refused with a clear error naming the
//! store.

use std::sync::Arc;

use ftpchat_core::{Password, RemotePath, Room, RoomConfig, RoomError, Transport, WriteCodec};

/// Runs the check in the fresh folder `dir` of `t`, whose description starts with `scheme`
/// (e.g. `"s3://"`).
pub fn chat_in_segments_and_refuse_a_chat_file(
    t: &Arc<dyn Transport>,
    dir: &RemotePath,
    scheme: &str,
) {
    let dir = dir.join("r").unwrap();
    let config = |who: &str| {
        RoomConfig::native(dir.as_str(), who, Password::new("room password"))
            .with_native_iterations(1_000)
    };
    let alice = Room::open(Arc::clone(t), config("alice")).unwrap();
    let bob = Room::open(Arc::clone(t), config("bob")).unwrap();
    alice.send(&format!("hello over {scheme}")).unwrap();
    alice.sync().unwrap();
    let got = bob.sync().unwrap();
    assert_eq!(got.messages.len(), 1);
    assert_eq!(got.messages[0].text, format!("hello over {scheme}"));
    bob.send("hi back").unwrap();
    bob.sync().unwrap();
    assert_eq!(alice.sync().unwrap().messages[0].text, "hi back");
    // On the server: the logs are folders of segments, and the feed has markers.
    let logs = t.list(&dir.join("logs").unwrap()).unwrap();
    let log_folders = logs.iter().filter(|e| e.is_dir && e.name.ends_with(".log"));
    assert_eq!(log_folders.count(), 2);
    assert!(!t.list(&dir.join("feed").unwrap()).unwrap().is_empty());

    // A client with a state folder restarts from its segment cache.
    let state = tempfile::tempdir().unwrap();
    let carol = Room::open(Arc::clone(t), config("carol").with_state_dir(state.path())).unwrap();
    assert_eq!(carol.sync().unwrap().messages.len(), 2);
    carol.close().unwrap();
    drop(carol);
    let cache = super::segment_cache(state.path());
    assert!(cache.contains("\nfeed "));
    alice.send("while carol was away").unwrap();
    alice.sync().unwrap();
    let carol = Room::open(Arc::clone(t), config("carol").with_state_dir(state.path())).unwrap();
    let got: Vec<String> = carol
        .sync()
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(got, ["while carol was away"]);
    bob.sync().unwrap();

    let shared = RoomConfig::shared_file(
        dir.join("chat.txt").unwrap().as_str(),
        WriteCodec::Fernet17,
        "alice",
    )
    .with_password("pw");
    let err = Room::open(Arc::clone(t), shared).unwrap_err();
    assert!(matches!(err, RoomError::Unsupported(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("cannot append"), "{text}");
    assert!(text.contains(scheme), "{text}");
}
