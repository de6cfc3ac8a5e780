//! Shared helpers for the example programs (`ftpchat`, and the older `chat`, `serve`,
//! `bot`, `read-ftpchat`):
//!
//! - [`server`]: the embedded FTP/FTPS server (libunftp) with a [`users`] file and a
//!   lock-out after repeated failed logins;
//! - [`location`]: how a URL or folder path names a room, and opening its transport;
//! - [`secret`]: passwords from the environment or a prompt that does not echo;
//! - [`observe`]: a transport wrapper that tells a status bar whether the server answers
//!   and how far a download has got;
//! - [`cli`]: the non-interactive subcommands of the `ftpchat` command (send, tail,
//!   export, import, invite, members, serve) and the JSON of a message;
//! - [`chat`]: the terminal client's arguments, commands and message rendering;
//! - [`members`]: the client's member rooms: identity folder, verified fingerprints,
//!   invitations, finding and describing members.

pub mod chat;
pub mod cli;
pub mod location;
pub mod members;
pub mod observe;
pub mod secret;
pub mod server;
pub mod users;
