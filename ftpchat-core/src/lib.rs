//! # ftpchat-core
//!
//! Encrypted chat whose only server is a plain file server. This crate holds the
//! protocol of `SPEC.md`: the chat-file wire formats and their crypto ([`format`],
//! [`crypto`]), the sans-IO log state machine ([`log`]), the [`transport`] seam with
//! its FTP, FTPS, folder and memory implementations, and the room engine ([`room`]).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod crypto;
pub mod format;
pub mod log;
pub mod room;
pub mod transport;

/// The README's code runs as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
