//! FTP reply codes and turning suppaftp errors into [`TransportError`]s.
//!
//! Every decision on a server's reply goes through [`ReplyCode`]: it is read once from the
//! reply (see [`ReplyCode::of`]) and classified by its methods, so "unsupported", "refused
//! TLS" or "not logged in" mean the same thing everywhere.

use std::fmt;

use suppaftp::FtpError;

use super::secret::Password;
use crate::transport::{TransportError, TransportErrorKind};

/// A three-digit FTP reply code (RFC 959 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct ReplyCode(u16);

/// The first digit of a reply code (RFC 959 §4.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReplyClass {
    /// 1xx: the command started; another reply follows.
    Preliminary,
    /// 2xx: done.
    Completion,
    /// 3xx: send the next command of a sequence (`PASS` after `USER`, `RNTO` after `RNFR`).
    Intermediate,
    /// 4xx: not done this time; the same command may work later.
    TransientNegative,
    /// 5xx: not done, and repeating it will not help.
    PermanentNegative,
}

impl ReplyCode {
    /// 421: the server is closing the control connection.
    pub(super) const CLOSING: ReplyCode = ReplyCode(421);
    /// 521: the directory already exists (not in RFC 959; some servers send it for `MKD`).
    pub(super) const ALREADY_EXISTS: ReplyCode = ReplyCode(521);
    /// 550: file unavailable (missing, or refused for a reason the text may give).
    pub(super) const FILE_UNAVAILABLE: ReplyCode = ReplyCode(550);
    /// 553: file name not allowed (vsftpd: any refused upload).
    pub(super) const NAME_NOT_ALLOWED: ReplyCode = ReplyCode(553);

    /// The code `code`, if it is one (100 to 599).
    pub(super) fn new(code: u32) -> Option<ReplyCode> {
        u16::try_from(code)
            .ok()
            .filter(|c| (100..600).contains(c))
            .map(ReplyCode)
    }

    /// The code of a refused command, read from the reply text because suppaftp maps codes
    /// it does not know (554, 521, 534...) to `Status::Unknown`. `None` for errors that are
    /// not a reply, or a reply without a code (out of step, garbage).
    pub(super) fn of(err: &FtpError) -> Option<ReplyCode> {
        let FtpError::UnexpectedResponse(resp) = err else {
            return None;
        };
        let from_text = resp
            .body
            .get(..3)
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|s| s.parse::<u32>().ok());
        from_text
            .or_else(|| Some(resp.status.code()))
            .and_then(ReplyCode::new)
    }

    /// What the first digit says.
    pub(super) fn class(self) -> ReplyClass {
        match self.0 / 100 {
            1 => ReplyClass::Preliminary,
            2 => ReplyClass::Completion,
            3 => ReplyClass::Intermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// 1xx to 3xx. Where a refusal was read, such a reply means replies and commands are
    /// out of step (e.g. libunftp's unsolicited `221 Session timed out`).
    pub(super) fn is_positive(self) -> bool {
        matches!(
            self.class(),
            ReplyClass::Preliminary | ReplyClass::Completion | ReplyClass::Intermediate
        )
    }

    /// 5xx: the server refused, and will again.
    pub(super) fn is_permanent_refusal(self) -> bool {
        self.class() == ReplyClass::PermanentNegative
    }

    /// 500, 502, 504: the server does not know or implement the command (or this parameter),
    /// so a fallback (another command, another way) is worth trying.
    pub(super) fn is_unsupported(self) -> bool {
        matches!(self.0, 500 | 502 | 504)
    }

    /// A refusal of `AUTH TLS` that means "no TLS here": unsupported (500, 502, 504) or
    /// 534, "request denied for policy reasons" (RFC 2228). The only replies after which
    /// [`TlsPolicy::Preferred`](super::TlsPolicy::Preferred) continues in plain text.
    pub(super) fn refuses_tls(self) -> bool {
        self.is_unsupported() || self.0 == 534
    }

    /// 430, 530, 532, 332: the login itself was refused (bad credentials, account needed).
    pub(super) fn refuses_login(self) -> bool {
        matches!(self.0, 430 | 530 | 532 | 332)
    }

    /// The error kind for this code, with `text` the reply's text (for 550).
    ///
    /// 4xx is transient, except 430/530/532 (not logged in), which are permanent; 550 is
    /// "not found" unless the text says the refusal is about permission; 553 is "permission
    /// denied"; 500/502/504 "unsupported"; any other 5xx is permanent. A positive reply
    /// read as a refusal is transient (the connection is replaced).
    pub(super) fn kind(self, text: &str) -> TransportErrorKind {
        match self.0 {
            430 | 530 | 532 => TransportErrorKind::Permanent,
            _ if self.is_positive() => TransportErrorKind::Transient,
            _ if self.class() == ReplyClass::TransientNegative => TransportErrorKind::Transient,
            _ if self.is_unsupported() => TransportErrorKind::Unsupported,
            550 if mentions_permission(text) => TransportErrorKind::PermissionDenied,
            550 => TransportErrorKind::NotFound,
            553 => TransportErrorKind::PermissionDenied,
            _ => TransportErrorKind::Permanent,
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An operation's failure, with what the retry logic needs to know about it.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: TransportError,
    /// The control connection is unusable (I/O error, timeout, 421, protocol desync).
    pub(super) connection_lost: bool,
    /// Repeating the operation on a new connection cannot apply its effect twice.
    pub(super) retry_safe: bool,
    /// The reply code, when the server refused a command.
    pub(super) reply: Option<ReplyCode>,
}

impl Failure {
    /// A failure that leaves the connection usable and is not retried.
    pub(super) fn final_error(error: TransportError) -> Self {
        Failure {
            error,
            connection_lost: false,
            retry_safe: false,
            reply: None,
        }
    }

    /// A failure that leaves the connection usable, of `kind`.
    pub(super) fn new(
        kind: TransportErrorKind,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Failure::final_error(TransportError::new(kind, operation, message))
    }

    /// Marks the failure as safe (or not) to repeat after reconnecting.
    pub(super) fn retry_safe(mut self, safe: bool) -> Self {
        self.retry_safe = safe;
        self
    }

    /// The same failure with another error kind (the message is kept).
    pub(super) fn with_kind(mut self, kind: TransportErrorKind) -> Self {
        let operation = self.error.operation();
        self.error = TransportError::new(kind, operation, self.error.to_string());
        self
    }

    /// Whether the server refused with `code`.
    pub(super) fn is(&self, code: ReplyCode) -> bool {
        self.reply == Some(code)
    }

    /// Whether the server refused with a 5xx reply.
    pub(super) fn is_permanent_refusal(&self) -> bool {
        self.reply.is_some_and(ReplyCode::is_permanent_refusal)
    }

    /// Whether the server refused with 500, 502 or 504 (command unknown or not implemented).
    pub(super) fn is_unsupported(&self) -> bool {
        self.reply.is_some_and(ReplyCode::is_unsupported)
    }
}

/// The reply's text (all lines joined), for messages. Not scrubbed: see [`map_error`].
pub(super) fn reply_text(err: &FtpError) -> Option<String> {
    match err {
        FtpError::UnexpectedResponse(resp) => {
            let text = String::from_utf8_lossy(&resp.body);
            let joined: Vec<&str> = text.lines().map(str::trim).collect();
            Some(joined.join(" / "))
        }
        _ => None,
    }
}

/// Whether an I/O error comes from a TLS failure that retrying will not fix (a certificate
/// that does not verify, an incompatible peer), as opposed to a glitch on the wire.
fn permanent_tls_error(err: &std::io::Error) -> Option<&rustls::Error> {
    let tls = err.get_ref()?.downcast_ref::<rustls::Error>()?;
    match tls {
        rustls::Error::InvalidCertificate(_)
        | rustls::Error::NoCertificatesPresented
        | rustls::Error::UnsupportedNameType
        | rustls::Error::PeerIncompatible(_)
        | rustls::Error::InvalidCertRevocationList(_)
        | rustls::Error::General(_) => Some(tls),
        _ => None,
    }
}

/// Maps a suppaftp error of `operation` on `subject` (a path or a step such as "login").
/// Text from the server is scrubbed of `password` (a reply may echo what was sent).
///
/// Replies are classified by [`ReplyCode::kind`]; 421 and out-of-step replies also close
/// the connection. I/O errors and timeouts are transient and close the connection, except
/// TLS certificate failures, which are permanent.
pub(super) fn map_error(
    operation: &'static str,
    subject: &str,
    err: FtpError,
    password: &Password,
) -> Failure {
    match err {
        FtpError::UnexpectedResponse(_) => {
            let reply = ReplyCode::of(&err);
            let text = password.scrub(&reply_text(&err).unwrap_or_default());
            // No code at all is garbage: as out of step as a positive reply.
            let (kind, out_of_step) = match reply {
                Some(code) => (code.kind(&text), code.is_positive()),
                None => (TransportErrorKind::Transient, true),
            };
            Failure {
                error: TransportError::new(kind, operation, format!("{subject}: {text}")),
                connection_lost: reply == Some(ReplyCode::CLOSING) || out_of_step,
                retry_safe: false,
                reply,
            }
        }
        FtpError::ConnectionError(io) => {
            let (kind, message) = match permanent_tls_error(&io) {
                Some(tls) => (
                    TransportErrorKind::Permanent,
                    format!("{subject}: TLS failed: {tls}"),
                ),
                None => (
                    TransportErrorKind::Transient,
                    format!("{subject}: connection error: {io}"),
                ),
            };
            Failure {
                error: TransportError::with_source(kind, operation, message, io),
                connection_lost: true,
                retry_safe: false,
                reply: None,
            }
        }
        FtpError::SecureError(msg) => Failure {
            error: TransportError::new(
                TransportErrorKind::Permanent,
                operation,
                format!("{subject}: TLS failed: {}", password.scrub(&msg)),
            ),
            connection_lost: true,
            retry_safe: false,
            reply: None,
        },
        other => Failure {
            error: TransportError::new(
                TransportErrorKind::Transient,
                operation,
                format!("{subject}: {other}"),
            ),
            connection_lost: true,
            retry_safe: false,
            reply: None,
        },
    }
}

fn mentions_permission(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    ["permission", "denied", "not allowed", "forbidden"]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use suppaftp::types::Response;
    use suppaftp::Status;

    fn reply(code: u32, text: &str) -> FtpError {
        FtpError::UnexpectedResponse(Response::new(
            Status::from(code),
            format!("{code} {text}\r\n").into_bytes(),
        ))
    }

    fn none() -> Password {
        Password::default()
    }

    #[test]
    fn reply_kinds() {
        use TransportErrorKind::*;
        let cases = [
            (550, "No such file or directory.", NotFound),
            (550, "Permission denied.", PermissionDenied),
            (553, "Could not create file.", PermissionDenied),
            (530, "Login incorrect.", Permanent),
            (421, "Timeout.", Transient),
            (450, "Busy.", Transient),
            (502, "Command not implemented.", Unsupported),
            (504, "Not for that parameter.", Unsupported),
            (554, "Invalid REST parameter.", Permanent),
        ];
        for (code, text, want) in cases {
            let f = map_error("op", "x", reply(code, text), &none());
            assert_eq!(f.error.kind(), want, "{code} {text}");
            assert_eq!(f.connection_lost, code == 421);
            assert_eq!(f.reply, ReplyCode::new(code));
        }
        for code in [221, 226, 150] {
            let f = map_error("op", "x", reply(code, "out of step"), &none());
            assert_eq!(f.error.kind(), Transient);
            assert!(f.connection_lost);
        }
    }

    #[test]
    fn a_reply_without_a_code_is_out_of_step() {
        let err =
            FtpError::UnexpectedResponse(Response::new(Status::Unknown, b"garbage\r\n".to_vec()));
        assert_eq!(ReplyCode::of(&err), None);
        let f = map_error("op", "x", err, &none());
        assert_eq!(f.error.kind(), TransportErrorKind::Transient);
        assert!(f.connection_lost);
    }

    #[test]
    fn unknown_codes_are_read_from_the_text() {
        assert_eq!(ReplyCode::of(&reply(554, "x")), ReplyCode::new(554));
        assert_eq!(
            ReplyCode::of(&reply(521, "x")),
            Some(ReplyCode::ALREADY_EXISTS)
        );
        assert_eq!(ReplyCode::new(99), None);
        assert_eq!(ReplyCode::new(600), None);
    }

    #[test]
    fn classification() {
        let code = |n| ReplyCode::new(n).unwrap();
        assert_eq!(code(150).class(), ReplyClass::Preliminary);
        assert_eq!(code(226).class(), ReplyClass::Completion);
        assert_eq!(code(350).class(), ReplyClass::Intermediate);
        assert_eq!(code(450).class(), ReplyClass::TransientNegative);
        assert_eq!(code(550).class(), ReplyClass::PermanentNegative);
        for n in [500, 502, 504, 534] {
            assert!(code(n).refuses_tls(), "{n}");
        }
        // Not "TLS is not supported here": never a reason to send a password in plain text.
        for n in [421, 431, 501, 530, 550, 554, 234] {
            assert!(!code(n).refuses_tls(), "{n}");
        }
        assert!(code(530).refuses_login() && !code(550).refuses_login());
    }

    #[test]
    fn io_errors_are_transient_and_close_the_connection() {
        let err = FtpError::ConnectionError(std::io::ErrorKind::ConnectionReset.into());
        let f = map_error("size", "a", err, &none());
        assert_eq!(f.error.kind(), TransportErrorKind::Transient);
        assert!(f.connection_lost);
    }

    #[test]
    fn passwords_are_scrubbed_from_replies() {
        let password = Password::from("hunter2".to_owned());
        let f = map_error("login", "x", reply(530, "bad password hunter2"), &password);
        assert!(!f.error.to_string().contains("hunter2"));
        let f = map_error(
            "login",
            "x",
            FtpError::SecureError("hunter2".into()),
            &password,
        );
        assert!(!f.error.to_string().contains("hunter2"));
    }
}
