//! The sans-IO log state machine: a hybrid logical clock ([`HlcClock`]), an incremental
//! reader for one append-only file ([`FileReader`]) and the merged [`Timeline`].
//!
//! Nothing here touches a socket or a clock: the room driver passes in bytes and the
//! current time and gets back records, problems and what to read next.

mod changes;
mod hlc;
mod messages;
pub(crate) mod reader;

pub use changes::{Applied, Author, ChangeKind, MessageChange, Reaction, RefusedChange};
pub(crate) use hlc::HlcClock;
pub(crate) use messages::StoredIds;
pub use messages::{Attachment, Inserted, Message, MessageId, MessageStatus, SortKey, Timeline};
pub use reader::{FileReader, ReadPlan, ReaderState, OVERLAP_LEN};
