//! Edits, deletes and reactions (SPEC §8.4.1): records that change an earlier message.
//!
//! Sans-IO and independent of arrival order: whatever order the records of several logs
//! are read in, every reader ends with the same message. The newest edit in timeline order
//! wins, a delete is final, and each author's newest reaction counts. A change may arrive
//! before its target (another log was read first); it waits for it.

use std::collections::{BTreeMap, HashMap};

use super::messages::{Message, MessageId, SortKey};

/// Who wrote a record, as far as the room can tell: in a member room the member (any of
/// its devices, proven by signatures), in a password room the writer (one device's log,
/// which anyone holding the password can also write). Only the author of a message may
/// edit or delete it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Author(pub [u8; 16]);

/// What a change does to its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New text.
    Edit(String),
    /// The message is deleted: its text is gone, later edits and reactions are ignored.
    Delete,
    /// The author's reactions, separated by white space; empty withdraws them.
    React(String),
}

/// A change record, as the timeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageChange {
    /// The change record's own id (deduplication).
    pub id: MessageId,
    /// Its place in timeline order: of two changes, the later one wins.
    pub key: SortKey,
    /// Who wrote it.
    pub author: Author,
    /// Its display name.
    pub sender: String,
    /// Written by this device (or, in a member room, signed by this device's key).
    pub own: bool,
    /// The message it changes.
    pub target: MessageId,
    /// What it does.
    pub kind: ChangeKind,
}

/// A member's reaction to a message, as shown: one reaction and who chose it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reaction {
    /// The reaction, e.g. an emoji.
    pub reaction: String,
    /// The display names of the authors who chose it, in timeline order of their choice.
    pub senders: Vec<String>,
    /// This user chose it.
    pub own: bool,
}

/// A change that was refused: its author may not make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedChange {
    /// The change record's id.
    pub id: MessageId,
    /// The message it tried to change.
    pub target: MessageId,
    /// Why, in words.
    pub reason: &'static str,
}

/// What applying a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The target's shown state changed.
    Changed(MessageId),
    /// Nothing shown changed: a copy, an older edit or reaction than the one shown, a
    /// change to a deleted message, or a target not read yet (kept until it is).
    Unchanged,
    /// Refused: its author may not make it (reported among the refused changes).
    Refused,
}

#[derive(Debug, Clone)]
struct ReactionEntry {
    key: SortKey,
    reactions: String,
    sender: String,
    own: bool,
}

/// Every change known for one target.
#[derive(Debug, Clone, Default)]
struct TargetChanges {
    /// The newest edit of each author. Once the target's author is known, only theirs is
    /// kept; before, all wait.
    edits: BTreeMap<Author, (SortKey, String)>,
    /// Authors who deleted the target (only the target's author's counts).
    deletes: BTreeMap<Author, MessageId>,
    /// The newest reaction of each author, empty ones (withdrawn) included, so an older
    /// one read later does not come back.
    reactions: BTreeMap<Author, ReactionEntry>,
    /// Ids of the edits and deletes waiting for the target (to report them if refused).
    waiting: Vec<(MessageId, Author)>,
}

/// The changes of a room's messages.
#[derive(Debug, Clone, Default)]
pub(crate) struct Changes {
    /// The author of each shown text message.
    authors: HashMap<MessageId, Author>,
    targets: HashMap<MessageId, TargetChanges>,
    refused: Vec<RefusedChange>,
}

impl Changes {
    /// A text message was shown: its author is known. Returns `true` when changes that
    /// waited for it apply (the caller then calls [`Changes::render`]).
    pub fn message_shown(&mut self, id: MessageId, author: Author) -> bool {
        self.authors.insert(id, author);
        let Some(t) = self.targets.get_mut(&id) else {
            return false;
        };
        for (change, by) in std::mem::take(&mut t.waiting) {
            if by != author {
                self.refused.push(RefusedChange {
                    id: change,
                    target: id,
                    reason: "only its author may edit or delete a message",
                });
            }
        }
        t.edits.retain(|a, _| *a == author);
        t.deletes.retain(|a, _| *a == author);
        !t.edits.is_empty() || !t.deletes.is_empty() || !t.reactions.is_empty()
    }

    /// Targets that have changes (waiting for them, or applied).
    pub fn waiting_targets(&self) -> impl Iterator<Item = MessageId> + '_ {
        self.targets.keys().copied()
    }

    /// Forgets the author of a message leaving memory (the store keeps it), unless
    /// changes to it are known: their order still decides the next change.
    pub fn forget_author(&mut self, id: &MessageId) {
        if !self.targets.contains_key(id) {
            self.authors.remove(id);
        }
    }

    /// The author of a shown text message.
    pub fn author_of(&self, id: &MessageId) -> Option<Author> {
        self.authors.get(id).copied()
    }

    /// Records `change`. `target_shown` says whether its target is a shown text message
    /// (`Some(false)`: a known record that is not one; `None`: not read yet).
    pub fn apply(&mut self, change: MessageChange, target_shown: Option<bool>) -> Applied {
        let refuse = |changes: &mut Self, reason| {
            changes.refused.push(RefusedChange {
                id: change.id,
                target: change.target,
                reason,
            });
            Applied::Refused
        };
        if target_shown == Some(false) {
            return refuse(self, "its target is not a text message");
        }
        let author_of_target = self.authors.get(&change.target).copied();
        let t = self.targets.entry(change.target).or_default();
        let deleted_before = !t.deletes.is_empty() && author_of_target.is_some();
        match change.kind {
            ChangeKind::Edit(_) | ChangeKind::Delete
                if author_of_target.is_some_and(|a| a != change.author) =>
            {
                return refuse(self, "only its author may edit or delete a message");
            }
            ChangeKind::Edit(text) => {
                let newer = t
                    .edits
                    .get(&change.author)
                    .is_none_or(|(key, _)| *key < change.key);
                if !newer {
                    return Applied::Unchanged;
                }
                t.edits.insert(change.author, (change.key, text));
                if author_of_target.is_none() {
                    t.waiting.push((change.id, change.author));
                }
            }
            ChangeKind::Delete => {
                t.deletes.entry(change.author).or_insert(change.id);
                if author_of_target.is_none() {
                    t.waiting.push((change.id, change.author));
                }
            }
            ChangeKind::React(reactions) => {
                let newer = t
                    .reactions
                    .get(&change.author)
                    .is_none_or(|e| e.key < change.key);
                if !newer {
                    return Applied::Unchanged;
                }
                t.reactions.insert(
                    change.author,
                    ReactionEntry {
                        key: change.key,
                        reactions,
                        sender: change.sender,
                        own: change.own,
                    },
                );
            }
        }
        if author_of_target.is_none() || deleted_before {
            Applied::Unchanged
        } else {
            Applied::Changed(change.target)
        }
    }

    /// Sets the edit, delete and reaction state of a shown message from its changes.
    pub fn render(&self, message: &mut Message) {
        let Some(t) = self.targets.get(&message.id) else {
            return;
        };
        if !t.deletes.is_empty() {
            // Whatever arrived before the delete, nothing of it stays.
            message.deleted = true;
            message.edited = false;
            message.text.clear();
            message.reactions.clear();
            message.attachment = None;
            return;
        }
        if let Some((_, text)) = t.edits.values().next() {
            message.edited = true;
            message.text.clone_from(text);
        }
        message.reactions = summarize(t.reactions.values());
    }

    /// Changes refused since the last call.
    pub fn take_refused(&mut self) -> Vec<RefusedChange> {
        std::mem::take(&mut self.refused)
    }
}

/// Groups the authors' reactions: one entry per distinct reaction, the most chosen first
/// (ties: the one chosen first in timeline order).
fn summarize<'a>(entries: impl Iterator<Item = &'a ReactionEntry>) -> Vec<Reaction> {
    let mut by_time: Vec<&ReactionEntry> = entries.collect();
    by_time.sort_by_key(|e| e.key);
    let mut out: Vec<(SortKey, Reaction)> = Vec::new();
    for e in by_time {
        let mut seen = Vec::new();
        for r in e.reactions.split_whitespace() {
            if seen.contains(&r) {
                continue;
            }
            seen.push(r);
            match out.iter_mut().find(|(_, x)| x.reaction == r) {
                Some((_, x)) => {
                    x.senders.push(e.sender.clone());
                    x.own |= e.own;
                }
                None => out.push((
                    e.key,
                    Reaction {
                        reaction: r.to_owned(),
                        senders: vec![e.sender.clone()],
                        own: e.own,
                    },
                )),
            }
        }
    }
    out.sort_by(|(ka, a), (kb, b)| b.senders.len().cmp(&a.senders.len()).then(ka.cmp(kb)));
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::format::{Codec, Hlc, WriterId};

    const ALICE: Author = Author([1; 16]);
    const BOB: Author = Author([2; 16]);
    const CAROL: Author = Author([3; 16]);
    const TARGET: MessageId = MessageId([9; 16]);

    fn key(n: u64) -> SortKey {
        SortKey::Native {
            hlc: Hlc(n),
            writer: WriterId([0; 16]),
            seq: n,
            id: MessageId([n as u8; 16]),
        }
    }

    fn change(n: u64, author: Author, kind: ChangeKind) -> MessageChange {
        MessageChange {
            id: MessageId([100 + n as u8; 16]),
            key: key(n),
            author,
            sender: format!("{:?}", author.0[0]),
            own: author == ALICE,
            target: TARGET,
            kind,
        }
    }

    fn shown(changes: &Changes) -> Message {
        let mut m = Message::new(TARGET, "alice", "original", Codec::Native);
        changes.render(&mut m);
        m
    }

    /// Every order of the same changes gives the same message.
    #[test]
    fn the_result_does_not_depend_on_arrival_order() {
        let all = [
            change(2, ALICE, ChangeKind::Edit("second".into())),
            change(3, ALICE, ChangeKind::Edit("third".into())),
            change(4, BOB, ChangeKind::React("👍 ❤️".into())),
            change(5, CAROL, ChangeKind::React("👍".into())),
            change(6, BOB, ChangeKind::React("👍".into())),
            change(7, CAROL, ChangeKind::React(String::new())),
        ];
        let mut results = Vec::new();
        // The target at each position among the changes, changes forwards and backwards.
        for target_at in 0..=all.len() {
            for reverse in [false, true] {
                let mut order: Vec<_> = all.to_vec();
                if reverse {
                    order.reverse();
                }
                let mut c = Changes::default();
                for (i, ch) in order.into_iter().enumerate() {
                    if i == target_at {
                        c.message_shown(TARGET, ALICE);
                    }
                    let known = c.authors.contains_key(&TARGET).then_some(true);
                    c.apply(ch, known);
                }
                if target_at == all.len() {
                    c.message_shown(TARGET, ALICE);
                }
                assert!(c.take_refused().is_empty());
                results.push(shown(&c));
            }
        }
        let first = &results[0];
        assert_eq!(first.text, "third");
        assert!(first.edited && !first.deleted);
        assert_eq!(
            first.reactions,
            [Reaction {
                reaction: "👍".into(),
                senders: vec!["2".into()],
                own: false
            }]
        );
        assert!(results.iter().all(|r| r == first));
    }

    #[test]
    fn only_the_author_edits_or_deletes() {
        let mut c = Changes::default();
        c.message_shown(TARGET, ALICE);
        assert_eq!(
            c.apply(
                change(2, BOB, ChangeKind::Edit("forged".into())),
                Some(true)
            ),
            Applied::Refused
        );
        assert_eq!(
            c.apply(change(3, BOB, ChangeKind::Delete), Some(true)),
            Applied::Refused
        );
        let refused = c.take_refused();
        assert_eq!(refused.len(), 2);
        assert_eq!(refused[0].target, TARGET);
        let m = shown(&c);
        assert_eq!(m.text, "original");
        assert!(!m.edited && !m.deleted);
    }

    #[test]
    fn a_forged_edit_read_before_its_target_is_refused_when_the_target_arrives() {
        let mut c = Changes::default();
        assert_eq!(
            c.apply(change(5, BOB, ChangeKind::Edit("forged".into())), None),
            Applied::Unchanged
        );
        assert_eq!(
            c.apply(change(4, ALICE, ChangeKind::Edit("real".into())), None),
            Applied::Unchanged
        );
        assert!(c.message_shown(TARGET, ALICE));
        let refused = c.take_refused();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].id, MessageId([105; 16]));
        assert_eq!(shown(&c).text, "real");
    }

    #[test]
    fn a_delete_is_final() {
        let mut c = Changes::default();
        c.message_shown(TARGET, ALICE);
        c.apply(change(2, BOB, ChangeKind::React("👍".into())), Some(true));
        assert_eq!(
            c.apply(change(3, ALICE, ChangeKind::Delete), Some(true)),
            Applied::Changed(TARGET)
        );
        // A later edit (or one written after the delete on another device) changes nothing.
        assert_eq!(
            c.apply(
                change(4, ALICE, ChangeKind::Edit("back".into())),
                Some(true)
            ),
            Applied::Unchanged
        );
        let m = shown(&c);
        assert!(m.deleted && m.text.is_empty() && m.reactions.is_empty());
    }

    #[test]
    fn an_older_change_read_later_does_not_win() {
        let mut c = Changes::default();
        c.message_shown(TARGET, ALICE);
        c.apply(change(5, ALICE, ChangeKind::Edit("new".into())), Some(true));
        assert_eq!(
            c.apply(change(4, ALICE, ChangeKind::Edit("old".into())), Some(true)),
            Applied::Unchanged
        );
        c.apply(change(7, BOB, ChangeKind::React(String::new())), Some(true));
        assert_eq!(
            c.apply(change(6, BOB, ChangeKind::React("👎".into())), Some(true)),
            Applied::Unchanged,
            "a withdrawn reaction does not come back"
        );
        let m = shown(&c);
        assert_eq!(m.text, "new");
        assert!(m.reactions.is_empty());
    }

    #[test]
    fn reactions_are_grouped_most_chosen_first() {
        let mut c = Changes::default();
        c.message_shown(TARGET, ALICE);
        c.apply(change(2, BOB, ChangeKind::React("🎉".into())), Some(true));
        c.apply(
            change(3, CAROL, ChangeKind::React("👍 👍".into())),
            Some(true),
        );
        c.apply(change(4, ALICE, ChangeKind::React("👍".into())), Some(true));
        let m = shown(&c);
        assert_eq!(m.reactions.len(), 2);
        assert_eq!(m.reactions[0].reaction, "👍");
        assert_eq!(m.reactions[0].senders, ["3", "1"], "a repeat counts once");
        assert!(m.reactions[0].own);
        assert_eq!(m.reactions[1].reaction, "🎉");
        assert!(!m.reactions[1].own);
    }

    #[test]
    fn a_change_to_something_that_is_not_a_text_is_refused() {
        let mut c = Changes::default();
        assert_eq!(
            c.apply(change(2, ALICE, ChangeKind::React("x".into())), Some(false)),
            Applied::Refused
        );
        assert_eq!(
            c.take_refused()[0].reason,
            "its target is not a text message"
        );
    }
}
