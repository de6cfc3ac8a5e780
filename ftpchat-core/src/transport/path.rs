use std::fmt;

/// The longest path accepted, in bytes; FTP servers commonly cap command lines near here.
pub const MAX_PATH_LEN: usize = 1024;

/// Why a path was refused at the transport seam.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidPath {
    /// The path is empty.
    #[error("path is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH_LEN`].
    #[error("path is longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// The path starts with `/` (it must be relative to the transport's root).
    #[error("path must be relative to the room root")]
    Absolute,
    /// CR, LF or NUL, which would end an FTP command and start another.
    #[error("path contains a control character (CR, LF, NUL or another below 0x20)")]
    ControlCharacter,
    /// A backslash, which some servers treat as a separator.
    #[error("path contains a backslash")]
    Backslash,
    /// An empty component (`a//b`), `.` or `..`.
    #[error("path contains an empty, '.' or '..' component")]
    BadComponent,
    /// A component starts or ends with white space, which FTP servers and Windows
    /// trim inconsistently.
    #[error("path component starts or ends with white space")]
    EdgeWhitespace,
}

/// A validated path relative to a transport's root: components joined by `/`, none empty,
/// `.` or `..`, and no control characters or backslashes anywhere.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RemotePath(String);

impl RemotePath {
    /// Validates `path`. See [`InvalidPath`] for what is refused.
    pub fn new(path: &str) -> Result<Self, InvalidPath> {
        if path.is_empty() {
            return Err(InvalidPath::Empty);
        }
        if path.len() > MAX_PATH_LEN {
            return Err(InvalidPath::TooLong);
        }
        if path.chars().any(|c| c.is_control()) {
            return Err(InvalidPath::ControlCharacter);
        }
        if path.starts_with('/') {
            return Err(InvalidPath::Absolute);
        }
        if path.contains('\\') {
            return Err(InvalidPath::Backslash);
        }
        if path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        {
            return Err(InvalidPath::BadComponent);
        }
        if path
            .split('/')
            .any(|c| c.starts_with(char::is_whitespace) || c.ends_with(char::is_whitespace))
        {
            return Err(InvalidPath::EdgeWhitespace);
        }
        Ok(RemotePath(path.to_owned()))
    }

    /// Validates one component (a file or directory name): as [`new`](Self::new), and no `/`.
    pub fn validate_name(name: &str) -> Result<(), InvalidPath> {
        if name.contains('/') {
            return Err(InvalidPath::BadComponent);
        }
        RemotePath::new(name).map(|_| ())
    }

    /// `self/name`, with `name` validated as a path (it may contain `/`).
    pub fn join(&self, name: &str) -> Result<Self, InvalidPath> {
        RemotePath::new(&format!("{}/{}", self.0, name))
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, in order.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The parent directory, or `None` for a single component.
    pub fn parent(&self) -> Option<RemotePath> {
        self.0
            .rfind('/')
            .map(|i| RemotePath(self.0[..i].to_owned()))
    }
}

impl fmt::Debug for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemotePath({:?})", self.0)
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for RemotePath {
    type Err = InvalidPath;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RemotePath::new(s)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accepts_relative_paths() {
        for ok in [
            "a",
            "chat.txt",
            "room/logs/abc.log",
            "ünï côdé/文件.txt",
            "a b",
        ] {
            assert_eq!(RemotePath::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_injection_and_traversal() {
        use InvalidPath::*;
        let cases = [
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("a\r\nDELE x", ControlCharacter),
            ("a\nb", ControlCharacter),
            ("a\0b", ControlCharacter),
            ("a\rb", ControlCharacter),
            ("..", BadComponent),
            ("a/../../b", BadComponent),
            ("./a", BadComponent),
            ("a//b", BadComponent),
            ("a/", BadComponent),
            ("a\\..\\b", Backslash),
            (" a", EdgeWhitespace),
            ("a /b", EdgeWhitespace),
            ("dir/b\t", ControlCharacter),
        ];
        for (bad, want) in cases {
            assert_eq!(RemotePath::new(bad), Err(want), "{bad:?}");
        }
        assert_eq!(RemotePath::new(&"x".repeat(MAX_PATH_LEN + 1)), Err(TooLong));
    }

    #[test]
    fn join_validates_and_parent_splits() {
        let p = RemotePath::new("room").unwrap();
        let q = p.join("logs/a.log").unwrap();
        assert_eq!(q.file_name(), "a.log");
        assert_eq!(q.parent().unwrap().as_str(), "room/logs");
        assert!(p.join("../x").is_err());
        assert!(p.join("x\r\n").is_err());
        assert_eq!(
            RemotePath::validate_name("a/b"),
            Err(InvalidPath::BadComponent)
        );
        assert!(p.parent().is_none());
    }
}
