//! Commits: one signed membership change each, with the new epoch's secret wrapped to every
//! device that must hold it (SPEC §17.4). Encoding, decoding, signing and opening.

use std::fmt;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::error::GroupError;
use super::wrap::{
    self, EpochSecret, Wrapped, ENC_LEN, EPOCH_WRAP_INFO, HISTORY_WRAP_INFO, WRAPPED_LEN,
};
use super::{MAX_COMMIT_LEN, MAX_CUTS, MAX_HISTORY, MAX_LEGACY_LOGS, MAX_RECIPIENTS};
use crate::crypto::random_bytes;
use crate::format::native::{get_varint, put_varint};
use crate::format::{RoomId, WriterId};
use crate::identity::{DeviceIdentity, PublicIdentity, SIGNATURE_LEN};

/// The commit format version (field 1).
pub const COMMIT_VERSION: u64 = 1;
/// Signature context: the signed message is this, one 0x00, then fields 1–9.
const SIGN_CONTEXT: &[u8] = b"ftpchat-commit-v1";
/// Hash domain: a commit's hash is SHA-256 of this, one 0x00, then the whole commit.
const HASH_DOMAIN: &[u8] = b"ftpchat-commit-hash-v1";
/// Member id domain (SPEC §17.2).
const MEMBER_ID_DOMAIN: &[u8] = b"ftpchat-member-id-v1";
/// Bytes of one history entry: epoch (u64 big-endian) then its secret.
const HISTORY_ENTRY_LEN: usize = 8 + 32;
/// History key wraps per commit: one per new device, and a change adds one device.
const MAX_HISTORY_WRAPS: usize = 16;

mod tag {
    pub const VERSION: u64 = 1;
    pub const ROOM: u64 = 2;
    pub const EPOCH: u64 = 3;
    pub const PREV: u64 = 4;
    pub const AUTHOR: u64 = 5;
    pub const TIME: u64 = 6;
    pub const CHANGE: u64 = 7;
    pub const WRAP: u64 = 8;
    pub const HISTORY: u64 = 9;
    pub const SIGNATURE: u64 = 10;
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May add, invite, remove and promote members.
    Admin,
    /// May read, write, link its own devices and leave.
    Member,
}

impl Role {
    fn code(self) -> u64 {
        match self {
            Role::Admin => 0,
            Role::Member => 1,
        }
    }

    fn from_code(c: u64) -> Result<Role, GroupError> {
        match c {
            0 => Ok(Role::Admin),
            1 => Ok(Role::Member),
            _ => Err(GroupError::Malformed {
                reason: "unknown role",
            }),
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A member's id: the first 16 bytes of `SHA-256("ftpchat-member-id-v1" || 0x00 || the
/// 64-byte public identity of its first device)`. `Display` is 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId(pub [u8; 16]);

impl MemberId {
    /// The id of the member whose first device (or invitation key) is `first`.
    pub fn of(first: &PublicIdentity) -> MemberId {
        let mut h = Sha256::new();
        h.update(MEMBER_ID_DOMAIN);
        h.update([0u8]);
        h.update(first.to_bytes());
        let d = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&d[..16]);
        MemberId(id)
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({self})")
    }
}

/// The last record of a removed device's log that stays valid: records of `writer` up to
/// `seq` are kept (the one at `seq` only if its hash is `record_hash`), later ones refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogCut {
    /// The log (writer id).
    pub writer: WriterId,
    /// The last kept record's `seq`.
    pub seq: u64,
    /// The hash of the last kept record (as the record layer defines it).
    pub record_hash: [u8; 32],
}

/// One membership change (SPEC §17.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Epoch 0 only: the author becomes the first admin.
    Create,
    /// An admin adds a new member by its first device.
    Add {
        /// The new member's first device.
        device: PublicIdentity,
        /// Its role.
        role: Role,
        /// Whether the commit carries earlier epochs' secrets for the new device.
        share_history: bool,
    },
    /// An admin registers a one-time invitation key.
    Invite {
        /// The invitation's public identity (its secret travels in the invitation URL).
        invite: PublicIdentity,
        /// The role the invitee will get.
        role: Role,
    },
    /// Signed by a pending invitation key: the invitee adds itself; the invitation is
    /// consumed.
    Accept {
        /// The invitee's own device.
        device: PublicIdentity,
    },
    /// A device of `member` (or an admin) links another device to it.
    AddDevice {
        /// The member gaining a device.
        member: MemberId,
        /// The new device.
        device: PublicIdentity,
        /// Whether the commit carries earlier epochs' secrets for the new device.
        share_history: bool,
    },
    /// An admin removes a member, or a member removes itself (leaves), or an admin revokes
    /// a pending invitation (`member` = [`MemberId::of`] the invitation key, no cuts).
    Remove {
        /// The member (or invitation) removed.
        member: MemberId,
        /// Where each of its logs ends for good.
        cuts: Vec<LogCut>,
    },
    /// An admin makes a member an admin.
    Promote {
        /// The member promoted.
        member: MemberId,
    },
    /// Epoch 0 only, instead of `Create`: a member of a password room (SPEC §9.2) upgrades
    /// it to a member room and becomes its first admin. `legacy` ends each password-room
    /// log: its records up to there stay readable (to whoever has the password); none
    /// after.
    Upgrade {
        /// Where each password-room log ends for good.
        legacy: Vec<LogCut>,
    },
}

impl Change {
    fn kind(&self) -> u64 {
        match self {
            Change::Create => 0,
            Change::Add { .. } => 1,
            Change::Invite { .. } => 2,
            Change::Accept { .. } => 3,
            Change::AddDevice { .. } => 4,
            Change::Remove { .. } => 5,
            Change::Promote { .. } => 6,
            Change::Upgrade { .. } => 7,
        }
    }

    /// The device that joins with this change and may receive history, if any.
    pub(crate) fn history_recipient(&self) -> Option<&PublicIdentity> {
        match self {
            Change::Add {
                device,
                share_history: true,
                ..
            }
            | Change::AddDevice {
                device,
                share_history: true,
                ..
            } => Some(device),
            _ => None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        put_varint_field(out, 1, self.kind());
        match self {
            Change::Create => {}
            Change::Add {
                device,
                role,
                share_history,
            } => {
                put_field(out, 2, &device.to_bytes());
                put_varint_field(out, 3, role.code());
                put_varint_field(out, 4, u64::from(*share_history));
            }
            Change::Invite { invite, role } => {
                put_field(out, 2, &invite.to_bytes());
                put_varint_field(out, 3, role.code());
            }
            Change::Accept { device } => put_field(out, 2, &device.to_bytes()),
            Change::AddDevice {
                member,
                device,
                share_history,
            } => {
                put_field(out, 2, &device.to_bytes());
                put_varint_field(out, 4, u64::from(*share_history));
                put_field(out, 5, &member.0);
            }
            Change::Remove { member, cuts } => {
                put_field(out, 5, &member.0);
                put_cuts(out, cuts);
            }
            Change::Promote { member } => put_field(out, 5, &member.0),
            Change::Upgrade { legacy } => put_cuts(out, legacy),
        }
    }

    /// `true` for the changes only commit 0 may make.
    pub(crate) fn is_genesis(&self) -> bool {
        matches!(self, Change::Create | Change::Upgrade { .. })
    }

    fn decode(data: &[u8]) -> Result<Change, GroupError> {
        let mut kind = None;
        let mut key = None;
        let mut role = None;
        let mut share = None;
        let mut member = None;
        let mut cuts = Vec::new();
        for f in Fields(data) {
            let (t, v) = f?;
            match t {
                1 => set(&mut kind, varint_value(v)?)?,
                2 => set(&mut key, identity(v)?)?,
                3 => set(&mut role, Role::from_code(varint_value(v)?)?)?,
                4 => set(&mut share, flag(varint_value(v)?)?)?,
                5 => set(&mut member, MemberId(array::<16>(v, "member id")?))?,
                6 => {
                    // An upgrade ends every log of the password room; a removal only the
                    // removed member's.
                    let max = if kind == Some(7) {
                        MAX_LEGACY_LOGS
                    } else {
                        MAX_CUTS
                    };
                    if cuts.len() >= max {
                        return Err(GroupError::LimitExceeded { what: "cuts", max });
                    }
                    cuts.push(cut(v)?);
                }
                _ => return Err(malformed("unknown change field")),
            }
        }
        let missing = || malformed("a required change field is missing");
        // Fields a kind does not use make the re-encoding differ: caught by the canonical
        // check in `Commit::decode`.
        Ok(match kind.ok_or_else(missing)? {
            0 => Change::Create,
            1 => Change::Add {
                device: key.ok_or_else(missing)?,
                role: role.ok_or_else(missing)?,
                share_history: share.ok_or_else(missing)?,
            },
            2 => Change::Invite {
                invite: key.ok_or_else(missing)?,
                role: role.ok_or_else(missing)?,
            },
            3 => Change::Accept {
                device: key.ok_or_else(missing)?,
            },
            4 => Change::AddDevice {
                member: member.ok_or_else(missing)?,
                device: key.ok_or_else(missing)?,
                share_history: share.ok_or_else(missing)?,
            },
            5 => Change::Remove {
                member: member.ok_or_else(missing)?,
                cuts,
            },
            6 => Change::Promote {
                member: member.ok_or_else(missing)?,
            },
            7 => Change::Upgrade { legacy: cuts },
            _ => return Err(malformed("unknown change kind")),
        })
    }
}

fn put_cuts(out: &mut Vec<u8>, cuts: &[LogCut]) {
    for c in cuts {
        let mut sub = Vec::with_capacity(64);
        put_field(&mut sub, 1, &c.writer.0);
        put_varint_field(&mut sub, 2, c.seq);
        put_field(&mut sub, 3, &c.record_hash);
        put_field(out, 6, &sub);
    }
}

/// Earlier epochs' secrets for a new device: a random bundle key wrapped per recipient,
/// the entries under ChaCha20-Poly1305.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HistoryBundle {
    pub(crate) nonce: [u8; 12],
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) wraps: Vec<Wrapped>,
}

/// One signed membership change and the new epoch's wrapped secret (SPEC §17.4).
///
/// Built by [`Membership::propose`](super::Membership::propose) or read with
/// [`Commit::decode`] (which checks the signature). The public fields are what the author
/// signed; a commit whose fields were changed afterwards no longer verifies and is refused
/// by [`Membership::apply`](super::Membership::apply).
#[derive(Clone)]
pub struct Commit {
    /// The room.
    pub room: RoomId,
    /// The epoch this commit creates (0 for the room's creation).
    pub epoch: u64,
    /// The hash of the previous commit; `None` only for commit 0.
    pub prev: Option<[u8; 32]>,
    /// The signing device (for `Accept`, the invitation key).
    pub author: PublicIdentity,
    /// The author's clock, milliseconds since the Unix epoch (informative).
    pub time_ms: u64,
    /// The change.
    pub change: Change,
    pub(crate) wraps: Vec<Wrapped>,
    pub(crate) history: Option<HistoryBundle>,
    signature: [u8; SIGNATURE_LEN],
    /// SHA-256 of the signed message that was verified (decode) or signed (build), so
    /// `apply` re-verifies only if the fields changed since.
    checked: Option<[u8; 32]>,
}

impl fmt::Debug for Commit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commit")
            .field("room", &self.room)
            .field("epoch", &self.epoch)
            .field("author", &self.author)
            .field("time_ms", &self.time_ms)
            .field("change", &self.change)
            .field("wrapped_keys", &self.wraps.len())
            .field("history", &self.history.is_some())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Commit {
    fn eq(&self, other: &Self) -> bool {
        self.encode() == other.encode()
    }
}

impl Eq for Commit {}

impl Commit {
    /// Fields 1–7: the header, bound into every wrap as HPKE `aad`.
    pub(crate) fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        put_varint_field(&mut out, tag::VERSION, COMMIT_VERSION);
        put_field(&mut out, tag::ROOM, &self.room.0);
        put_varint_field(&mut out, tag::EPOCH, self.epoch);
        if let Some(p) = &self.prev {
            put_field(&mut out, tag::PREV, p);
        }
        put_field(&mut out, tag::AUTHOR, &self.author.to_bytes());
        put_varint_field(&mut out, tag::TIME, self.time_ms);
        let mut change = Vec::with_capacity(128);
        self.change.encode(&mut change);
        put_field(&mut out, tag::CHANGE, &change);
        out
    }

    /// Fields 1–9: everything the signature covers.
    fn body(&self) -> Vec<u8> {
        let mut out = self.header();
        out.reserve(self.wraps.len() * 120 + 64);
        for w in &self.wraps {
            put_field(&mut out, tag::WRAP, &encode_wrap(w));
        }
        if let Some(h) = &self.history {
            let mut sub = Vec::with_capacity(h.ciphertext.len() + 160);
            put_field(&mut sub, 1, &h.nonce);
            put_field(&mut sub, 2, &h.ciphertext);
            for w in &h.wraps {
                put_field(&mut sub, 3, &encode_wrap(w));
            }
            put_field(&mut out, tag::HISTORY, &sub);
        }
        out
    }

    fn signed_message(body: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(SIGN_CONTEXT.len() + 1 + body.len());
        m.extend_from_slice(SIGN_CONTEXT);
        m.push(0);
        m.extend_from_slice(body);
        m
    }

    /// The commit's bytes (SPEC §17.4): fields 1–9 then the signature (field 10).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        put_field(&mut out, tag::SIGNATURE, &self.signature);
        out
    }

    /// The commit's hash: `SHA-256("ftpchat-commit-hash-v1" || 0x00 || encode())`. The
    /// next commit names it as `prev`; the hash of commit 0 is the room's trust anchor.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(HASH_DOMAIN);
        h.update([0u8]);
        h.update(self.encode());
        h.finalize().into()
    }

    /// Checks the author's signature unless these exact fields were checked before.
    pub(crate) fn verify(&self) -> Result<(), GroupError> {
        let msg = Self::signed_message(&self.body());
        let digest: [u8; 32] = Sha256::digest(&msg).into();
        if self.checked == Some(digest) {
            return Ok(());
        }
        self.author
            .verify(&msg, &self.signature)
            .map_err(|_| GroupError::BadSignature)
    }

    /// Reads a commit and checks its signature (strict Ed25519 by `author`).
    ///
    /// Refuses, each with its own error: more than [`MAX_COMMIT_LEN`] bytes; anything but
    /// the canonical encoding (fields in order, minimal varints, no unknown or repeated
    /// fields, wraps sorted by recipient and unique); another version; lists over their
    /// bounds; a bad signature. It checks nothing about the room's state: that is
    /// [`Membership::apply`](super::Membership::apply). Never panics.
    ///
    /// # Errors
    /// See [`GroupError`].
    pub fn decode(bytes: &[u8]) -> Result<Commit, GroupError> {
        Self::decode_checked(bytes, true)
    }

    /// [`decode`](Self::decode) without the signature check, for commits this device
    /// verified before and kept in its own local state (as trusted as its identity file).
    /// Every rule of [`Membership::apply`](super::Membership::apply) still applies.
    pub(crate) fn decode_verified_before(bytes: &[u8]) -> Result<Commit, GroupError> {
        Self::decode_checked(bytes, false)
    }

    fn decode_checked(bytes: &[u8], check_signature: bool) -> Result<Commit, GroupError> {
        if bytes.len() > MAX_COMMIT_LEN {
            return Err(GroupError::TooLong {
                len: bytes.len(),
                max: MAX_COMMIT_LEN,
            });
        }
        let mut version = None;
        let mut room = None;
        let mut epoch = None;
        let mut prev = None;
        let mut author = None;
        let mut time = None;
        let mut change = None;
        let mut wraps = Vec::new();
        let mut history = None;
        let mut signature = None;
        for f in Fields(bytes) {
            let (t, v) = f?;
            if signature.is_some() {
                return Err(malformed("a field after the signature"));
            }
            match t {
                tag::VERSION => {
                    let ver = varint_value(v)?;
                    if ver != COMMIT_VERSION {
                        return Err(GroupError::UnsupportedVersion { version: ver });
                    }
                    set(&mut version, ver)?;
                }
                tag::ROOM => set(&mut room, RoomId(array::<16>(v, "room id")?))?,
                tag::EPOCH => set(&mut epoch, varint_value(v)?)?,
                tag::PREV => set(&mut prev, array::<32>(v, "prev")?)?,
                tag::AUTHOR => set(&mut author, identity(v)?)?,
                tag::TIME => set(&mut time, varint_value(v)?)?,
                tag::CHANGE => set(&mut change, Change::decode(v)?)?,
                tag::WRAP => {
                    if wraps.len() >= MAX_RECIPIENTS {
                        return Err(GroupError::LimitExceeded {
                            what: "wrapped keys",
                            max: MAX_RECIPIENTS,
                        });
                    }
                    wraps.push(decode_wrap(v)?);
                }
                tag::HISTORY => set(&mut history, decode_history(v)?)?,
                tag::SIGNATURE => set(&mut signature, array::<SIGNATURE_LEN>(v, "signature")?)?,
                _ => return Err(malformed("unknown commit field")),
            }
        }
        let missing = || malformed("a required commit field is missing");
        if version.is_none() {
            return Err(missing());
        }
        if !wraps.windows(2).all(|w| w[0].recipient < w[1].recipient) {
            return Err(malformed(
                "wrapped keys not sorted by recipient or repeated",
            ));
        }
        let commit = Commit {
            room: room.ok_or_else(missing)?,
            epoch: epoch.ok_or_else(missing)?,
            prev,
            author: author.ok_or_else(missing)?,
            time_ms: time.ok_or_else(missing)?,
            change: change.ok_or_else(missing)?,
            wraps,
            history,
            signature: signature.ok_or_else(missing)?,
            checked: None,
        };
        let body = commit.body();
        // One encoding per commit, so its hash names exactly one commit.
        if body.len() + 2 + SIGNATURE_LEN != bytes.len() || bytes[..body.len()] != body[..] {
            return Err(malformed("not in canonical form"));
        }
        let msg = Self::signed_message(&body);
        if check_signature {
            commit
                .author
                .verify(&msg, &commit.signature)
                .map_err(|_| GroupError::BadSignature)?;
        }
        let digest: [u8; 32] = Sha256::digest(&msg).into();
        Ok(Commit {
            checked: Some(digest),
            ..commit
        })
    }

    /// Builds and signs a commit: wraps `secret` to each of `recipients` and, if given,
    /// `history` to its new device. Checks no membership rule (the caller does).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build(
        room: RoomId,
        epoch: u64,
        prev: Option<[u8; 32]>,
        author: &DeviceIdentity,
        time_ms: u64,
        change: Change,
        recipients: &[PublicIdentity],
        secret: &EpochSecret,
        history: Option<(&PublicIdentity, &[(u64, &EpochSecret)])>,
    ) -> Result<Commit, GroupError> {
        let mut commit = Commit {
            room,
            epoch,
            prev,
            author: author.public(),
            time_ms,
            change,
            wraps: Vec::new(),
            history: None,
            signature: [0u8; SIGNATURE_LEN],
            checked: None,
        };
        let aad = commit.header();
        let mut wraps = recipients
            .iter()
            .map(|r| wrap::seal(r, EPOCH_WRAP_INFO, room, epoch, &aad, secret.expose()))
            .collect::<Result<Vec<_>, _>>()?;
        wraps.sort_by_key(|a| a.recipient);
        wraps.dedup_by(|a, b| a.recipient == b.recipient);
        commit.wraps = wraps;
        if let Some((to, entries)) = history {
            if !entries.is_empty() {
                commit.history = Some(seal_history(to, room, epoch, &aad, entries)?);
            }
        }
        let msg = Self::signed_message(&commit.body());
        commit.signature = author.sign(&msg);
        commit.checked = Some(Sha256::digest(&msg).into());
        Ok(commit)
    }

    /// The Ed25519 keys the epoch secret is wrapped to, ascending.
    pub(crate) fn recipients(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.wraps.iter().map(|w| &w.recipient)
    }

    /// This device's epoch secret from the commit, if it was wrapped to it.
    ///
    /// # Errors
    /// [`GroupError::UnwrapFailed`] if a wrap names this device but does not open.
    pub fn open_secret(&self, me: &DeviceIdentity) -> Result<Option<EpochSecret>, GroupError> {
        let mine = me.public().signing_key_bytes();
        let Some(w) = self.wraps.iter().find(|w| w.recipient == mine) else {
            return Ok(None);
        };
        let aad = self.header();
        let s = wrap::open(me, w, EPOCH_WRAP_INFO, self.room, self.epoch, &aad)?;
        Ok(Some(EpochSecret::from_array(*s)))
    }

    /// Earlier epochs' secrets shared with this device by this commit (history sharing),
    /// ascending by epoch; empty if none were shared with it.
    ///
    /// # Errors
    /// [`GroupError::UnwrapFailed`] if the bundle names this device but does not open,
    /// [`GroupError::BadHistory`] if its entries are malformed.
    pub fn open_history(&self, me: &DeviceIdentity) -> Result<Vec<(u64, EpochSecret)>, GroupError> {
        let Some(h) = &self.history else {
            return Ok(Vec::new());
        };
        let mine = me.public().signing_key_bytes();
        let Some(w) = h.wraps.iter().find(|w| w.recipient == mine) else {
            return Ok(Vec::new());
        };
        let aad = self.header();
        let key = wrap::open(me, w, HISTORY_WRAP_INFO, self.room, self.epoch, &aad)?;
        let cipher = ChaCha20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    (&h.nonce).into(),
                    Payload {
                        msg: &h.ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| GroupError::UnwrapFailed)?,
        );
        let mut out: Vec<(u64, EpochSecret)> = Vec::with_capacity(plain.len() / HISTORY_ENTRY_LEN);
        for e in plain.chunks(HISTORY_ENTRY_LEN) {
            let ep: [u8; 8] = e[..8].try_into().map_err(|_| GroupError::BadHistory {
                reason: "truncated entry",
            })?;
            let ep = u64::from_be_bytes(ep);
            let s: [u8; 32] = e[8..].try_into().map_err(|_| GroupError::BadHistory {
                reason: "truncated entry",
            })?;
            if ep >= self.epoch || out.last().is_some_and(|(p, _)| *p >= ep) {
                return Err(GroupError::BadHistory {
                    reason: "epochs not ascending or not before the commit",
                });
            }
            out.push((ep, EpochSecret::from_array(s)));
        }
        Ok(out)
    }
}

fn seal_history(
    to: &PublicIdentity,
    room: RoomId,
    epoch: u64,
    aad: &[u8],
    entries: &[(u64, &EpochSecret)],
) -> Result<HistoryBundle, GroupError> {
    if entries.len() > MAX_HISTORY {
        return Err(GroupError::LimitExceeded {
            what: "history entries",
            max: MAX_HISTORY,
        });
    }
    let mut sorted: Vec<&(u64, &EpochSecret)> = entries.iter().collect();
    sorted.sort_by_key(|(e, _)| *e);
    if sorted.windows(2).any(|w| w[0].0 == w[1].0) || sorted.iter().any(|(e, _)| *e >= epoch) {
        return Err(GroupError::BadHistory {
            reason: "history epochs must be unique and before the commit's epoch",
        });
    }
    let mut plain = Zeroizing::new(Vec::with_capacity(sorted.len() * HISTORY_ENTRY_LEN));
    for (e, s) in sorted {
        plain.extend_from_slice(&e.to_be_bytes());
        plain.extend_from_slice(s.expose());
    }
    let key = Zeroizing::new(random_bytes::<32>());
    let nonce = random_bytes::<12>();
    let cipher = ChaCha20Poly1305::new(key.as_ref().into());
    let ciphertext = cipher
        .encrypt((&nonce).into(), Payload { msg: &plain, aad })
        .map_err(|_| GroupError::BadHistory {
            reason: "encryption failed",
        })?;
    let w = wrap::seal(to, HISTORY_WRAP_INFO, room, epoch, aad, &key)?;
    Ok(HistoryBundle {
        nonce,
        ciphertext,
        wraps: vec![w],
    })
}

fn encode_wrap(w: &Wrapped) -> Vec<u8> {
    let mut sub = Vec::with_capacity(120);
    put_field(&mut sub, 1, &w.recipient);
    put_field(&mut sub, 2, &w.enc);
    put_field(&mut sub, 3, &w.ciphertext);
    sub
}

fn decode_wrap(v: &[u8]) -> Result<Wrapped, GroupError> {
    let (mut r, mut e, mut c) = (None, None, None);
    for f in Fields(v) {
        let (t, v) = f?;
        match t {
            1 => set(&mut r, array::<32>(v, "recipient")?)?,
            2 => set(&mut e, array::<ENC_LEN>(v, "encapsulated key")?)?,
            3 => set(&mut c, array::<WRAPPED_LEN>(v, "wrapped secret")?)?,
            _ => return Err(malformed("unknown wrap field")),
        }
    }
    let missing = || malformed("a required wrap field is missing");
    Ok(Wrapped {
        recipient: r.ok_or_else(missing)?,
        enc: e.ok_or_else(missing)?,
        ciphertext: c.ok_or_else(missing)?,
    })
}

fn decode_history(v: &[u8]) -> Result<HistoryBundle, GroupError> {
    let (mut nonce, mut ct) = (None, None);
    let mut wraps = Vec::new();
    for f in Fields(v) {
        let (t, v) = f?;
        match t {
            1 => set(&mut nonce, array::<12>(v, "history nonce")?)?,
            2 => {
                // Tag (16) plus whole entries, at most MAX_HISTORY of them.
                let n = v
                    .len()
                    .checked_sub(16)
                    .ok_or(malformed("history too short"))?;
                if n % HISTORY_ENTRY_LEN != 0 || n == 0 {
                    return Err(malformed("history length is not whole entries"));
                }
                if n / HISTORY_ENTRY_LEN > MAX_HISTORY {
                    return Err(GroupError::LimitExceeded {
                        what: "history entries",
                        max: MAX_HISTORY,
                    });
                }
                set(&mut ct, v.to_vec())?;
            }
            3 => {
                if wraps.len() >= MAX_HISTORY_WRAPS {
                    return Err(GroupError::LimitExceeded {
                        what: "history key wraps",
                        max: MAX_HISTORY_WRAPS,
                    });
                }
                wraps.push(decode_wrap(v)?);
            }
            _ => return Err(malformed("unknown history field")),
        }
    }
    let missing = || malformed("a required history field is missing");
    Ok(HistoryBundle {
        nonce: nonce.ok_or_else(missing)?,
        ciphertext: ct.ok_or_else(missing)?,
        wraps,
    })
}

fn cut(v: &[u8]) -> Result<LogCut, GroupError> {
    let (mut w, mut s, mut h) = (None, None, None);
    for f in Fields(v) {
        let (t, v) = f?;
        match t {
            1 => set(&mut w, WriterId(array::<16>(v, "writer id")?))?,
            2 => set(&mut s, varint_value(v)?)?,
            3 => set(&mut h, array::<32>(v, "record hash")?)?,
            _ => return Err(malformed("unknown cut field")),
        }
    }
    let missing = || malformed("a required cut field is missing");
    Ok(LogCut {
        writer: w.ok_or_else(missing)?,
        seq: s.ok_or_else(missing)?,
        record_hash: h.ok_or_else(missing)?,
    })
}

// --- field-list helpers (SPEC §8.2's encoding) ---

fn malformed(reason: &'static str) -> GroupError {
    GroupError::Malformed { reason }
}

fn put_field(out: &mut Vec<u8>, tag: u64, value: &[u8]) {
    put_varint(out, tag);
    put_varint(out, value.len() as u64);
    out.extend_from_slice(value);
}

fn put_varint_field(out: &mut Vec<u8>, tag: u64, value: u64) {
    let mut buf = Vec::with_capacity(10);
    put_varint(&mut buf, value);
    put_field(out, tag, &buf);
}

fn set<T>(slot: &mut Option<T>, v: T) -> Result<(), GroupError> {
    if slot.is_some() {
        return Err(malformed("a field appears twice"));
    }
    *slot = Some(v);
    Ok(())
}

fn varint_value(v: &[u8]) -> Result<u64, GroupError> {
    match get_varint(v) {
        Ok((x, [])) => Ok(x),
        _ => Err(malformed("invalid varint field")),
    }
}

fn flag(v: u64) -> Result<bool, GroupError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(malformed("a flag must be 0 or 1")),
    }
}

fn array<const N: usize>(v: &[u8], _what: &'static str) -> Result<[u8; N], GroupError> {
    v.try_into()
        .map_err(|_| malformed("a fixed-size field has the wrong length"))
}

fn identity(v: &[u8]) -> Result<PublicIdentity, GroupError> {
    PublicIdentity::from_bytes(v).map_err(|_| malformed("invalid public identity"))
}

/// Iterates `(tag, value)` over a field list.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, &'a [u8]), GroupError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let step = (|| {
            let (t, rest) = get_varint(self.0).map_err(|_| malformed("invalid varint"))?;
            let (len, rest) = get_varint(rest).map_err(|_| malformed("invalid varint"))?;
            let len = usize::try_from(len).map_err(|_| malformed("field runs past the end"))?;
            if len > rest.len() {
                return Err(malformed("field runs past the end"));
            }
            let (v, rest) = rest.split_at(len);
            Ok((t, v, rest))
        })();
        match step {
            Ok((t, v, rest)) => {
                self.0 = rest;
                Some(Ok((t, v)))
            }
            Err(e) => {
                self.0 = &[];
                Some(Err(e))
            }
        }
    }
}
