//! The one error type of the group module, and the reasons a record is refused.

/// Why a commit, a membership change or an invitation was refused. Messages never contain
/// secret bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    // --- decoding ---
    /// The commit is longer than [`MAX_COMMIT_LEN`](super::MAX_COMMIT_LEN).
    #[error("the commit is {len} bytes, over the limit of {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The commit bytes do not follow the encoding of SPEC §17.4.
    #[error("malformed commit: {reason}")]
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// The commit has a format version this build does not know.
    #[error("unsupported commit version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u64,
    },
    /// A list in the commit is longer than its bound (SPEC §17.5).
    #[error("the commit has more {what} than the limit of {max}")]
    LimitExceeded {
        /// Which list ("wrapped keys", "cuts", ...).
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The author's signature does not verify (a forged or altered commit).
    #[error("the commit's signature does not verify")]
    BadSignature,

    // --- applying ---
    /// The commit belongs to another room.
    #[error("the commit belongs to another room")]
    WrongRoom,
    /// The commit's epoch is not the next one.
    #[error("the commit is for epoch {found}, expected {expected}")]
    WrongEpoch {
        /// The epoch the state expects next.
        expected: u64,
        /// The commit's epoch.
        found: u64,
    },
    /// The commit does not follow the current head (a fork, or a stale proposal).
    #[error("the commit does not follow the current head")]
    WrongPrev,
    /// Commit 0 must be `Create` and only commit 0 may be.
    #[error("commit 0 must create the room and only commit 0 may")]
    BadGenesis,
    /// The history is empty.
    #[error("no commits to replay")]
    EmptyHistory,
    /// Commit 0's hash differs from the anchor given (e.g. by the invitation).
    #[error("commit 0 does not match the trusted anchor")]
    AnchorMismatch,
    /// The author is not an active device of the room (never added, or removed).
    #[error("the author is not an active device of this room")]
    UnknownAuthor,
    /// The author is a device of the room but its member may not make this change.
    #[error("the author may not make this change: {reason}")]
    NotAllowed {
        /// Which rule forbids it.
        reason: &'static str,
    },
    /// The member named by the change does not exist (or was removed).
    #[error("no such member")]
    UnknownMember,
    /// The key was already used in this room (as a device or an invitation), possibly
    /// removed since: a key is never added twice.
    #[error("this key was already used in this room")]
    KeyReused,
    /// The change would leave the room without an admin.
    #[error("the change would leave the room without an admin")]
    NoAdminLeft,
    /// The change changes nothing (e.g. promoting an admin).
    #[error("the change has no effect")]
    NoEffect,
    /// The room would exceed one of its bounds (members, devices, invitations).
    #[error("the room would have more {what} than the limit of {max}")]
    RoomFull {
        /// Which bound.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The epoch secret is not wrapped to exactly the devices that must hold it.
    #[error("the wrapped keys do not match the room's devices after the change")]
    WrongRecipients,
    /// A history bundle is present where the change does not share history, or is invalid.
    #[error("invalid history bundle: {reason}")]
    BadHistory {
        /// What is wrong.
        reason: &'static str,
    },
    /// A wrapped secret addressed to this device does not open (altered, or not for it).
    #[error("the wrapped secret for this device does not open")]
    UnwrapFailed,

    // --- invitations ---
    /// The invitation text is not a valid `ftpchat://join?...` URL.
    #[error("invalid invitation: {reason}")]
    InvalidInvitation {
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why [`Membership::may_write`](super::Membership::may_write) refuses a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteRefusal {
    /// The signing key was never a device of the room.
    #[error("the device was never a member of this room")]
    UnknownDevice,
    /// The record claims an epoch that does not exist yet.
    #[error("epoch {epoch} does not exist yet (current {current})")]
    FutureEpoch {
        /// The record's epoch.
        epoch: u64,
        /// The room's current epoch.
        current: u64,
    },
    /// The record's epoch is before the device was added.
    #[error("the device was added at epoch {added}, the record claims epoch {epoch}")]
    BeforeJoin {
        /// The record's epoch.
        epoch: u64,
        /// The epoch the device was added in.
        added: u64,
    },
    /// The device was removed at or before the record's epoch.
    #[error("the device was removed at epoch {removed}, the record claims epoch {epoch}")]
    AfterRemoval {
        /// The record's epoch.
        epoch: u64,
        /// The epoch of the removal.
        removed: u64,
    },
    /// The device was removed and the record lies after the cut of its log (or the log
    /// has no cut, so nothing in it is kept).
    #[error("the record is after the cut of a removed device's log")]
    AfterCut,
    /// The record sits at the cut's position but is not the record the cut names.
    #[error("the record at the cut differs from the one the removal kept")]
    CutMismatch,
}
