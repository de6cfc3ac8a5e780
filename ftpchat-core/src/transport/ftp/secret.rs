//! The FTP login password: the one owner of its bytes.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

/// A login password.
///
/// The text lives in one zeroizing allocation that clones share (the configuration and the
/// session that logs in with it), zeroed when the last clone is dropped. `Debug` is
/// redacted and there is no `Display` or accessor for the text: the only ways to use it are
/// [`pass_command`](Self::pass_command), which builds the `PASS` line for the wire, and
/// [`scrub`](Self::scrub), which removes it from text that came from the server.
#[derive(Clone, Default)]
pub(super) struct Password(Arc<Zeroizing<String>>);

impl Password {
    /// Whether no password was given.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the password contains CR, LF, NUL or another control character (it would
    /// end the `PASS` command early and inject another).
    pub(super) fn has_control(&self) -> bool {
        self.0.chars().any(char::is_control)
    }

    /// The `PASS` command line, CRLF included, in zeroizing memory.
    pub(super) fn pass_command(&self) -> Zeroizing<String> {
        // Sized up front so that no reallocation leaves a copy behind.
        let mut line = Zeroizing::new(String::with_capacity(self.0.len() + 7));
        line.push_str("PASS ");
        line.push_str(&self.0);
        line.push_str("\r\n");
        line
    }

    /// `text` with every occurrence of the password replaced by `***` (a server reply may
    /// echo what it was sent). Passwords shorter than 3 characters are left alone: they would
    /// mangle every message and hide nothing.
    pub(super) fn scrub(&self, text: &str) -> String {
        if self.0.len() >= 3 && text.contains(self.0.as_str()) {
            text.replace(self.0.as_str(), "***")
        } else {
            text.to_owned()
        }
    }
}

impl From<Zeroizing<String>> for Password {
    fn from(text: Zeroizing<String>) -> Self {
        Password(Arc::new(text))
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Password::from(Zeroizing::new(text))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_empty() {
            "<none>"
        } else {
            "<redacted>"
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let p = Password::from("hunter2".to_owned());
        assert_eq!(format!("{p:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Password::default()), "<none>");
        assert_eq!(p.scrub("530 hunter2 is wrong"), "530 *** is wrong");
        assert_eq!(p.pass_command().as_str(), "PASS hunter2\r\n");
        assert_eq!(Password::from("ab".to_owned()).scrub("ab ab"), "ab ab");
    }

    #[test]
    fn clones_share_one_copy() {
        let p = Password::from("hunter2".to_owned());
        let q = p.clone();
        assert!(Arc::ptr_eq(&p.0, &q.0));
        assert!(Password::from("a\r\nb".to_owned()).has_control());
    }
}
