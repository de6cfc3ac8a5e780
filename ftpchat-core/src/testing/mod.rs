//! Tools for testing code built on ftpchat, and for checking a [`Transport`] of your own
//! (cargo feature `testing`; not meant for release builds).
//!
//! - [`MemoryTransport`]: a file store in memory; clones share it, so two "clients" of one
//!   room can share a server.
//! - [`FaultyTransport`]: wraps any transport and breaks the calls it is told to (fail
//!   before or after doing it, tear an append, cut a read short, add latency, fail at
//!   random from a seed), counting calls ([`Op`]) and injected faults ([`Fault`],
//!   [`InjectedFault`]).
//! - [`read_all`]: reads a whole file.
//! - [`downgrade_state_folder`]: a state folder as an older version left it, to test the
//!   migration.
//! - [`ManualClock`]: simulated time for a room ([`RoomConfig::with_clock`]): waits
//!   advance it instead of sleeping, tests advance it by days in one call.
//! - [`seal_private`], [`open_private`]: private record bodies (SPEC §8.4.2) of any
//!   content, for playing a member who writes records by hand, and for vectors.
//! - [`conformance`] and the [`conformance_tests!`](crate::conformance_tests) macro: the
//!   transport conformance suite, one set of cases every [`Transport`] must pass.
//!
//! # Checking your own transport
//!
//! Enable the feature in your dev-dependencies:
//!
//! ```toml
//! [dev-dependencies]
//! ftpchat-core = { version = "0.1", features = ["testing"] }
//! ```
//!
//! then, in a test file (say `tests/conformance.rs`), give the macro an expression that
//! builds a fixture: a closure returning a new client (`Box<dyn Transport>`) of one shared
//! store. It expands to one `#[test]` per case, so a failure names its case:
//!
//! ```
//! # // The doctest runs the cases as plain calls: a doctest cannot host `#[test]`s.
//! use ftpchat_core::testing::MemoryTransport;
//! use ftpchat_core::Transport;
//!
//! mod my_transport {
//!     use super::*;
//!     // Your transport here; each call of the closure is a new client of one store.
//!     ftpchat_core::conformance_tests!({
//!         let store = MemoryTransport::new();
//!         move || Box::new(store.clone()) as Box<dyn Transport>
//!     });
//! }
//! # let store = MemoryTransport::new();
//! # ftpchat_core::testing::conformance::run_all(&move || Box::new(store.clone()) as Box<dyn Transport>);
//! ```
//!
//! [`conformance::run_all`] runs every case in one call instead (one test, or outside a
//! test harness). See [`conformance`] for what the cases assume of the store.

#[doc(inline)]
pub use crate::conformance_tests;
pub use crate::transport::fault::{Fault, FaultyTransport, InjectedFault, Op};
pub use crate::transport::memory::MemoryTransport;
pub use crate::transport::read_all;

pub mod conformance;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{Clock, MemberId, PublicIdentity, Wakeup};
#[cfg(doc)]
use crate::{RoomConfig, Transport};

/// Simulated time: `now_ms` moves only when told ([`advance`](Self::advance)) or when a
/// room sleeps or waits on it (a wait that is woken first does not advance it).
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at `now_ms` (milliseconds since the Unix epoch).
    pub fn at(now_ms: u64) -> Self {
        ManualClock(AtomicU64::new(now_ms))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(
            u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration);
    }

    fn wait(&self, wakeup: &Wakeup, duration: Duration) -> bool {
        if wakeup.is_fired() {
            return true;
        }
        self.advance(duration);
        false
    }
}

/// Turns a state folder (`StateLocation::Folder`) into what a version of ftpchat before
/// local store schema 4 left there, to test the migration: each room's saved state and
/// outbox in a state file beside the store (`room-<id>.state`), and the store at schema
/// version 3 without them. Returns the state files written. Close the folder's rooms
/// first.
///
/// # Errors
/// The store cannot be read or changed, or a file cannot be written.
pub fn downgrade_state_folder(
    folder: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, crate::RoomError> {
    crate::room::downgrade_to_state_files(folder)
}

/// The body of a private record (SPEC §8.4.2) with `inner` sealed to `devices`, for record
/// `record` of room `room` addressed to `recipient`: what a member can write by hand.
///
/// # Errors
/// No devices, or more than a private record carries.
pub fn seal_private(
    room: crate::codec::RoomId,
    record: crate::codec::RecordId,
    recipient: MemberId,
    devices: &[PublicIdentity],
    inner: &crate::codec::RecordBody,
) -> Result<crate::codec::RecordBody, crate::GroupError> {
    crate::group::private::seal_private(room, record, recipient, devices, inner)
}

/// Opens a private record's body with `me`'s keys as a reader does (SPEC §8.4.2):
/// `Ok(None)` when it holds no wrap for `me`.
///
/// # Errors
/// A wrap for `me`, a sealed body or an inner body that does not open or parse.
pub fn open_private(
    me: &crate::DeviceIdentity,
    room: crate::codec::RoomId,
    record: &crate::codec::NativeRecord,
) -> Result<Option<crate::codec::RecordBody>, crate::GroupError> {
    crate::group::private::open_private(me, room, record.id, &record.body)
}
