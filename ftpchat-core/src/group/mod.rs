//! Members and epochs (SPEC §17): a room's signed, replayable membership history.
//!
//! Each change is a [`Commit`]; commit `n` creates epoch `n` with a fresh random
//! [`EpochSecret`], wrapped with HPKE to every device that must read it. [`Membership`]
//! replays commits under the rules of §17.5 and answers whether a device's record is
//! acceptable ([`Membership::may_write`]). Everything here is sans-IO: pure functions over
//! bytes (plus the OS random generator for new secrets and HPKE ephemeral keys). Storing
//! commits at `epochs/<n>/commit` is the room's job.

mod commit;
mod error;
mod invite;
pub(crate) mod private;
mod state;
mod wrap;

pub use commit::{Change, Commit, LogCut, MemberId, Role, COMMIT_VERSION};
pub use error::{GroupError, WriteRefusal};
pub use invite::{Invitation, INVITATION_PREFIX, MAX_INVITATION_LEN};
pub use state::{Member, Membership, PendingInvite};
pub use wrap::EpochSecret;

/// The longest commit accepted, in bytes (4 MiB: room for `MAX_RECIPIENTS` wraps and a
/// full history bundle).
pub const MAX_COMMIT_LEN: usize = 4 * 1024 * 1024;
/// The most members a room may have.
pub const MAX_MEMBERS: usize = 10_000;
/// The most active devices one member may have.
pub const MAX_DEVICES_PER_MEMBER: usize = 16;
/// The most pending invitations.
pub const MAX_PENDING_INVITES: usize = 256;
/// The most keys an epoch secret is wrapped to (active devices + pending invitations).
pub const MAX_RECIPIENTS: usize = 16_384;
/// The most log cuts in one removal.
pub const MAX_CUTS: usize = 64;
/// The most password-room logs an upgrade ends (a room reads at most as many logs).
pub const MAX_LEGACY_LOGS: usize = 10_000;
/// The most earlier epochs' secrets one commit shares.
pub const MAX_HISTORY: usize = 16_384;
