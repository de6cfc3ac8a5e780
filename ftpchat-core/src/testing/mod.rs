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

#[cfg(doc)]
use crate::Transport;
