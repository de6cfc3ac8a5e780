//! Explicit FTPS: `AUTH TLS`, the handshake, `PBSZ 0` and `PROT P` (suppaftp's
//! `into_secure`), and the one decision about continuing in plain text.
//!
//! The rule (see [`TlsPolicy`]): plain text only under [`TlsPolicy::Preferred`], only when the
//! server answered `AUTH TLS` itself with a "not supported" refusal
//! ([`ReplyCode::refuses_tls`]), and only from a server that never accepted `AUTH TLS` on
//! this transport. Everything after a `234` (the handshake, `PBSZ`, `PROT`) may be an
//! active attacker's doing and is an error, never a reason to send the password in clear.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use suppaftp::{RustlsConnector, RustlsFtpStream};

use super::reply::{map_error, reply_text, ReplyCode};
use super::secret::Password;
use super::{FtpConfig, TlsPolicy};
use crate::transport::{TransportError, TransportErrorKind};

/// How `AUTH TLS` went on one connection.
pub(super) enum Upgrade {
    /// The control connection is encrypted, and so will the data connections be (`PROT P`).
    Secure(RustlsFtpStream),
    /// The server does not support TLS and the policy allows plain text; the connection was
    /// consumed (the password was not sent on it).
    Refused {
        /// The server's reply, for
        /// [`TransportEvent::TlsFallback`](crate::transport::TransportEvent::TlsFallback).
        reason: String,
    },
}

/// Upgrades `plain` with `AUTH TLS`. `tls_offered` remembers, across connections, that the
/// server accepted `AUTH TLS` once; `pause` is waited between `234` and the handshake.
pub(super) fn upgrade(
    plain: RustlsFtpStream,
    client: &Arc<rustls::ClientConfig>,
    config: &FtpConfig,
    tls_offered: &mut bool,
    pause: Duration,
) -> Result<Upgrade, TransportError> {
    let accepted = Arc::new(AtomicBool::new(false));
    let connector = UpgradeConnector {
        inner: RustlsConnector::from(Arc::clone(client)),
        pause: Mutex::new(Some(pause).filter(|p| !p.is_zero())),
        accepted: Arc::clone(&accepted),
    };
    let result = plain.into_secure(connector, config.server_name());
    let accepted = accepted.load(Ordering::SeqCst);
    *tls_offered |= accepted;
    let err = match result {
        Ok(ftp) => return Ok(Upgrade::Secure(ftp)),
        Err(err) => err,
    };
    let refusal = if accepted { None } else { ReplyCode::of(&err) };
    if let Some(code) = refusal.filter(|c| c.refuses_tls()) {
        let reply = reply_text(&err).unwrap_or_else(|| code.to_string());
        if may_fall_back(config.tls, *tls_offered) {
            let reason = format!("server refused AUTH TLS: {reply}");
            log::warn!("ftp: {reason}; continuing without TLS (TlsPolicy::Preferred)");
            return Ok(Upgrade::Refused { reason });
        }
        let why = if *tls_offered {
            "it accepted AUTH TLS on an earlier connection, so this refusal is not believed"
        } else {
            "TLS is required"
        };
        return Err(TransportError::new(
            TransportErrorKind::Permanent,
            "connect",
            format!("the server refused AUTH TLS ({reply}) and {why}: the password was not sent"),
        ));
    }
    // A transient failure (a 4xx, a connection lost, libunftp's race after 234) is tried
    // again on a new connection by the caller; anything else is permanent.
    // The password has not been sent, so no reply can echo it: there is nothing to scrub.
    let failure = map_error("connect", "AUTH TLS", err, &Password::default());
    Err(match failure.error.kind() {
        TransportErrorKind::Transient => failure.error,
        _ => TransportError::new(
            TransportErrorKind::Permanent,
            "connect",
            failure.error.to_string(),
        ),
    })
}

/// Whether a "not supported" refusal of `AUTH TLS` may continue in plain text: only under
/// [`TlsPolicy::Preferred`], and not when the server accepted `AUTH TLS` before (a server
/// that had TLS and now says it has none is more likely an attacker than a reconfiguration).
fn may_fall_back(policy: TlsPolicy, tls_offered_before: bool) -> bool {
    policy == TlsPolicy::Preferred && !tls_offered_before
}

/// rustls, noting that the server accepted `AUTH TLS` (suppaftp calls the connector only
/// after `234`), and pausing once before the control connection's handshake when asked to
/// (libunftp can lose a ClientHello that arrives before it switches to TLS); data
/// connections go through unchanged.
#[derive(Debug)]
struct UpgradeConnector {
    inner: RustlsConnector,
    pause: Mutex<Option<Duration>>,
    accepted: Arc<AtomicBool>,
}

impl suppaftp::TlsConnector for UpgradeConnector {
    type Stream = <RustlsConnector as suppaftp::TlsConnector>::Stream;

    fn connect(
        &self,
        domain: &str,
        stream: std::net::TcpStream,
    ) -> suppaftp::FtpResult<Self::Stream> {
        self.accepted.store(true, Ordering::SeqCst);
        let pause = match self.pause.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(pause) = pause {
            std::thread::sleep(pause);
        }
        self.inner.connect(domain, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_preferred_falls_back_and_only_once_tls_was_never_seen() {
        assert!(may_fall_back(TlsPolicy::Preferred, false));
        assert!(!may_fall_back(TlsPolicy::Preferred, true));
        assert!(!may_fall_back(TlsPolicy::Required, false));
        assert!(!may_fall_back(TlsPolicy::Disabled, false));
    }
}
