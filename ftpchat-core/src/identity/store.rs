//! The local identity file (SPEC §16.5): parsing and formatting are pure; only
//! [`DeviceIdentity::load_or_create`] touches the file system.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::error::IdentityError;
use super::keys::{DeviceIdentity, PublicIdentity};
use crate::crypto::random_bytes;

/// The identity file's name inside the caller's state folder.
pub const IDENTITY_FILE_NAME: &str = "device-identity";
/// The first line's word before the version.
const MAGIC: &str = "ftpchat-identity";
/// The version this build writes and reads.
const FILE_VERSION: &str = "1";
/// Larger files are refused as corrupt (a version 1 file is about 200 bytes).
const MAX_FILE_LEN: u64 = 1024;

/// The identity file's text (secret: the caller zeroizes it).
pub(crate) fn format_identity_file(id: &DeviceIdentity) -> Zeroizing<String> {
    let secrets = id.secret_bytes();
    // Built in a buffer large enough from the start: no reallocation leaves a copy behind.
    let mut out = Zeroizing::new(String::with_capacity(MAX_FILE_LEN as usize));
    for (line, secret) in [
        ("ed25519-seed ", &secrets[..32]),
        ("x25519-secret ", &secrets[32..]),
    ] {
        if out.is_empty() {
            out.push_str(MAGIC);
            out.push(' ');
            out.push_str(FILE_VERSION);
            out.push('\n');
        }
        out.push_str(line);
        out.push_str(&Zeroizing::new(URL_SAFE_NO_PAD.encode(secret)));
        out.push('\n');
    }
    out.push_str("public ");
    out.push_str(&id.public().to_string());
    out.push('\n');
    out
}

/// Reads an identity file's text. Pure.
pub(crate) fn parse_identity_file(text: &[u8]) -> Result<DeviceIdentity, IdentityError> {
    if text.is_empty() {
        return Err(IdentityError::TruncatedFile);
    }
    let text = std::str::from_utf8(text).map_err(|_| IdentityError::CorruptFile {
        reason: "not UTF-8 text",
    })?;
    // A file cut inside its first line.
    if !text.contains('\n') && format!("{MAGIC} {FILE_VERSION}").starts_with(text) {
        return Err(IdentityError::TruncatedFile);
    }
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or_default();
    let version = first
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(IdentityError::CorruptFile {
            reason: "not a ftpchat identity file",
        })?;
    if version != FILE_VERSION {
        return Err(IdentityError::UnsupportedFileVersion {
            version: version.chars().take(32).collect(),
        });
    }
    // Every line ends with LF: after the last one, `split` yields one empty string.
    let rest: Vec<&str> = lines.collect();
    if rest.len() < 4 {
        return Err(IdentityError::TruncatedFile);
    }
    if rest.len() > 4 || !rest[3].is_empty() {
        return Err(IdentityError::CorruptFile {
            reason: "unexpected data after the last field",
        });
    }
    let mut ed = Zeroizing::new([0u8; 32]);
    let mut x = Zeroizing::new([0u8; 32]);
    decode_field(rest[0], "ed25519-seed", &mut ed)?;
    decode_field(rest[1], "x25519-secret", &mut x)?;
    let public: PublicIdentity = rest[2]
        .strip_prefix("public ")
        .ok_or(IdentityError::CorruptFile {
            reason: "expected the field \"public\"",
        })?
        .parse()
        .map_err(|_| IdentityError::CorruptFile {
            reason: "the public identity is malformed",
        })?;
    let id = DeviceIdentity::from_secret_bytes_inner(&mut ed, &mut x);
    if id.public() != public {
        return Err(IdentityError::CorruptFile {
            reason: "the public identity does not match the secret keys",
        });
    }
    Ok(id)
}

fn decode_field(line: &str, name: &'static str, out: &mut [u8; 32]) -> Result<(), IdentityError> {
    let value = line
        .strip_prefix(name)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or(IdentityError::CorruptFile {
            reason: "a field is missing or out of order",
        })?;
    let bytes =
        Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| IdentityError::CorruptFile {
                    reason: "a secret key is not valid base64url",
                })?,
        );
    if bytes.len() != 32 {
        return Err(IdentityError::CorruptFile {
            reason: "a secret key does not have 32 bytes",
        });
    }
    out.copy_from_slice(&bytes);
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> IdentityError + '_ {
    move |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl DeviceIdentity {
    /// The device's identity from `dir/device-identity`, or a new one saved there if the
    /// file does not exist (`dir` is created if needed).
    ///
    /// The file is written atomically (a `0600` temporary file in `dir`, then linked or
    /// renamed into place) and read without following symbolic links. An existing file
    /// that cannot be read is an error and is left untouched: replacing it would silently
    /// change this device's identity.
    ///
    /// # Errors
    /// [`IdentityError::NotARegularFile`] for a symbolic link or anything but a regular
    /// file at that path; [`IdentityError::TruncatedFile`],
    /// [`IdentityError::CorruptFile`], [`IdentityError::UnsupportedFileVersion`] for a bad
    /// file; [`IdentityError::Io`] for file system errors.
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join(IDENTITY_FILE_NAME);
        match fs::symlink_metadata(&path) {
            Ok(_) => read_identity_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
                let id = Self::generate();
                match write_new(dir, &path, &id)? {
                    true => Ok(id),
                    // Another process created it first: use theirs.
                    false => read_identity_file(&path),
                }
            }
            Err(e) => Err(io_err(&path)(e)),
        }
    }
}

fn read_identity_file(path: &Path) -> Result<DeviceIdentity, IdentityError> {
    let meta = fs::symlink_metadata(path).map_err(io_err(path))?;
    if !meta.file_type().is_file() {
        return Err(IdentityError::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // A link planted between the check above and this open still is not followed;
        // O_NONBLOCK so a FIFO swapped in cannot block the open.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return IdentityError::NotARegularFile {
                path: path.to_path_buf(),
            };
        }
        io_err(path)(e)
    })?;
    if !file.metadata().map_err(io_err(path))?.file_type().is_file() {
        return Err(IdentityError::NotARegularFile {
            path: path.to_path_buf(),
        });
    }
    // Capacity for the largest accepted file plus one, so the secret is never reallocated
    // (a reallocation would leave an unzeroized copy behind).
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_FILE_LEN as usize + 1));
    file.take(MAX_FILE_LEN + 1)
        .read_to_end(&mut text)
        .map_err(io_err(path))?;
    if text.len() as u64 > MAX_FILE_LEN {
        return Err(IdentityError::CorruptFile {
            reason: "the file is too large",
        });
    }
    parse_identity_file(&text)
}

/// Writes `id` to `path` if nothing is there. `Ok(false)` if another file appeared first.
fn write_new(dir: &Path, path: &Path, id: &DeviceIdentity) -> Result<bool, IdentityError> {
    let tmp: PathBuf = dir.join(format!(
        ".{IDENTITY_FILE_NAME}.{}.tmp",
        hex_lower(&random_bytes::<8>())
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    let result = (|| {
        let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
        file.write_all(format_identity_file(id).as_bytes())
            .map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        // A hard link never replaces an existing file; fall back to rename on file
        // systems without hard links (after checking again that nothing is there).
        match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(_) => match fs::symlink_metadata(path) {
                Ok(_) => Ok(false),
                Err(_) => fs::rename(&tmp, path).map(|()| true).map_err(io_err(path)),
            },
        }
    })();
    let _ = fs::remove_file(&tmp);
    if result.is_ok() {
        // Make the new name durable (best effort: not every platform can open a folder).
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    result
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any bytes are an identity or a typed error, never a panic.
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = parse_identity_file(&bytes);
        }
    }

    #[test]
    fn file_round_trip() {
        let id = DeviceIdentity::generate();
        let text = format_identity_file(&id);
        let back = parse_identity_file(text.as_bytes()).unwrap();
        assert_eq!(back.public(), id.public());
    }

    #[test]
    fn every_cut_of_a_file_is_an_error() {
        let id = DeviceIdentity::generate();
        let text = format_identity_file(&id);
        for cut in 0..text.len() {
            let err = parse_identity_file(&text.as_bytes()[..cut]).err().unwrap();
            assert!(
                matches!(
                    err,
                    IdentityError::TruncatedFile | IdentityError::CorruptFile { .. }
                ),
                "cut at {cut}: {err:?}"
            );
        }
        // Cut at a line end or inside the last field: truncated.
        let lf = text.find('\n').unwrap();
        assert!(matches!(
            parse_identity_file(&text.as_bytes()[..=lf]),
            Err(IdentityError::TruncatedFile)
        ));
        assert!(matches!(
            parse_identity_file(&text.as_bytes()[..text.len() - 1]),
            Err(IdentityError::TruncatedFile)
        ));
    }

    #[test]
    fn unknown_version_and_mismatched_public_are_typed() {
        let id = DeviceIdentity::generate();
        let text =
            format_identity_file(&id).replacen("ftpchat-identity 1", "ftpchat-identity 2", 1);
        assert!(matches!(
            parse_identity_file(text.as_bytes()),
            Err(IdentityError::UnsupportedFileVersion { version }) if version == "2"
        ));
        let other = DeviceIdentity::generate();
        let text = format_identity_file(&id);
        let public_line = format!("public {}\n", id.public());
        let swapped = text.replace(&public_line, &format!("public {}\n", other.public()));
        assert!(matches!(
            parse_identity_file(swapped.as_bytes()),
            Err(IdentityError::CorruptFile { .. })
        ));
        let extra = format!("{}more\n", text.as_str());
        assert!(matches!(
            parse_identity_file(extra.as_bytes()),
            Err(IdentityError::CorruptFile { .. })
        ));
    }
}
