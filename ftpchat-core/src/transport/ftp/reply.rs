//! Turning suppaftp errors and FTP replies into [`TransportError`]s.

use suppaftp::FtpError;

use crate::transport::{TransportError, TransportErrorKind};

/// An operation's failure, with what the retry logic needs to know about it.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: TransportError,
    /// The control connection is unusable (I/O error, timeout, 421, protocol desync).
    pub(super) connection_lost: bool,
    /// Repeating the operation on a new connection cannot apply its effect twice.
    pub(super) retry_safe: bool,
    /// The reply code, when the server refused a command.
    pub(super) code: Option<u32>,
}

impl Failure {
    /// A failure that leaves the connection usable and is not retried.
    pub(super) fn final_error(error: TransportError) -> Self {
        Failure {
            error,
            connection_lost: false,
            retry_safe: false,
            code: None,
        }
    }

    /// Marks the failure as safe (or not) to repeat after reconnecting.
    pub(super) fn retry_safe(mut self, safe: bool) -> Self {
        self.retry_safe = safe;
        self
    }
}

/// The three-digit reply code of a refused command, read from the reply text because
/// suppaftp maps codes it does not know (554, 521, 534...) to `Status::Unknown`.
pub(super) fn reply_code(err: &FtpError) -> Option<u32> {
    match err {
        FtpError::UnexpectedResponse(resp) => {
            let code = resp
                .body
                .get(..3)
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(|s| s.parse::<u32>().ok());
            code.or_else(|| Some(resp.status.code()).filter(|c| *c != 0))
        }
        _ => None,
    }
}

/// The reply's text (all lines joined), for messages.
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

/// Removes the password from text that came from outside (a server reply may echo input).
pub(super) fn scrub(text: &str, password: &str) -> String {
    if password.len() >= 3 && text.contains(password) {
        text.replace(password, "***")
    } else {
        text.to_owned()
    }
}

/// Maps a suppaftp error of `operation` on `subject` (a path or a step such as "login").
///
/// Replies: 4xx is transient (421 also closes the connection), 530/532 and 430 are
/// permanent (not logged in), 550 is "not found" unless the text says the refusal is about
/// permission, 553 is "permission denied", 500/502/504 is "unsupported", any other 5xx is
/// permanent. I/O errors and timeouts are transient and close the connection, except TLS
/// certificate failures, which are permanent.
pub(super) fn map_error(
    operation: &'static str,
    subject: &str,
    err: FtpError,
    password: &str,
) -> Failure {
    match err {
        FtpError::UnexpectedResponse(_) => {
            let code = reply_code(&err).unwrap_or(0);
            let text = scrub(&reply_text(&err).unwrap_or_default(), password);
            let kind = kind_for_reply(code, &text);
            // 421 closes the connection; a positive reply where a refusal or another reply
            // was expected (e.g. libunftp's unsolicited "221 Session timed out") means the
            // replies are out of step with the commands.
            let desync = code < 400;
            Failure {
                error: TransportError::new(kind, operation, format!("{subject}: {text}")),
                connection_lost: code == 421 || desync,
                retry_safe: false,
                code: Some(code),
            }
        }
        FtpError::ConnectionError(io) => {
            if let Some(tls) = permanent_tls_error(&io) {
                let message = format!("{subject}: TLS failed: {tls}");
                return Failure {
                    error: TransportError::with_source(
                        TransportErrorKind::Permanent,
                        operation,
                        message,
                        io,
                    ),
                    connection_lost: true,
                    retry_safe: false,
                    code: None,
                };
            }
            let message = format!("{subject}: connection error: {io}");
            Failure {
                error: TransportError::with_source(
                    TransportErrorKind::Transient,
                    operation,
                    message,
                    io,
                ),
                connection_lost: true,
                retry_safe: false,
                code: None,
            }
        }
        FtpError::SecureError(msg) => Failure {
            error: TransportError::new(
                TransportErrorKind::Permanent,
                operation,
                format!("{subject}: TLS failed: {}", scrub(&msg, password)),
            ),
            connection_lost: true,
            retry_safe: false,
            code: None,
        },
        other => Failure {
            error: TransportError::new(
                TransportErrorKind::Transient,
                operation,
                format!("{subject}: {other}"),
            ),
            connection_lost: true,
            retry_safe: false,
            code: None,
        },
    }
}

/// The error kind for a refused command's reply `code` with text `text`.
pub(super) fn kind_for_reply(code: u32, text: &str) -> TransportErrorKind {
    match code {
        0..=399 => TransportErrorKind::Transient,
        430 | 530 | 532 => TransportErrorKind::Permanent,
        400..=499 => TransportErrorKind::Transient,
        500 | 502 | 504 => TransportErrorKind::Unsupported,
        550 if mentions_permission(text) => TransportErrorKind::PermissionDenied,
        550 => TransportErrorKind::NotFound,
        553 => TransportErrorKind::PermissionDenied,
        _ => TransportErrorKind::Permanent,
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
            let f = map_error("op", "x", reply(code, text), "");
            assert_eq!(f.error.kind(), want, "{code} {text}");
            assert_eq!(f.connection_lost, code == 421);
        }
        for code in [221, 226, 150] {
            let f = map_error("op", "x", reply(code, "out of step"), "");
            assert_eq!(f.error.kind(), Transient);
            assert!(f.connection_lost);
        }
    }

    #[test]
    fn unknown_codes_are_read_from_the_text() {
        assert_eq!(reply_code(&reply(554, "x")), Some(554));
        assert_eq!(reply_code(&reply(521, "x")), Some(521));
    }

    #[test]
    fn io_errors_are_transient_and_close_the_connection() {
        let err = FtpError::ConnectionError(std::io::ErrorKind::ConnectionReset.into());
        let f = map_error("size", "a", err, "");
        assert_eq!(f.error.kind(), TransportErrorKind::Transient);
        assert!(f.connection_lost);
    }

    #[test]
    fn passwords_are_scrubbed_from_replies() {
        let f = map_error("login", "x", reply(530, "bad password hunter2"), "hunter2");
        assert!(!f.error.to_string().contains("hunter2"));
    }
}
