//! Tests of the local store: encoding, round trips, paging against `Timeline`, search,
//! hostile queries, rooms, damaged and newer files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::encode::{decode_key, encode_key};
use super::{page_sql, search_rows, LocalStore, StoreError, SEARCH_SQL};
use crate::crypto::BlobKey;
use crate::format::{AttachmentBody, Codec, Hlc, LegacyTimestamp, WriterId};
use crate::group::MemberId;
use crate::timeline::{Attachment, Message, MessageId, MessageStatus, Reaction, SortKey, Timeline};

/// xorshift64*: test data that is the same on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next().to_le_bytes());
        out[8..].copy_from_slice(&self.next().to_le_bytes());
        out
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

fn temp_store() -> (tempfile::TempDir, PathBuf, LocalStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    let store = LocalStore::open(&path).unwrap();
    (dir, path, store)
}

fn native_key(hlc: u64, writer: u8, seq: u64, id: MessageId) -> SortKey {
    SortKey::Native {
        hlc: Hlc(hlc),
        writer: WriterId([writer; 16]),
        seq,
        id,
    }
}

fn text_message(id: MessageId, text: &str) -> Message {
    Message::new(id, "Alice", text, Codec::Native)
}

/// A message with every field set to something other than its default.
fn full_message() -> Message {
    let mut m = Message::new(
        MessageId([0xa5; 16]),
        "Ålice \u{1F600}",
        "caption with\0a NUL, \"quotes\" and 'ticks'",
        Codec::Fernet16,
    );
    m.timestamp_ms = Some(u64::MAX - 3);
    m.local_time = Some(LegacyTimestamp {
        year: 2026,
        month: 12,
        day: 5,
        hour: 23,
        minute: 59,
    });
    m.status = MessageStatus::Pending;
    m.is_own = true;
    m.signer = Some("ab12 cd34 ef56".into());
    m.edited = true;
    m.reactions = vec![
        Reaction {
            reaction: "👍".into(),
            senders: vec!["Bob".into(), "Carol".into()],
            own: true,
        },
        Reaction {
            reaction: "🎉".into(),
            senders: vec!["Dave".into()],
            own: false,
        },
    ];
    m.private = Some(MemberId([7; 16]));
    m.attachment = Some(Attachment::new(AttachmentBody {
        name: "report-2026.pdf".into(),
        size: 123_456,
        media_type: "application/pdf".into(),
        path: format!("files/{}", "0f".repeat(16)),
        sha256: [3; 32],
        key: BlobKey::from_bytes([0x42; 32]),
        caption: "caption".into(),
    }));
    m
}

fn ids(messages: &[Message]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

// --- sort key encoding ---

fn arb_key() -> impl Strategy<Value = SortKey> {
    // Small ranges as well as full ones, so that keys often tie on their first fields.
    let small_id = (0u8..3).prop_map(|b| [b; 16]);
    let id = prop_oneof![small_id.clone(), any::<[u8; 16]>()];
    let native = (
        prop_oneof![0u64..3, any::<u64>()],
        id.clone(),
        prop_oneof![0u64..3, any::<u64>()],
        id,
    )
        .prop_map(|(hlc, writer, seq, id)| SortKey::Native {
            hlc: Hlc(hlc),
            writer: WriterId(writer),
            seq,
            id: MessageId(id),
        });
    let file = (
        prop_oneof![0u8..2, any::<u8>()],
        prop_oneof![0u64..3, any::<u64>()],
    )
        .prop_map(|(pending, order)| SortKey::File { pending, order });
    prop_oneof![native, file]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn key_bytes_order_is_sort_key_order(a in arb_key(), b in arb_key()) {
        let (ea, eb) = (encode_key(&a), encode_key(&b));
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        prop_assert_eq!(decode_key(&ea), Some(a));
    }
}

#[test]
fn many_random_keys_sort_alike() {
    let mut rng = Rng::new(7);
    let mut keys: Vec<SortKey> = (0..5000)
        .map(|_| match rng.below(3) {
            0 => SortKey::File {
                pending: rng.below(2) as u8,
                order: rng.below(50),
            },
            _ => SortKey::Native {
                hlc: Hlc(rng.below(20) << 40),
                writer: WriterId([rng.below(3) as u8; 16]),
                seq: rng.below(5),
                id: MessageId(rng.bytes16()),
            },
        })
        .collect();
    let mut by_bytes = keys.clone();
    keys.sort();
    by_bytes.sort_by_key(encode_key);
    assert_eq!(keys, by_bytes);
    assert_eq!(decode_key(&[]), None);
    assert_eq!(decode_key(&[0, 1, 2]), None);
    assert_eq!(decode_key(&[2; 10]), None);
}

// --- round trips ---

#[test]
fn every_field_round_trips_and_survives_a_reopen() {
    let (_dir, path, store) = temp_store();
    let full = full_message();
    let plain = text_message(MessageId([1; 16]), "");
    let key_full = SortKey::File {
        pending: 1,
        order: u64::MAX,
    };
    let key_plain = SortKey::File {
        pending: 0,
        order: 0,
    };
    let stored = store
        .put_messages(
            "room",
            &[(key_full, full.clone()), (key_plain, plain.clone())],
        )
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(store.get("room", &full.id).unwrap().as_ref(), Some(&full));
    assert_eq!(store.get("room", &plain.id).unwrap().as_ref(), Some(&plain));
    let got = store.get("room", &full.id).unwrap().unwrap();
    let attachment = got.attachment.as_ref().unwrap();
    assert_eq!(
        attachment.body().key.as_bytes(),
        &[0x42; 32],
        "the key is kept"
    );
    assert_eq!(store.key_of("room", &full.id).unwrap(), Some(key_full));
    assert_eq!(
        store.page("room", None, 10).unwrap(),
        vec![plain.clone(), full.clone()]
    );
    store.close().unwrap();

    let store = LocalStore::open(&path).unwrap();
    assert_eq!(store.count("room").unwrap(), 2);
    assert_eq!(store.page("room", None, 10).unwrap(), vec![plain, full]);
    assert_eq!(store.search("room", "report", None, 10).unwrap().len(), 1);
}

#[test]
fn every_codec_and_status_round_trips() {
    let (_dir, _path, store) = temp_store();
    let mut batch = Vec::new();
    for (i, codec) in [
        Codec::Legacy15,
        Codec::Fernet16,
        Codec::Fernet17,
        Codec::Native,
    ]
    .into_iter()
    .enumerate()
    {
        for status in [MessageStatus::Pending, MessageStatus::Confirmed] {
            let id = MessageId([batch.len() as u8; 16]);
            let mut m = Message::new(id, "s", format!("codec {i}"), codec);
            m.status = status;
            m.timestamp_ms = Some(batch.len() as u64);
            batch.push((native_key(batch.len() as u64, 0, 0, id), m));
        }
    }
    store.put_messages("r", &batch).unwrap();
    let page = store.page("r", None, 100).unwrap();
    assert_eq!(page, batch.into_iter().map(|(_, m)| m).collect::<Vec<_>>());
}

#[test]
fn a_changed_message_replaces_the_stored_one() {
    let (_dir, _path, store) = temp_store();
    let id = MessageId([1; 16]);
    let key = native_key(1, 1, 1, id);
    store
        .put_messages("r", &[(key, text_message(id, "alpha text"))])
        .unwrap();
    let mut edited = text_message(id, "beta text");
    edited.edited = true;
    edited.reactions = vec![Reaction {
        reaction: "+1".into(),
        senders: vec!["Bob".into()],
        own: false,
    }];
    store.put_messages("r", &[(key, edited.clone())]).unwrap();
    assert_eq!(store.get("r", &id).unwrap(), Some(edited));
    assert!(store.search("r", "alpha", None, 10).unwrap().is_empty());
    assert_eq!(ids(&store.search("r", "beta", None, 10).unwrap()), [id]);
    assert_eq!(store.count("r").unwrap(), 1);
    // The full-text index agrees with the rows (batched inserts, per-row updates).
    store.check().unwrap();
}

#[test]
fn a_message_moves_with_its_key_and_the_later_copy_counts() {
    let (_dir, _path, store) = temp_store();
    let (a, b) = (MessageId([1; 16]), MessageId([2; 16]));
    let pending = |order| SortKey::File { pending: 1, order };
    let confirmed = |order| SortKey::File { pending: 0, order };
    let mut mine = text_message(a, "mine");
    mine.status = MessageStatus::Pending;
    store
        .put_messages(
            "r",
            &[
                (pending(1), mine.clone()),
                (confirmed(1), text_message(b, "theirs")),
            ],
        )
        .unwrap();
    assert_eq!(ids(&store.page("r", None, 10).unwrap()), [b, a]);
    // Confirmed after b: it moves; given twice in one batch, the later copy counts.
    let mut sent = mine.clone();
    sent.status = MessageStatus::Confirmed;
    store
        .put_messages("r", &[(confirmed(0), mine), (confirmed(2), sent.clone())])
        .unwrap();
    assert_eq!(ids(&store.page("r", None, 10).unwrap()), [b, a]);
    assert_eq!(store.key_of("r", &a).unwrap(), Some(confirmed(2)));
    assert_eq!(store.get("r", &a).unwrap(), Some(sent));
    assert_eq!(store.count("r").unwrap(), 2);
    assert_eq!(ids(&store.search("r", "mine", None, 10).unwrap()), [a]);
    // Another message at a taken place is not stored: the first one stays.
    let c = MessageId([3; 16]);
    assert_eq!(
        store
            .put_messages("r", &[(confirmed(1), text_message(c, "intruder"))])
            .unwrap(),
        0
    );
    assert_eq!(store.get("r", &c).unwrap(), None);
    assert_eq!(store.count("r").unwrap(), 2);
    // The full-text index agrees with the rows (a moved row deleted, then indexed anew).
    store.check().unwrap();
}

#[test]
fn a_deleted_message_keeps_no_text_in_the_file() {
    let (_dir, path, store) = temp_store();
    let id = MessageId([9; 16]);
    let key = native_key(5, 1, 1, id);
    let mut secret = full_message();
    secret.id = id;
    secret.text = "zanzibarquux is the password".into();
    store.put_messages("r", &[(key, secret.clone())]).unwrap();
    // Other messages around it, so the index has more than the secret's words.
    let others: Vec<_> = (0..200u64)
        .map(|i| {
            let id = MessageId([i as u8; 16]);
            (
                native_key(10 + i, 2, i, id),
                text_message(id, &format!("ordinary words {i}")),
            )
        })
        .filter(|(_, m)| m.id.0[0] != 9)
        .collect();
    store.put_messages("r", &others).unwrap();
    store.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(contains(&bytes, b"zanzibarquux"), "the test sees the text");

    let store = LocalStore::open(&path).unwrap();
    // The sender's client shows a delete with the text still in the given message: the
    // store keeps none of it.
    let mut deleted = secret;
    deleted.deleted = true;
    store.put_messages("r", &[(key, deleted)]).unwrap();
    let got = store.get("r", &id).unwrap().unwrap();
    assert!(got.deleted && got.text.is_empty() && got.reactions.is_empty());
    assert!(got.attachment.is_none() && !got.edited);
    assert_eq!(got.sender, "Ålice \u{1F600}");
    assert!(store
        .search("r", "zanzibarquux", None, 10)
        .unwrap()
        .is_empty());
    assert!(store.search("r", "report", None, 10).unwrap().is_empty());
    assert_eq!(store.search("r", "ordinary", None, 500).unwrap().len(), 199);
    store.check().unwrap();
    store.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(
        !contains(&bytes, b"zanzibarquux"),
        "deleted text left in the file"
    );
    assert!(
        !contains(&bytes, b"report-2026"),
        "deleted file name left in the file"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// --- paging ---

/// Messages with native keys that often tie on HLC and writer, in a random order.
fn random_native(rng: &mut Rng, n: usize) -> Vec<(SortKey, Message)> {
    (0..n)
        .map(|i| {
            let id = MessageId(rng.bytes16());
            let key = native_key(rng.below(40), rng.below(3) as u8, rng.below(4), id);
            (key, text_message(id, &format!("message {i}")))
        })
        .collect()
}

#[test]
fn pages_equal_timeline_pages() {
    let mut rng = Rng::new(1);
    let (_dir, _path, store) = temp_store();
    let mut messages = random_native(&mut rng, 400);
    // Shared-file keys in a second room.
    let file: Vec<(SortKey, Message)> = (0..150u64)
        .map(|i| {
            let id = MessageId(rng.bytes16());
            let key = SortKey::File {
                pending: u8::from(i % 7 == 0),
                order: rng.below(1000) * 1000 + i,
            };
            (key, text_message(id, "f"))
        })
        .collect();
    for (room, all) in [("native", &mut messages), ("file", &mut file.clone())] {
        let mut timeline = Timeline::new();
        for (k, m) in all.iter() {
            timeline.insert(*k, m.clone());
        }
        // Stored in batches of varying size, in random order.
        rng.shuffle(all);
        let mut rest = &all[..];
        while !rest.is_empty() {
            let take = (rng.below(60) as usize + 1).min(rest.len());
            store.put_messages(room, &rest[..take]).unwrap();
            rest = &rest[take..];
        }
        assert_eq!(store.count(room).unwrap(), timeline.len() as u64);
        let ordered: Vec<MessageId> = timeline.iter().map(|m| m.id).collect();
        let mut befores: Vec<Option<MessageId>> = vec![None, Some(MessageId([0xee; 16]))];
        for i in [0, 1, 2, 49, 50, 51, ordered.len() / 2, ordered.len() - 1] {
            befores.push(Some(ordered[i]));
        }
        for before in &befores {
            for limit in [0, 1, 7, 50, 1000] {
                assert_eq!(
                    store.page(room, before.as_ref(), limit).unwrap(),
                    timeline.page(before.as_ref(), limit),
                    "room {room}, before {before:?}, limit {limit}"
                );
            }
        }
        // Paging back from the newest reaches every message once, in order.
        let mut seen = Vec::new();
        let mut page = store.page(room, None, 33).unwrap();
        while !page.is_empty() {
            let first = page[0].id;
            seen.splice(0..0, ids(&page));
            page = store.page(room, Some(&first), 33).unwrap();
        }
        assert_eq!(seen, ordered);
    }
}

// --- search ---

const WORDS: &[&str] = &[
    "apple", "banana", "cherry", "grape", "lemon", "mango", "olive", "peach", "plum", "kiwi",
];

/// The messages a search for `word` must find, newest first.
fn expected(model: &HashMap<MessageId, (SortKey, Message)>, word: &str) -> Vec<MessageId> {
    let mut found: Vec<&(SortKey, Message)> = model
        .values()
        .filter(|(_, m)| !m.deleted && m.text.split(' ').any(|w| w.starts_with(word)))
        .collect();
    found.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
    found.iter().map(|(_, m)| m.id).collect()
}

/// Every page of a search, following `before`.
fn search_all(store: &LocalStore, room: &str, word: &str, limit: usize) -> Vec<MessageId> {
    let mut all = Vec::new();
    let mut before = None;
    loop {
        let page = store.search(room, word, before.as_ref(), limit).unwrap();
        assert!(page.len() <= limit);
        if page.is_empty() {
            return all;
        }
        before = page.last().map(|m| m.id);
        all.extend(ids(&page));
    }
}

#[test]
fn search_is_newest_first_and_pages_whatever_the_arrival_order() {
    for seed in 1..=6 {
        let mut rng = Rng::new(seed);
        let (_dir, _path, store) = temp_store();
        let mut model: HashMap<MessageId, (SortKey, Message)> = HashMap::new();
        let mut hlc = 1_000u64;
        for round in 0..12 {
            // Mostly new messages, some far in the past (a late log), some moved (a
            // confirmation), some edited or deleted.
            let mut batch = Vec::new();
            for _ in 0..rng.below(80) {
                let id = MessageId(rng.bytes16());
                hlc += rng.below(3);
                let at = if rng.below(5) == 0 {
                    rng.below(hlc)
                } else {
                    hlc
                };
                let text: Vec<&str> = (0..1 + rng.below(4))
                    .map(|_| WORDS[rng.below(WORDS.len() as u64) as usize])
                    .collect();
                batch.push((
                    native_key(at, 1, round, id),
                    text_message(id, &text.join(" ")),
                ));
            }
            let known: Vec<MessageId> = model.keys().copied().collect();
            for _ in 0..rng.below(8).min(known.len() as u64) {
                let id = known[rng.below(known.len() as u64) as usize];
                let (key, mut m) = model[&id].clone();
                match rng.below(3) {
                    0 => batch.push((native_key(rng.below(hlc + 50), 1, 99, id), m)),
                    1 => {
                        m.text = "edited lemon".into();
                        batch.push((key, m));
                    }
                    _ => {
                        m.deleted = true;
                        m.text.clear();
                        batch.push((key, m));
                    }
                }
            }
            rng.shuffle(&mut batch);
            store.put_messages("room", &batch).unwrap();
            for (k, m) in batch {
                model.insert(m.id, (k, m));
            }
        }
        for word in ["apple", "lemon", "pl", "kiwi", "banana cherry"] {
            let want: Vec<MessageId> = if word.contains(' ') {
                let (a, b) = (expected(&model, "banana"), expected(&model, "cherry"));
                a.into_iter().filter(|id| b.contains(id)).collect()
            } else {
                expected(&model, word)
            };
            for limit in [1, 5, 50] {
                assert_eq!(
                    search_all(&store, "room", word, limit),
                    want,
                    "seed {seed}, {word:?}, limit {limit}"
                );
            }
            let first = store.search("room", word, None, 10).unwrap();
            assert_eq!(ids(&first), want[..want.len().min(10)]);
        }
    }
}

#[test]
fn search_folds_case_and_accents_and_reads_file_names() {
    let (_dir, _path, store) = temp_store();
    let a = MessageId([1; 16]);
    let mut with_file = full_message();
    with_file.id = MessageId([2; 16]);
    with_file.text = "see attached".into();
    store
        .put_messages(
            "r",
            &[
                (
                    native_key(1, 0, 0, a),
                    text_message(a, "Rendez-vous au CAFÉ, déjà vu"),
                ),
                (native_key(2, 0, 0, with_file.id), with_file.clone()),
            ],
        )
        .unwrap();
    for q in ["cafe", "Café", "CAF", "deja", "rendez vous", "VU"] {
        assert_eq!(ids(&store.search("r", q, None, 10).unwrap()), [a], "{q}");
    }
    assert_eq!(
        ids(&store.search("r", "report 2026", None, 10).unwrap()),
        [with_file.id]
    );
    assert!(store
        .search("r", "cafe attached", None, 10)
        .unwrap()
        .is_empty());
    assert!(store.search("r", "", None, 10).unwrap().is_empty());
    assert!(store.search("r", "cafe", None, 0).unwrap().is_empty());
    assert!(store
        .search("r", "cafe", Some(&MessageId([0xee; 16])), 10)
        .unwrap()
        .is_empty());
    assert!(store
        .search("nowhere", "cafe", None, 10)
        .unwrap()
        .is_empty());
}

#[test]
fn hostile_queries_are_words() {
    let (_dir, _path, store) = temp_store();
    let texts = [
        "we are NEAR the end",
        "say \"quoted\" words",
        "minus -sign and star* here",
        "AND OR NOT are words too",
        "text:colon and ^caret",
    ];
    let batch: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let id = MessageId([i as u8; 16]);
            (native_key(i as u64, 0, 0, id), text_message(id, t))
        })
        .collect();
    store.put_messages("r", &batch).unwrap();
    let hostile = [
        "\"",
        "\"\"",
        "\"unterminated",
        "*",
        "**",
        "a*b",
        "NEAR",
        "NEAR(",
        "NEAR(a b, 2)",
        "near/3",
        "-",
        "-minus",
        "foo - bar",
        "AND",
        "OR NOT",
        "NOT",
        "text:",
        "text:colon",
        "{text file_name}: x",
        "^caret",
        "(",
        ")",
        "+",
        "'",
        "\\",
        "\0",
        "a\0b",
        "😀",
        "💥 NEAR 💥",
        "x OR y AND NOT z",
        "\"a\" OR \"b\"",
        "col:\"x\"*",
        "rank:1",
        "rowid=1",
        "; DROP TABLE messages; --",
        "' OR 1=1 --",
        "𝓊𝓃𝒾𝒸𝑜𝒹𝑒",
    ];
    for q in hostile {
        store
            .search("r", q, None, 10)
            .unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    let long = "word ".repeat(2000);
    store.search("r", &long, None, 10).unwrap();
    let find = |q: &str| ids(&store.search("r", q, None, 10).unwrap());
    assert_eq!(find("NEAR"), [MessageId([0; 16])]);
    assert_eq!(find("\"quoted\""), [MessageId([1; 16])]);
    assert_eq!(find("-sign"), [MessageId([2; 16])]);
    assert_eq!(find("star*"), [MessageId([2; 16])]);
    assert_eq!(find("OR NOT"), [MessageId([3; 16])]);
    assert_eq!(find("text:colon"), [MessageId([4; 16])]);
    assert_eq!(find("^caret"), [MessageId([4; 16])]);
    assert_eq!(store.count("r").unwrap(), 5, "the table is still there");
}

// --- rooms ---

#[test]
fn rooms_do_not_see_each_other() {
    let (_dir, _path, store) = temp_store();
    let id = MessageId([1; 16]);
    let key = native_key(1, 0, 0, id);
    // The same id and key in two rooms are two messages.
    store
        .put_messages("ftp://a/room", &[(key, text_message(id, "in room a"))])
        .unwrap();
    store
        .put_messages("ftp://b/room", &[(key, text_message(id, "in room b"))])
        .unwrap();
    let only_a = MessageId([2; 16]);
    store
        .put_messages(
            "ftp://a/room",
            &[(native_key(2, 0, 0, only_a), text_message(only_a, "alone"))],
        )
        .unwrap();
    assert_eq!(store.count("ftp://a/room").unwrap(), 2);
    assert_eq!(store.count("ftp://b/room").unwrap(), 1);
    assert_eq!(store.count("ftp://c/room").unwrap(), 0);
    assert_eq!(
        store.get("ftp://b/room", &id).unwrap().unwrap().text,
        "in room b"
    );
    assert_eq!(store.get("ftp://b/room", &only_a).unwrap(), None);
    assert_eq!(store.page("ftp://b/room", None, 10).unwrap().len(), 1);
    assert!(store
        .page("ftp://b/room", Some(&only_a), 10)
        .unwrap()
        .is_empty());
    assert!(store
        .search("ftp://b/room", "alone", None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.search("ftp://a/room", "room", None, 10).unwrap()[0].text,
        "in room a"
    );
    assert_eq!(store.key_of("ftp://c/room", &id).unwrap(), None);
    assert!(store.page("ftp://c/room", None, 10).unwrap().is_empty());
}

#[test]
fn the_store_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<LocalStore>();
    let (_dir, _path, store) = temp_store();
    let store = std::sync::Arc::new(store);
    let writers: Vec<_> = (0..4u8)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..25u64 {
                    let id = MessageId([w, i as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
                    store
                        .put_messages("r", &[(native_key(i, w, i, id), text_message(id, "hi"))])
                        .unwrap();
                    store.page("r", None, 10).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(store.count("r").unwrap(), 100);
}

// --- files: creation, damage, versions ---

fn fill(store: &LocalStore, n: u64) {
    let batch: Vec<_> = (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            let id = MessageId(id);
            (
                native_key(i, 1, i, id),
                text_message(id, &format!("message number {i} with some words in it")),
            )
        })
        .collect();
    store.put_messages("r", &batch).unwrap();
}

#[test]
fn a_new_store_has_the_current_schema_and_private_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join("nested")
        .join("folder")
        .join("store.sqlite");
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(store.path(), path);
    {
        let conn = store.lock();
        let pragma = |name: &str| -> i64 {
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(pragma("synchronous"), 2, "FULL");
        assert_eq!(pragma("secure_delete"), 1);
        assert_eq!(pragma("application_id"), super::schema::APPLICATION_ID);
    }
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, LocalStore::SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // An empty file (a store created but never written) opens as a new store.
    let empty = dir.path().join("empty.sqlite");
    std::fs::write(&empty, b"").unwrap();
    LocalStore::open(&empty).unwrap();
}

fn assert_corrupt(result: Result<impl std::fmt::Debug, StoreError>, path: &Path) {
    match result {
        Err(StoreError::Corrupt { path: p, detail }) => {
            assert_eq!(p, path);
            assert!(!detail.is_empty());
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn garbage_over_the_whole_file_is_corrupt_on_open() {
    let (_dir, path, store) = temp_store();
    fill(&store, 100);
    store.close().unwrap();
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    let mut rng = Rng::new(3);
    let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let err = LocalStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("LocalStore::remove"), "{err}");
    assert_corrupt(Err::<(), _>(err), &path);
    // The documented recovery.
    LocalStore::remove(&path).unwrap();
    let store = LocalStore::open(&path).unwrap();
    assert_eq!(store.count("r").unwrap(), 0);
}

#[test]
fn garbage_inside_the_file_is_corrupt_on_first_use() {
    let (_dir, path, store) = temp_store();
    fill(&store, 3000);
    store.close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "{}", bytes.len());
    // Keep page 1 (header and schema), overwrite everything after the first few pages.
    let mut rng = Rng::new(4);
    for b in &mut bytes[4 * 4096..] {
        *b = rng.next() as u8;
    }
    std::fs::write(&path, bytes).unwrap();
    let store = match LocalStore::open(&path) {
        Err(e) => return assert_corrupt(Err::<(), _>(e), &path),
        Ok(store) => store,
    };
    assert_corrupt(store.check(), &path);
    // Reads of damaged pages fail as corrupt too (or, for pages that still parse, return
    // something): never a panic, never another error.
    for result in [
        store.page("r", None, 50).map(|_| ()),
        store.search("r", "words", None, 50).map(|_| ()),
        store.count("r").map(|_| ()),
    ] {
        if let Err(e) = result {
            assert_corrupt(Err::<(), _>(e), &path);
        }
    }
}

#[test]
fn a_database_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    assert_corrupt(LocalStore::open(&path), &path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "application_id", 1234).unwrap();
    drop(conn);
    assert_corrupt(LocalStore::open(&path), &path);
}

#[test]
fn a_store_from_a_newer_ftpchat_is_refused_and_left_alone() {
    let (_dir, path, store) = temp_store();
    fill(&store, 10);
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", LocalStore::SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    match LocalStore::open(&path) {
        Err(StoreError::Newer {
            path: p,
            version,
            supported,
        }) => {
            assert_eq!(p, path);
            assert_eq!(version, LocalStore::SCHEMA_VERSION + 1);
            assert_eq!(supported, LocalStore::SCHEMA_VERSION);
        }
        other => panic!("expected Newer, got {other:?}"),
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, LocalStore::SCHEMA_VERSION + 1, "not downgraded");
    let count: i64 = conn
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 10, "nothing removed");
}

#[test]
fn a_value_the_store_never_writes_is_corrupt() {
    let (_dir, path, store) = temp_store();
    fill(&store, 3);
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE messages SET codec = 99 WHERE rowid = (SELECT min(n) FROM messages)",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE messages SET sort = x'07' WHERE n = (SELECT max(n) FROM messages)",
        [],
    )
    .unwrap();
    drop(conn);
    let store = LocalStore::open(&path).unwrap();
    assert_corrupt(store.page("r", None, 10), &path);
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&2u64.to_be_bytes());
    assert_corrupt(store.key_of("r", &MessageId(id)), &path);
}

#[test]
fn remove_deletes_the_store_and_its_companions() {
    let (dir, path, store) = temp_store();
    fill(&store, 5);
    // While open, the WAL and shared-memory files exist.
    let wal = dir.path().join("store.sqlite-wal");
    assert!(wal.exists());
    drop(store);
    std::fs::write(&wal, b"stale").unwrap();
    LocalStore::remove(&path).unwrap();
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    LocalStore::remove(&path).unwrap();
}

#[test]
fn queries_walk_indexes_without_sorting() {
    let (_dir, path, store) = temp_store();
    fill(&store, 100);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(params, |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    let search = plan(SEARCH_SQL, &[&"\"words\"", &0, &i64::MAX]);
    assert!(!search.contains("TEMP B-TREE"), "{search}");
    assert!(
        search.contains("SCAN messages_fts VIRTUAL TABLE"),
        "{search}"
    );
    assert!(search.contains("USING INTEGER PRIMARY KEY"), "{search}");
    let page = plan(&page_sql(), &[&1, &vec![0xffu8], &50]);
    assert!(!page.contains("TEMP B-TREE"), "{page}");
    assert!(page.contains("USING INDEX messages_by_sort"), "{page}");
}

#[test]
fn a_search_reads_about_as_many_rows_as_it_returns_when_messages_arrive_in_order() {
    let (_dir, path, store) = temp_store();
    // Every message has "words"; stored in 30 batches in order.
    for batch in 0..30u64 {
        let messages: Vec<_> = (batch * 100..(batch + 1) * 100)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&i.to_be_bytes());
                let id = MessageId(id);
                (
                    native_key(i, 1, i, id),
                    text_message(id, &format!("some words {i}")),
                )
            })
            .collect();
        store.put_messages("r", &messages).unwrap();
    }
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (rows, read) = search_rows(&conn, 1, "\"words\"*", &[0xff], 50).unwrap();
    assert_eq!(rows.len(), 50);
    assert!(read <= 51, "read {read} rows for 50");
    // Newest first.
    assert_eq!(rows[0] & ((1 << 40) - 1), 2999);
    // The worst order, history loaded backwards (the newest batch first): every match that
    // arrived after the newest message is read, and the result is the same.
    let (_dir2, path2, store) = temp_store();
    for batch in (0..30u64).rev() {
        let messages: Vec<_> = (batch * 100..(batch + 1) * 100)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&i.to_be_bytes());
                let id = MessageId(id);
                (
                    native_key(i, 1, i, id),
                    text_message(id, &format!("some words {i}")),
                )
            })
            .collect();
        store.put_messages("r", &messages).unwrap();
    }
    let newest = store.search("r", "words", None, 50).unwrap();
    assert_eq!(newest[0].text, "some words 2999");
    assert_eq!(newest[49].text, "some words 2950");
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path2).unwrap();
    let (rows, read) = search_rows(&conn, 1, "\"words\"*", &[0xff], 50).unwrap();
    assert_eq!(rows.len(), 50);
    assert!((2900..=3000).contains(&read), "read {read}");
}

/// A store of schema version 1 (before the author column) is migrated when opened: its
/// messages stay, without an author, and new ones keep theirs.
#[test]
fn a_version_1_store_is_migrated_and_keeps_its_messages() {
    use crate::timeline::Author;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(super::schema::V1).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = 1;
             INSERT INTO rooms(id, key, next_n) VALUES (1, 'room', 1);",
            super::schema::APPLICATION_ID
        ))
        .unwrap();
        let old = Message::new(MessageId([1; 16]), "Ann", "from version 1", Codec::Native);
        let key = encode_key(&native_key(1, 1, 1, old.id));
        conn.execute(
            "INSERT INTO messages(n, room, sort, id, sender, text, status, codec, own, edited,
                 deleted) VALUES (?1, 1, ?2, ?3, 'Ann', 'from version 1', 1, 2, 0, 0, 0)",
            rusqlite::params![1i64 << 40, key, old.id.0.to_vec()],
        )
        .unwrap();
    }
    let store = LocalStore::open(&path).unwrap();
    let page = store.page_authored("room", None, 10).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].0.text, "from version 1");
    assert_eq!(page[0].1, None, "no author before version 2");
    let new = Message::new(MessageId([2; 16]), "Bob", "from version 2", Codec::Native);
    let key = native_key(2, 2, 1, new.id);
    store
        .put_authored("room", &[(&key, &new, Some(Author([7; 16])))], 9)
        .unwrap();
    let found = store.search_authored("room", "version", None, 10).unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0.text, "from version 2");
    assert_eq!(found[0].1, Some(Author([7; 16])));
    // Version 3: the old row was stored by no run, the new one by run 9.
    assert!(!store.stored_in_run("room", &MessageId([1; 16]), 9).unwrap());
    assert!(store.stored_in_run("room", &new.id, 9).unwrap());
    store.check().unwrap();
    store.close().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, LocalStore::SCHEMA_VERSION);
    assert_eq!(version, 5);
    // Versions 4 and 5: the saved-state and membership tables exist, empty.
    let saved: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM room_state) + (SELECT count(*) FROM outbox)
                 + (SELECT count(*) FROM commits) + (SELECT count(*) FROM epoch_keys)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(saved, 0);
}

/// A room's state and outbox rows are saved with its messages in one transaction, read
/// back in `pos` order, and changed row by row.
#[test]
fn a_rooms_state_and_outbox_are_saved_with_its_messages() {
    use super::{OutboxRow, RoomSave};
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("store.sqlite")).unwrap();
    assert!(store.load_saved("room").unwrap().is_none());
    let row = |pos: i64, n: u8| OutboxRow {
        pos,
        id: MessageId([n; 16]),
        key: native_key(u64::from(n), 1, u64::from(n), MessageId([n; 16])),
        line: format!("line {n}"),
    };
    let m = Message::new(MessageId([9; 16]), "Ann", "hello", Codec::Native);
    let key = native_key(1, 1, 1, m.id);
    let added = [row(0, 1), row(1, 2), row(2, 3)];
    let save = RoomSave {
        state: Some("state one"),
        outbox_removed: &[],
        outbox_added: &added,
    };
    assert_eq!(
        store
            .put_and_save("room", &[(&key, &m, None)], 1, &save)
            .unwrap(),
        1
    );
    let (text, rows) = store.load_saved("room").unwrap().unwrap();
    assert_eq!(text, "state one");
    assert_eq!(rows, added);
    // Another room sees none of it.
    assert!(store.load_saved("other").unwrap().is_none());
    // The first delivered, one sent; the state unchanged (not written).
    let save = RoomSave {
        state: None,
        outbox_removed: &[0],
        outbox_added: &[row(3, 4)],
    };
    store.put_and_save("room", &[], 1, &save).unwrap();
    let (text, rows) = store.load_saved("room").unwrap().unwrap();
    assert_eq!(text, "state one");
    assert_eq!(rows, [row(1, 2), row(2, 3), row(3, 4)]);
    // A failed transaction (a position taken) changes nothing, messages included.
    let m2 = Message::new(MessageId([8; 16]), "Ann", "not stored", Codec::Native);
    let key2 = native_key(2, 1, 2, m2.id);
    let save = RoomSave {
        state: Some("state two"),
        outbox_removed: &[],
        outbox_added: &[row(1, 5)],
    };
    assert!(store
        .put_and_save("room", &[(&key2, &m2, None)], 1, &save)
        .is_err());
    let (text, rows) = store.load_saved("room").unwrap().unwrap();
    assert_eq!(text, "state one");
    assert_eq!(rows.len(), 3);
    assert!(store.get("room", &m2.id).unwrap().is_none());
    store.check().unwrap();
}

/// A row says which run stored it last: a room that dropped a message from memory tells
/// by it that the message was read in this run (and an earlier run's rows, or another
/// room's, do not count).
#[test]
fn a_row_says_which_run_stored_it_last() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("store.sqlite")).unwrap();
    let m = Message::new(MessageId([1; 16]), "Ann", "hello", Codec::Native);
    let key = native_key(1, 1, 1, m.id);
    store.put_authored("room", &[(&key, &m, None)], 5).unwrap();
    assert!(store.stored_in_run("room", &m.id, 5).unwrap());
    assert!(
        !store.stored_in_run("room", &m.id, 6).unwrap(),
        "another run"
    );
    assert!(
        !store.stored_in_run("other", &m.id, 5).unwrap(),
        "another room"
    );
    assert!(!store.stored_in_run("room", &MessageId([2; 16]), 5).unwrap());
    // Stored again (an edit) by a later run: that run's now.
    let mut edited = m.clone();
    edited.text = "hello again".into();
    store
        .put_authored("room", &[(&key, &edited, None)], 6)
        .unwrap();
    assert!(store.stored_in_run("room", &m.id, 6).unwrap());
    assert!(!store.stored_in_run("room", &m.id, 5).unwrap());
    // Moved (a new key, a new row): still marked.
    let moved = native_key(2, 1, 1, m.id);
    store
        .put_authored("room", &[(&moved, &edited, None)], 7)
        .unwrap();
    assert!(store.stored_in_run("room", &m.id, 7).unwrap());
    assert_eq!(store.search("room", "again", None, 10).unwrap().len(), 1);
    store.check().unwrap();
}

/// A member room's membership cache: commits appended in order, replaced (with the epoch
/// secrets) when asked, the newest state file per writer, per room, and gone when the room
/// is forgotten.
#[test]
fn the_membership_cache_keeps_commits_in_order_and_secrets_per_room() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalStore::open(dir.path().join("store.sqlite")).unwrap();
    assert!(store.cached_commits("room").unwrap().is_empty());
    assert!(store.cached_epoch_keys("room").unwrap().is_none());
    store
        .cache_membership("room", &[b"c0"], true, Some((0, &[1; 32])))
        .unwrap();
    store
        .cache_membership("room", &[b"c1", b"c2"], false, None)
        .unwrap();
    store
        .cache_membership("room", &[], false, Some((2, &[3; 32])))
        .unwrap();
    store
        .cache_membership("other", &[b"x0"], false, None)
        .unwrap();
    assert_eq!(
        store.cached_commits("room").unwrap(),
        [b"c0".to_vec(), b"c1".to_vec(), b"c2".to_vec()]
    );
    let keys = store.cached_epoch_keys("room").unwrap().unwrap();
    let keys: Vec<(u64, [u8; 32])> = keys.into_iter().map(|(e, k)| (e, *k)).collect();
    assert_eq!(keys, [(0, [1; 32]), (2, [3; 32])]);
    assert!(store.cached_epoch_keys("other").unwrap().is_none());
    // Replaced: the commits and the secrets start again.
    store
        .cache_membership("room", &[b"d0"], true, None)
        .unwrap();
    assert_eq!(store.cached_commits("room").unwrap(), [b"d0".to_vec()]);
    assert!(store.cached_epoch_keys("room").unwrap().is_none());
    // A forgotten room (re-created) keeps no cache; others keep theirs.
    store
        .cache_membership("room", &[], false, Some((0, &[5; 32])))
        .unwrap();
    // State files: one per writer, the newest replacing the older.
    assert!(store.cached_device_states("room").unwrap().is_empty());
    store
        .cache_device_states("room", &[([1; 16], 1, b"a1"), ([2; 16], 4, b"b4")])
        .unwrap();
    store
        .cache_device_states("room", &[([1; 16], 2, b"a2")])
        .unwrap();
    store
        .cache_device_states("other", &[([1; 16], 9, b"x9")])
        .unwrap();
    assert_eq!(
        store.cached_device_states("room").unwrap(),
        [([1; 16], 2, b"a2".to_vec()), ([2; 16], 4, b"b4".to_vec())]
    );
    store.forget_room("room").unwrap();
    assert!(store.cached_commits("room").unwrap().is_empty());
    assert!(store.cached_epoch_keys("room").unwrap().is_none());
    assert!(store.cached_device_states("room").unwrap().is_empty());
    assert_eq!(store.cached_commits("other").unwrap(), [b"x0".to_vec()]);
    assert_eq!(store.cached_device_states("other").unwrap().len(), 1);
    store.check().unwrap();
}
