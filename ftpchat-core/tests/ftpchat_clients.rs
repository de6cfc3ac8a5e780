//! Interoperating with the real FTPChat 1.6 and 1.7 clients: their own vectors, a chat
//! file both wrote over FTP, what ftpchat writes into their files, and a FTPChat 1.7
//! reader's view of a file ftpchat writes through a faulty connection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use ftpchat_core::codec::compat::{self, CompatMessage};
use ftpchat_core::codec::{derive_key, Deflater, FernetKey, KdfParams};
use ftpchat_core::codec::{
    ftpchat_client_kdf, Codec, Keyring, LineDecoder, Record, FTPCHAT_ITERATIONS, FTPCHAT_SALT,
};
use ftpchat_core::testing::MemoryTransport;
use ftpchat_core::testing::{FaultyTransport, Op};
use ftpchat_core::{RemotePath, Transport, TransportErrorKind};
use ftpchat_core::{Room, RoomConfig, RoomError, RoomEvent, SyncUpdate, WriteCodec};
use serde_json::Value;

const PASSWORD: &str = "correct horse";

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata")
        .join(name)
}

fn jsonl(name: &str) -> Vec<Value> {
    std::fs::read_to_string(testdata(name))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("field {k} in {v}"))
}

fn client_key(password: &str) -> FernetKey {
    derive_key(password, &ftpchat_client_kdf())
}

#[test]
fn the_client_kdf_is_the_documented_constant() {
    let whole: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("ftpchat-1.6-1.7-chat.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(whole["salt"].as_str().unwrap().as_bytes(), FTPCHAT_SALT);
    assert_eq!(
        whole["iterations"].as_u64().unwrap(),
        u64::from(FTPCHAT_ITERATIONS)
    );
    assert_eq!(
        ftpchat_core::default_compat_kdf(),
        KdfParams::new(FTPCHAT_SALT.to_vec(), 100_000).unwrap()
    );
}

/// The clients' own `encrypt` with a fixed IV and time: decoded with no option but the
/// password, and reproduced byte for byte.
#[test]
fn original_client_lines_decode_and_encode_byte_for_byte() {
    let mut deflater = Deflater::new();
    for (file, codec) in [
        ("ftpchat-1.6-original.jsonl", Codec::Fernet16),
        ("ftpchat-1.7-original.jsonl", Codec::Fernet17),
    ] {
        let vectors = jsonl(file);
        assert_eq!(vectors.len(), 5, "{file}");
        for v in vectors {
            let key = client_key(s(&v, "password"));
            let line = s(&v, "line");
            let plaintext = s(&v, "plaintext");
            let mut decoder = LineDecoder::new(Keyring {
                fernet: Some(key.clone()),
                native: None,
            });
            let Record::Compat {
                codec: got,
                message,
                token_time,
            } = decoder.decode_line(line.as_bytes()).unwrap()
            else {
                panic!("not a compat record: {line}");
            };
            assert_eq!(got, codec, "{line}");
            assert_eq!(token_time, v["timestamp"].as_u64());
            let shown = match codec {
                Codec::Fernet16 => message.to_plaintext(),
                _ => message.to_plaintext_17(),
            };
            assert_eq!(shown, plaintext);

            let iv: [u8; 16] = hex::decode(s(&v, "iv_hex")).unwrap().try_into().unwrap();
            let now = v["timestamp"].as_u64().unwrap();
            let ours = match codec {
                Codec::Fernet16 => {
                    compat::encode_fernet16_with_iv(plaintext, &key, now, iv, &mut deflater)
                }
                _ => compat::encode_fernet_with_iv(plaintext, &key, now, iv, &mut deflater),
            };
            assert_eq!(ours, line, "{file}: {plaintext:?}");
        }
    }
}

#[test]
fn an_empty_17_message_is_its_sender_with_an_empty_text() {
    let v = jsonl("ftpchat-1.7-original.jsonl")
        .into_iter()
        .find(|v| s(v, "plaintext").ends_with("Zed:"))
        .unwrap();
    let mut decoder = LineDecoder::new(Keyring {
        fernet: Some(client_key(s(&v, "password"))),
        native: None,
    });
    let Record::Compat { message, .. } = decoder.decode_line(s(&v, "line").as_bytes()).unwrap()
    else {
        panic!()
    };
    assert_eq!(message.username.as_deref(), Some("Zed"));
    assert_eq!(message.text, "");
    assert_eq!(message.timestamp.unwrap().to_string(), "2026-02-01 10:18");
}

struct Expected {
    client: String,
    sender: String,
    plaintext: String,
}

fn expected_chat() -> Vec<Expected> {
    let whole: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("ftpchat-1.6-1.7-chat.expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(whole["password"], PASSWORD);
    whole["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Expected {
            client: s(r, "client").to_owned(),
            sender: s(r, "sender").to_owned(),
            plaintext: s(r, "plaintext").to_owned(),
        })
        .collect()
}

fn chat_file() -> Vec<u8> {
    std::fs::read(testdata("ftpchat-1.6-1.7-chat.txt")).unwrap()
}

fn store_with(file: &[u8]) -> (MemoryTransport, Arc<dyn Transport>) {
    let store = MemoryTransport::new();
    store
        .append(&RemotePath::new("chat.txt").unwrap(), file)
        .unwrap();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    (store, t)
}

/// The chat file's bytes (none before it exists).
fn file_bytes(store: &MemoryTransport) -> Vec<u8> {
    let mut out = Vec::new();
    match store.read_from(&RemotePath::new("chat.txt").unwrap(), 0, &mut out) {
        Err(e) if e.kind() == TransportErrorKind::NotFound => {}
        other => other.map(drop).unwrap(),
    }
    out
}

fn shared(name: &str) -> RoomConfig {
    RoomConfig::shared_file("chat.txt", WriteCodec::Fernet17, name).with_password(PASSWORD)
}

/// A room on `store` through a connection that can be broken.
fn faulty_room(
    store: &MemoryTransport,
    config: RoomConfig,
) -> (Arc<FaultyTransport<MemoryTransport>>, Room) {
    let faulty = Arc::new(FaultyTransport::new(store.clone()));
    let t: Arc<dyn Transport> = faulty.clone();
    (faulty, Room::open(t, config).unwrap())
}

/// The file both real clients wrote over FTP, read with nothing set but the password:
/// every message, with sender, local time and text. A 1.6 message's trailing "\n" (its
/// Tk text box adds one) is not shown, as for 1.5.
#[test]
fn the_mixed_client_file_shows_every_message_with_only_a_password() {
    let (_, t) = store_with(&chat_file());
    let room = Room::open(t, shared("reader")).unwrap();
    let update = room.sync().unwrap();
    assert!(update.events.is_empty(), "{:?}", update.events);
    let expected = expected_chat();
    assert_eq!(update.messages.len(), expected.len());
    for (m, e) in update.messages.iter().zip(&expected) {
        let parsed = CompatMessage::parse(&e.plaintext);
        assert_eq!(m.sender, e.sender);
        assert_eq!(parsed.username.as_deref(), Some(e.sender.as_str()));
        let text = parsed.text.strip_suffix('\n').unwrap_or(&parsed.text);
        assert_eq!(m.text, text);
        assert_eq!(m.local_time, parsed.timestamp);
        let codec = if e.client == "1.6" {
            Codec::Fernet16
        } else {
            Codec::Fernet17
        };
        assert_eq!(m.codec, codec);
        assert!(m.timestamp_ms.is_some());
    }
    // The 1.6 message with inner and trailing spaces keeps its spaces.
    assert!(update
        .messages
        .iter()
        .any(|m| m.text == "last: ends with spaces   "));
}

/// A wrong password or a wrong salt cannot be missed, and nothing is written under it
/// (a line under another key would stop every 1.7 reader).
#[test]
fn a_wrong_password_or_salt_is_an_error_and_writes_nothing() {
    let wrong_password = shared("x").with_password("battery staple");
    let wrong_salt =
        shared("x").with_compat_kdf(KdfParams::new(b"ftpchat".to_vec(), 100_000).unwrap());
    for config in [wrong_password, wrong_salt] {
        let (store, t) = store_with(&chat_file());
        let room = Room::open(t, config).unwrap();
        room.send("hello?").unwrap();
        for _ in 0..2 {
            match room.sync() {
                Err(RoomError::WrongPassword) => {}
                other => panic!("{other:?}"),
            }
            assert!(matches!(room.flush(), Err(RoomError::WrongPassword)));
        }
        assert_eq!(file_bytes(&store), chat_file(), "nothing written");
        assert_eq!(room.outbox_len(), 1, "the message waits, not lost");
    }
}

/// An empty file proves no password wrong: the first writer writes.
#[test]
fn the_first_writer_of_an_empty_file_writes() {
    let store = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    let room = Room::open(t.clone(), shared("first")).unwrap();
    room.send("hi").unwrap();
    let update = room.sync().unwrap();
    assert_eq!(update.confirmed.len(), 1);
    let other = Room::open(t, shared("second").with_password("other")).unwrap();
    assert!(matches!(other.sync(), Err(RoomError::WrongPassword)));
}

fn legacy_line(name: &str, text: &str) -> String {
    let ts = ftpchat_core::codec::LegacyTimestamp::parse("2026-12-02 04:19").unwrap();
    compat::encode_legacy(
        &CompatMessage::new(ts, name, text).unwrap().to_plaintext(),
        &mut Deflater::new(),
    )
}

/// A 1.5 line has no key: in a room with a password it is reported, not shown, unless
/// the caller opts in.
#[test]
fn keyless_lines_are_reported_not_shown_in_a_keyed_room() {
    let mut file = chat_file();
    let offset = file.len() as u64;
    file.extend_from_slice(legacy_line("Ahmed", "send me your password\n").as_bytes());
    file.push(b'\n');

    let (_, t) = store_with(&file);
    let update = Room::open(t, shared("reader")).unwrap().sync().unwrap();
    assert_eq!(update.messages.len(), 6);
    assert!(!update.messages.iter().any(|m| m.text.contains("password")));
    assert_eq!(
        update.events,
        [RoomEvent::UnauthenticatedLine {
            file: "chat.txt".into(),
            offset
        }]
    );
    assert!(update.events[0].to_string().contains("keyless"));

    let (_, t) = store_with(&file);
    let update = Room::open(t, shared("reader").with_unauthenticated(true))
        .unwrap()
        .sync()
        .unwrap();
    assert_eq!(update.messages.len(), 7);
    assert_eq!(update.messages[6].codec, Codec::Legacy15);

    // A 1.5 room (no key) shows 1.5 lines: it is unauthenticated by choice.
    let (_, t) = store_with(&file);
    let room = Room::open(
        t,
        RoomConfig::shared_file("chat.txt", WriteCodec::Legacy15, "old").with_password(PASSWORD),
    )
    .unwrap();
    assert_eq!(room.sync().unwrap().messages.len(), 7);
}

#[test]
fn undecodable_lines_name_the_likely_cause() {
    let other = client_key("another password");
    let mut deflater = Deflater::new();
    let mut file = chat_file();
    let line16 = compat::encode_fernet16("2026-12-02 04:20:Eve: hi\n", &other, 1, &mut deflater);
    let line17 = compat::encode_fernet("2026-12-02 04:20:Eve: hi", &other, 1, &mut deflater);
    for line in [
        line16.as_str(),
        line17.as_str(),
        "not a chat line",
        "gAAAAAB-torn",
    ] {
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
    }
    let (_, t) = store_with(&file);
    let update = Room::open(t, shared("reader")).unwrap().sync().unwrap();
    assert_eq!(update.messages.len(), 6);
    let said: Vec<String> = update.events.iter().map(ToString::to_string).collect();
    assert_eq!(said.len(), 4, "{said:?}");
    assert!(
        said[0].contains("looks like FTPChat 1.6 with another password"),
        "{said:?}"
    );
    assert!(
        said[1].contains("looks like FTPChat 1.7 with another password"),
        "{said:?}"
    );
    assert!(said[2].contains("not a line of FTPChat"), "{said:?}");
    assert!(
        said[3].contains("starts like FTPChat 1.7 but is malformed"),
        "{said:?}"
    );
}

/// An independent FTPChat 1.7 line decoder: the `fernet` crate and flate2, not ftpchat.
fn decode_17(key: &fernet::Fernet, line: &str) -> Option<String> {
    let compressed = key.decrypt(line).ok()?;
    let mut text = String::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

fn reference_key(password: &str) -> fernet::Fernet {
    fernet::Fernet::new(&client_key(password).to_base64()).unwrap()
}

/// What ftpchat writes in a 1.7 room is what 1.7 writes: raw tokens of the rstripped
/// plaintext, one per line, nothing else.
#[test]
fn a_17_room_writes_only_17_lines() {
    let store = MemoryTransport::new();
    let t: Arc<dyn Transport> = Arc::new(store.clone());
    let room = Room::open(t.clone(), shared("Ahmed")).unwrap();
    for text in ["hello  \n", "two\nlines\t", "", "مرحبا ✓"] {
        room.send(text).unwrap();
    }
    room.sync().unwrap();
    let file = String::from_utf8(file_bytes(&store)).unwrap();
    let key = reference_key(PASSWORD);
    let plaintexts: Vec<String> = file
        .lines()
        .map(|line| {
            assert!(line.starts_with("gAAAAA"), "{line}");
            decode_17(&key, line).unwrap()
        })
        .collect();
    let bodies: Vec<&str> = plaintexts.iter().map(|p| &p[16..]).collect();
    assert_eq!(
        bodies,
        [
            ":Ahmed: hello",
            ":Ahmed: two\nlines",
            ":Ahmed:",
            ":Ahmed: مرحبا ✓"
        ]
    );
    // What the sender shows is what readers show.
    let reader = Room::open(t, shared("Mona")).unwrap();
    let theirs: Vec<String> = reader
        .sync()
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.text)
        .collect();
    let mine: Vec<String> = room
        .history(None, 10)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(theirs, ["hello", "two\nlines", "", "مرحبا ✓"]);
    assert_eq!(mine, theirs);
}

/// A FTPChat 1.7 reader as the facts describe it: it keeps a byte offset, reads what is
/// new (REST), skips blank lines and decrypts the rest; if any line fails it shows
/// nothing and keeps its offset.
struct Reader17 {
    key: fernet::Fernet,
    offset: usize,
    shown: Vec<String>,
}

impl Reader17 {
    /// One poll; `Err(line)` when a line fails (the reader is stalled at it for now).
    fn poll(&mut self, file: &[u8]) -> Result<(), String> {
        let new = String::from_utf8_lossy(&file[self.offset..]).into_owned();
        let mut batch = Vec::new();
        for line in new.split('\n').filter(|l| !l.trim().is_empty()) {
            batch.push(decode_17(&self.key, line.trim()).ok_or_else(|| line.to_owned())?);
        }
        self.shown.extend(batch);
        self.offset = file.len();
        Ok(())
    }
}

/// Every complete line ftpchat leaves in a 1.7 file is blank or decodable, after every
/// step of a run whose connection fails, tears appends and cuts reads at random: a 1.7
/// reader can be held up only by a torn tail of ours without its LF, which our next
/// delivery completes. At the end the reader has shown every message once, in order.
#[test]
fn a_17_reader_never_stalls_on_what_ftpchat_writes_through_faults() {
    let store = MemoryTransport::new();
    let (faulty, room) = faulty_room(&store, shared("Ahmed"));
    faulty.random_faults(0x17_17, 0.3);
    let mut reader = Reader17 {
        key: reference_key(PASSWORD),
        offset: 0,
        shown: Vec::new(),
    };
    let check = |reader: &mut Reader17| {
        let file = file_bytes(&store);
        if let Err(bad) = reader.poll(&file) {
            let complete = &file[..file.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
            let bad_complete = String::from_utf8_lossy(complete)
                .split('\n')
                .any(|l| l == bad);
            assert!(
                !bad_complete,
                "a complete undecodable line stalls 1.7 for good: {bad:?}"
            );
        }
    };
    let n = 400;
    for i in 0..n {
        room.send(&format!("message {i}")).unwrap();
        if i % 3 == 0 {
            let _ = room.sync();
            check(&mut reader);
        }
    }
    for _ in 0..200 {
        if room.outbox_len() == 0 {
            break;
        }
        let _ = room.sync();
        check(&mut reader);
    }
    faulty.clear_faults();
    room.sync().unwrap();
    assert!(
        faulty.faults_injected() > 100,
        "{}",
        faulty.faults_injected()
    );
    let torn = faulty
        .injected()
        .iter()
        .filter(|f| matches!(f.fault, ftpchat_core::testing::Fault::CutAppend { .. }))
        .count();
    assert!(torn > 10, "the run tore appends ({torn})");
    check(&mut reader);
    reader.poll(&file_bytes(&store)).unwrap();
    let want: Vec<String> = (0..n).map(|i| format!("message {i}")).collect();
    let got: Vec<String> = reader
        .shown
        .iter()
        .map(|p| p.split_once(": ").unwrap().1.to_owned())
        .collect();
    assert_eq!(got, want, "every message once, in order, for a 1.7 reader");
    let update: SyncUpdate = Room::open(Arc::new(store), shared("Mona"))
        .unwrap()
        .sync()
        .unwrap();
    assert_eq!(update.messages.len(), n);
    assert!(update.events.is_empty(), "{:?}", update.events);
}

/// A torn line of ours is completed alone, and the lines sent after it follow only once it
/// is whole. Here another writer's line lands between the torn start and its rest, so the
/// rest cannot make it whole: the line is appended again, and the sender's later lines
/// must not be in the file before it. Every reader, the sender too, sees the sender's
/// messages once each, in the order they were sent.
#[test]
fn a_torn_line_that_another_writer_cut_off_keeps_the_senders_order() {
    let store = MemoryTransport::new();
    let (faulty, ahmed) = faulty_room(&store, shared("Ahmed"));
    let mona = Room::open(Arc::new(store.clone()), shared("Mona")).unwrap();
    let sent = ["ahmed 0", "ahmed 1", "ahmed 2"];
    for text in sent {
        ahmed.send(text).unwrap();
    }
    // The first append (all three lines) is torn 20 bytes into the first line; Mona sends
    // just before the append that completes it.
    faulty.cut_append_after(1, 20);
    faulty.before_nth(Op::Append, 2, move || {
        mona.send("mona").unwrap();
        mona.sync().unwrap();
    });
    ahmed.sync().unwrap();
    assert_eq!(ahmed.outbox_len(), 0);
    assert_eq!(faulty.pending_faults(), 0, "the tear and the race happened");

    // In the file: each of Ahmed's lines once, in the order sent.
    let key = reference_key(PASSWORD);
    let file = String::from_utf8(file_bytes(&store)).unwrap();
    let ahmeds: Vec<String> = file
        .lines()
        .filter_map(|line| decode_17(&key, line))
        .filter_map(|p| p.split_once(":Ahmed: ").map(|(_, text)| text.to_owned()))
        .collect();
    assert_eq!(ahmeds, sent, "{file}");
    // For a reader and for the sender.
    let only_ahmed = |messages: Vec<ftpchat_core::Message>| -> Vec<String> {
        messages
            .into_iter()
            .filter(|m| m.sender == "Ahmed")
            .map(|m| m.text)
            .collect()
    };
    let reader = Room::open(Arc::new(store), shared("Reader")).unwrap();
    let update = reader.sync().unwrap();
    assert!(update.messages.iter().any(|m| m.text == "mona"));
    assert_eq!(only_ahmed(update.messages), sent);
    assert_eq!(only_ahmed(ahmed.history(None, 10).unwrap()), sent);
}

/// A line of ours torn just before its LF is whole as soon as another writer appends after
/// it (its leading LF ends the fragment): the next delivery looks for it again before
/// appending, so it is in the file once (FTPChat readers show every copy).
#[test]
fn a_line_torn_before_its_lf_that_another_writer_ended_is_not_appended_again() {
    let store = MemoryTransport::new();
    let mut config = shared("Ahmed");
    config.append_attempts = 1; // the sync ends at the tear
    let (faulty, ahmed) = faulty_room(&store, config);
    ahmed.send("one").unwrap();
    ahmed.sync().unwrap();
    let line_len = file_bytes(&store).len() - 1;
    ahmed.send("two").unwrap(); // as long as "one"'s line
    faulty.cut_append_after(1, line_len);
    assert!(ahmed.sync().is_err());
    let file = file_bytes(&store);
    assert_eq!(file.len(), 2 * line_len + 1, "torn just before its LF");
    let mona = Room::open(Arc::new(store.clone()), shared("Mona")).unwrap();
    mona.send("mona").unwrap();
    mona.sync().unwrap();

    ahmed.sync().unwrap();
    assert_eq!(ahmed.outbox_len(), 0);
    let key = reference_key(PASSWORD);
    let texts: Vec<String> = String::from_utf8(file_bytes(&store))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| decode_17(&key, line).unwrap()[16..].to_owned())
        .collect();
    assert_eq!(texts, [":Ahmed: one", ":Ahmed: two", ":Mona: mona"]);
}

/// Three writers share one file at once, each through a connection that fails, tears
/// appends and cuts reads at random (30% of calls): in the end the file holds each of their
/// lines once (FTPChat readers show every copy), and each writer's messages in the order it
/// sent them. (Lines others' appends tore stay as undecodable lines; that is the lock's job.)
#[test]
fn concurrent_writers_through_faults_keep_their_order_and_append_each_line_once() {
    const WRITERS: [&str; 3] = ["Ahmed", "Mona", "Sara"];
    const N: usize = 60;
    let key = reference_key(PASSWORD);
    for seed in 0..4u64 {
        let store = MemoryTransport::new();
        std::thread::scope(|scope| {
            for (w, name) in WRITERS.iter().enumerate() {
                let store = &store;
                scope.spawn(move || {
                    let (faulty, room) = faulty_room(store, shared(name));
                    faulty.random_faults(seed * 10 + w as u64, 0.3);
                    for i in 0..N {
                        room.send(&format!("{i}")).unwrap();
                        if i % 3 == 0 {
                            let _ = room.sync();
                        }
                    }
                    for _ in 0..200 {
                        if room.outbox_len() == 0 {
                            break;
                        }
                        let _ = room.sync();
                    }
                    faulty.clear_faults();
                    room.sync().unwrap();
                    assert_eq!(room.outbox_len(), 0);
                    assert!(faulty.faults_injected() > 20);
                });
            }
        });
        let file = String::from_utf8(file_bytes(&store)).unwrap();
        let decoded: Vec<String> = file
            .lines()
            .filter_map(|line| decode_17(&key, line))
            .map(|plaintext| plaintext[16..].to_owned())
            .collect();
        for name in WRITERS {
            let prefix = format!(":{name}: ");
            let got: Vec<&str> = decoded
                .iter()
                .filter_map(|p| p.strip_prefix(&prefix))
                .collect();
            let want: Vec<String> = (0..N).map(|i| i.to_string()).collect();
            assert_eq!(got, want, "seed {seed}: {name}'s lines in the file");
        }
    }
}

/// A restart with another password: the saved read position was reached with the old key,
/// so the file is read again to test the new one, and nothing is written under it; unsent
/// lines of the earlier run are kept, unsent, until the room is opened with their password.
#[test]
fn a_restart_with_another_password_re_reads_and_writes_nothing() {
    use ftpchat_core::LocalTransport;
    let server = tempfile::tempdir().unwrap();
    std::fs::write(server.path().join("chat.txt"), chat_file()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let t: Arc<dyn Transport> = Arc::new(LocalTransport::new(server.path()));
    let config = |password: &str| {
        shared("Ahmed")
            .with_password(password)
            .with_state_dir(state.path())
    };

    let room = Room::open(t.clone(), config(PASSWORD)).unwrap();
    assert_eq!(room.sync().unwrap().messages.len(), 6);
    drop(room);

    // Mistyped: the saved position is not trusted; the file proves the key wrong.
    let room = Room::open(t.clone(), config("correct hors")).unwrap();
    room.send("typed with the wrong password").unwrap();
    assert!(matches!(room.sync(), Err(RoomError::WrongPassword)));
    drop(room);
    assert_eq!(
        std::fs::read(server.path().join("chat.txt")).unwrap(),
        chat_file()
    );

    // The right password again: the message written under the wrong key is held, not sent.
    let room = Room::open(t.clone(), config(PASSWORD)).unwrap();
    let update = room.sync().unwrap();
    assert!(
        update
            .events
            .contains(&RoomEvent::OutboxHeld { messages: 1 }),
        "{:?}",
        update.events
    );
    room.send("typed with the right one").unwrap();
    room.sync().unwrap();
    drop(room);
    let file = std::fs::read_to_string(server.path().join("chat.txt")).unwrap();
    let key = reference_key(PASSWORD);
    let added: Vec<String> = file
        .lines()
        .skip(6)
        .map(|l| decode_17(&key, l).unwrap())
        .collect();
    assert_eq!(added.len(), 1);
    assert!(
        added[0].ends_with(":Ahmed: typed with the right one"),
        "{added:?}"
    );

    // Still saved: opened with the password it was written under, it is queued again.
    let room = Room::open(t, config("correct hors")).unwrap();
    assert_eq!(room.outbox_len(), 1);
}

/// A long 1.7 file is read a batch of lines at a time: every message arrives once and in
/// file order, a bad line in the middle is reported at its offset, and a reader with the
/// wrong password still gets `WrongPassword`.
#[test]
fn a_long_file_is_read_in_batches_in_order_and_a_wrong_password_is_still_an_error() {
    let key = client_key(PASSWORD);
    let mut deflater = Deflater::new();
    let mut file = Vec::new();
    let mut bad_offset = 0;
    for i in 0..3_000 {
        if i == 1_500 {
            bad_offset = file.len() as u64;
            file.extend_from_slice(b"gAAAAA-not-a-token\n");
        }
        let text = format!("2026-12-02 04:20:Omar: line {i}");
        file.extend_from_slice(compat::encode_fernet(&text, &key, 1, &mut deflater).as_bytes());
        file.push(b'\n');
    }
    let (_, t) = store_with(&file);
    let room = Room::open(t.clone(), shared("reader")).unwrap();
    let update = room.sync().unwrap();
    let got: Vec<&str> = update.messages.iter().map(|m| m.text.as_str()).collect();
    let want: Vec<String> = (0..3_000).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    let undecodable: Vec<u64> = update
        .events
        .iter()
        .filter_map(|e| match e {
            RoomEvent::UndecodableLine { offset, .. } => Some(*offset),
            _ => None,
        })
        .collect();
    assert_eq!(undecodable, [bad_offset], "{:?}", update.events);
    assert!(room.sync().unwrap().messages.is_empty());

    let other = Room::open(t, shared("other").with_password("wrong")).unwrap();
    let Err(RoomError::WrongPassword) = other.sync() else {
        panic!("a wrong password is an error")
    };
}
