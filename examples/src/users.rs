//! The users file of the embedded FTP server: one line per user, so an admin grants access
//! by adding a line and revokes it by deleting the line.
//!
//! ```text
//! # name:pbkdf2-sha256$<iterations>$<salt, base64>$<hash, base64>
//! alice:pbkdf2-sha256$100000$q3mX1YJ9mC0d3VbqRj3z2A==$4y0Q...=
//! ```
//!
//! - Blank lines and lines starting with `#` are ignored.
//! - A name is everything before the first `:`: no spaces, no `:`, at most 64 bytes.
//! - The password is stored as a salted PBKDF2-HMAC-SHA256 hash (16 random bytes of salt,
//!   [`DEFAULT_ITERATIONS`] iterations, 32 bytes of output, standard base64), never in
//!   plain text. Make a line with `serve add-user` or [`user_line`].
//! - The file is read again at every login ([`UsersFileAuthenticator`]): a change takes
//!   effect at the next login, without restarting the server. Sessions already logged in
//!   are not cut.
//! - A malformed line is skipped (and logged); it never grants access.

use std::path::{Path, PathBuf};

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use unftp_core::auth::{AuthenticationError, Authenticator, Credentials, Principal};

/// The hash scheme written in the users file.
pub const SCHEME: &str = "pbkdf2-sha256";
/// PBKDF2 iterations for new password hashes (a login costs one derivation).
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// Iterations accepted when reading a line (bounds the work a hostile file can cause).
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// The longest user name accepted.
pub const MAX_NAME_LEN: usize = 64;

// ring's PBKDF2 (already in the build through rustls): optimised even in debug builds, so
// a login check costs milliseconds, not most of a second. Verification is constant-time.
static PBKDF2: ring::pbkdf2::Algorithm = ring::pbkdf2::PBKDF2_HMAC_SHA256;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;

/// A user name that can be written to the users file and sent as an FTP `USER`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.starts_with('#')
        && name
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && c != ':')
}

/// A salted hash of `password` in the users-file format (`pbkdf2-sha256$...`).
pub fn hash_password(password: &str) -> String {
    let salt: [u8; SALT_LEN] = ftpchat_core::codec::random_bytes();
    hash_with(password, &salt, DEFAULT_ITERATIONS)
}

/// The users-file hash of `password` with the given salt and iterations.
pub fn hash_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let mut out = [0u8; HASH_LEN];
    let rounds = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    ring::pbkdf2::derive(PBKDF2, rounds, salt, password.as_bytes(), &mut out);
    format!(
        "{SCHEME}${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    )
}

/// A complete users-file line (`name:hash`) for `name` and `password`.
pub fn user_line(name: &str, password: &str) -> Result<String, UsersFileError> {
    if !valid_name(name) {
        return Err(UsersFileError::InvalidName(name.to_owned()));
    }
    Ok(format!("{name}:{}", hash_password(password)))
}

/// `true` when `password` matches a stored hash (compared in constant time). A hash that
/// does not parse matches nothing.
pub fn verify(stored: &str, password: &str) -> bool {
    let Some((iterations, salt, expected)) = parse_hash(stored) else {
        return false;
    };
    ring::pbkdf2::verify(PBKDF2, iterations, &salt, password.as_bytes(), &expected).is_ok()
}

fn parse_hash(stored: &str) -> Option<(NonZeroU32, Vec<u8>, [u8; HASH_LEN])> {
    let mut parts = stored.split('$');
    if parts.next()? != SCHEME {
        return None;
    }
    let iterations: NonZeroU32 = parts.next()?.parse().ok()?;
    if iterations.get() > MAX_ITERATIONS {
        return None;
    }
    let salt = STANDARD.decode(parts.next()?).ok()?;
    let hash: [u8; HASH_LEN] = STANDARD.decode(parts.next()?).ok()?.try_into().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((iterations, salt, hash))
}

/// One user of the users file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    /// The login name.
    pub name: String,
    /// The stored hash (`pbkdf2-sha256$...`).
    pub hash: String,
}

/// A users file, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    /// The valid entries, in file order.
    pub entries: Vec<UserEntry>,
    /// Lines that were skipped: (1-based line number, why).
    pub skipped: Vec<(usize, String)>,
}

impl Users {
    /// Parses the text of a users file (see the [module documentation](self)).
    pub fn parse(text: &str) -> Users {
        let mut users = Users::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                users.skipped.push((i + 1, "no ':' separator".into()));
                continue;
            };
            if !valid_name(name) {
                users.skipped.push((i + 1, "invalid user name".into()));
                continue;
            }
            if parse_hash(hash).is_none() {
                users
                    .skipped
                    .push((i + 1, format!("not a {SCHEME} hash (use `serve add-user`)")));
                continue;
            }
            users.entries.push(UserEntry {
                name: name.to_owned(),
                hash: hash.to_owned(),
            });
        }
        users
    }

    /// Reads and parses a users file.
    pub fn load(path: &Path) -> std::io::Result<Users> {
        Ok(Users::parse(&std::fs::read_to_string(path)?))
    }

    /// The first entry for `name`.
    pub fn find(&self, name: &str) -> Option<&UserEntry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Why the users file could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum UsersFileError {
    /// The name cannot be used (see [`valid_name`]).
    #[error("invalid user name {0:?}: no spaces or ':', 1 to 64 bytes")]
    InvalidName(String),
    /// The name is already in the file.
    #[error("user {0:?} is already in the users file (delete its line first)")]
    Exists(String),
    /// Reading or writing failed.
    #[error("users file: {0}")]
    Io(#[from] std::io::Error),
}

/// Appends a line for `name` to the users file at `path` (created with its folder if
/// missing, mode 0600 on Unix).
pub fn add_user(path: &Path, name: &str, password: &str) -> Result<(), UsersFileError> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    if Users::parse(&existing).find(name).is_some() {
        return Err(UsersFileError::Exists(name.to_owned()));
    }
    let line = user_line(name, password)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&line);
    text.push('\n');
    write_private(path, text.as_bytes())?;
    Ok(())
}

/// Writes a file readable only by its owner (on Unix), replacing it.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// libunftp authenticator that checks logins against a users file, read again at every
/// login. Unlisted users get `BadUser`; a wrong password gets `BadPassword` (which the
/// server's failed-logins policy counts).
#[derive(Debug, Clone)]
pub struct UsersFileAuthenticator {
    path: PathBuf,
}

impl UsersFileAuthenticator {
    /// Checks logins against the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UsersFileAuthenticator { path: path.into() }
    }

    /// The blocking check: `Ok(())` for a listed user with the right password.
    pub fn check(&self, username: &str, password: &str) -> Result<(), AuthenticationError> {
        let users = Users::load(&self.path).map_err(|e| {
            log::error!("users file {}: {e}", self.path.display());
            AuthenticationError::with_source("cannot read the users file", e)
        })?;
        for (line, why) in &users.skipped {
            log::warn!(
                "users file {} line {line} skipped: {why}",
                self.path.display()
            );
        }
        match users.find(username) {
            Some(entry) if verify(&entry.hash, password) => Ok(()),
            Some(_) => Err(AuthenticationError::BadPassword),
            None => {
                // Same work as a real check, so timing does not tell who is listed.
                let _ = verify(&hash_with("", b"timing", DEFAULT_ITERATIONS), password);
                Err(AuthenticationError::BadUser)
            }
        }
    }
}

#[async_trait::async_trait]
impl Authenticator for UsersFileAuthenticator {
    async fn authenticate(
        &self,
        username: &str,
        creds: &Credentials,
    ) -> Result<Principal, AuthenticationError> {
        let password = zeroize::Zeroizing::new(creds.password.clone().unwrap_or_default());
        let me = self.clone();
        let name = username.to_owned();
        let result = tokio::task::spawn_blocking(move || me.check(&name, &password))
            .await
            .map_err(|e| AuthenticationError::with_source("login check failed", e))?;
        result.map(|()| Principal {
            username: username.to_owned(),
        })
    }

    fn name(&self) -> &str {
        "users-file"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("pw");
        let b = hash_password("pw");
        assert_ne!(a, b, "random salt");
        assert!(a.starts_with("pbkdf2-sha256$100000$"));
        assert!(verify(&a, "pw"));
        assert!(!verify(&a, "pW"));
        assert!(!verify("garbage", "pw"));
        assert!(!verify("pbkdf2-sha256$0$AA==$AA==", "pw"));
    }

    #[test]
    fn parses_lines_and_skips_bad_ones() {
        let good = user_line("alice", "pw").unwrap();
        let text = format!(
            "# comment\n\n{good}\nbob\nbad name:{h}\ncarol:plaintext\n  {good2}  \n",
            h = hash_password("x"),
            good2 = user_line("dave", "pw2").unwrap()
        );
        let users = Users::parse(&text);
        let names: Vec<_> = users.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["alice", "dave"]);
        let lines: Vec<_> = users.skipped.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [4, 5, 6]);
        assert!(verify(&users.find("dave").unwrap().hash, "pw2"));
    }

    #[test]
    fn standard_pbkdf2_so_other_tools_can_make_lines() {
        // RFC 7914 section 11 / common PBKDF2-HMAC-SHA256 vector (P="password", S="salt", c=1).
        let expected =
            hex_to_base64("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
        assert_eq!(
            hash_with("password", b"salt", 1),
            format!("pbkdf2-sha256$1$c2FsdA==${expected}")
        );
        assert!(verify(&hash_with("password", b"salt", 1), "password"));
    }

    fn hex_to_base64(hex: &str) -> String {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        STANDARD.encode(bytes)
    }

    #[test]
    fn names() {
        assert!(valid_name("alice"));
        assert!(valid_name("a.b-c_d@x"));
        for bad in ["", "a b", "a:b", "#a", "a\n", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(user_line("a:b", "x").is_err());
    }

    #[test]
    fn add_user_appends_and_refuses_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        add_user(&path, "alice", "one").unwrap();
        add_user(&path, "bob", "two").unwrap();
        assert!(matches!(
            add_user(&path, "alice", "three"),
            Err(UsersFileError::Exists(_))
        ));
        let auth = UsersFileAuthenticator::new(&path);
        assert!(auth.check("alice", "one").is_ok());
        assert!(auth.check("bob", "two").is_ok());
        assert!(matches!(
            auth.check("bob", "one"),
            Err(AuthenticationError::BadPassword)
        ));
        assert!(matches!(
            auth.check("eve", "one"),
            Err(AuthenticationError::BadUser)
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0);
        }
    }
}
