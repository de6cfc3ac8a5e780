//! A [`Transport`] over a folder on the local disk (or a synced folder).

use std::fs::{self, Metadata, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind};

/// Makes temporary names unique among the threads of this process (the pid covers other
/// processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How much of the target's name a temporary name keeps, so the temporary name stays
/// within the usual 255-byte limit of a file name.
const TEMP_NAME_KEEP: usize = 160;

/// A [`Transport`] over a folder on the local disk (or a synced folder).
///
/// Every [`RemotePath`] is resolved below the root given to [`LocalTransport::new`].
///
/// - `append` opens the file with `O_APPEND` and writes the data with one `write_all`, so
///   concurrent appends from several processes on one machine do not interleave (on local
///   file systems; network file systems may not honour `O_APPEND`).
/// - `read_from` seeks and streams into the sink; the file is never loaded whole.
/// - `write_atomic` writes `.{name}.tmp-{pid}-{counter}` in the same directory, flushes it
///   to disk, then renames it over the target. A crash can leave such a temporary file
///   behind; it starts with a dot so listings can skip it.
/// - Nothing is fsynced after `append`: durability is the file system's default.
///
/// # Confinement
///
/// `RemotePath` already refuses `..`, absolute paths and backslashes, and each component
/// is checked again here to be one plain name on this platform (so `C:` cannot restart a
/// path on Windows).
///
/// **Symbolic links are never followed below the root.** A shared or synchronised folder
/// can be written by others, and a planted `logs/<id>.log -> ~/.profile` would otherwise make
/// this client append to (or read) a file outside the folder. Every component below the root
/// must be a real directory, and the entry an operation acts on a regular file or a
/// directory: anything else (a symbolic link, also to a directory, a FIFO, a device, a
/// socket) fails with [`TransportErrorKind::PermissionDenied`], and nothing is read,
/// written, created, renamed or removed through it (removing a link is refused too, so its
/// target is certainly not touched). Files are opened with `O_NOFOLLOW` (and `O_NONBLOCK`,
/// so a planted FIFO cannot block a read) on Unix, so the last component cannot be swapped
/// for a link between the check and the open. `list` reports such entries as files of
/// unknown size, so a caller sees them and gets the typed error when it uses them.
///
/// The directories above an entry are checked with `symlink_metadata` just before the
/// operation: someone who can replace one of them with a link at that very moment can still
/// redirect that one operation. The root itself may be a link (the user chose it).
#[derive(Debug, Clone)]
pub struct LocalTransport {
    root: PathBuf,
}

/// The operation name of `append` and `append_from` in errors.
const APPEND: &str = "append";

impl LocalTransport {
    /// A transport rooted at `root`. The folder is not created or checked here; operations
    /// under a missing root fail with [`TransportErrorKind::NotFound`].
    ///
    /// A relative root is made absolute against the current directory now, so a later
    /// change of directory does not move the store.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        LocalTransport { root }
    }

    /// The folder this transport works in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens `path` for appending (`O_APPEND`, created if missing, no links followed), and
    /// refuses anything but a regular file.
    fn open_append(&self, path: &RemotePath) -> Result<fs::File, TransportError> {
        let full = self.resolve(APPEND, path)?;
        let file = open_options()
            .append(true)
            .create(true)
            .open(&full)
            .map_err(|e| open_error(APPEND, path, &full, e))?;
        // O_NOFOLLOW stopped links; a FIFO or device opened anyway gets no data.
        let meta = file.metadata().map_err(|e| io_error(APPEND, path, e))?;
        check_type(APPEND, path, &meta)?;
        Ok(file)
    }

    /// The local path of `path`, checking each component is one plain name here and that
    /// every directory on the way below the root is a real directory, not a symbolic link
    /// (see [Confinement](LocalTransport#confinement)). The last component is the caller's to check.
    fn resolve(
        &self,
        operation: &'static str,
        path: &RemotePath,
    ) -> Result<PathBuf, TransportError> {
        let mut full = self.root.clone();
        let mut names = path.components().peekable();
        // Once a directory is missing, the operation fails with NotFound by itself.
        let mut check = true;
        while let Some(name) = names.next() {
            let mut parts = Path::new(name).components();
            match (parts.next(), parts.next()) {
                (Some(Component::Normal(part)), None) if part == name => full.push(part),
                _ => {
                    return Err(TransportError::new(
                        TransportErrorKind::InvalidPath,
                        "path",
                        format!("{path}: {name:?} is not a plain file name on this system"),
                    ))
                }
            }
            if check && names.peek().is_some() {
                match fs::symlink_metadata(&full) {
                    Ok(meta) if meta.is_dir() => {}
                    Ok(meta) if meta.file_type().is_symlink() => {
                        return Err(refused(
                            operation,
                            path,
                            &format!("{name} is a symbolic link"),
                        ))
                    }
                    // A file where a directory should be: the operation fails (not a
                    // directory) without following anything.
                    Ok(_) => check = false,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => check = false,
                    Err(e) => return Err(io_error(operation, path, e)),
                }
            }
        }
        Ok(full)
    }
}

/// What the entry at `full` is, without following a link: `None` when nothing is there.
/// Anything but a regular file or a directory is refused.
fn entry_kind(
    operation: &'static str,
    path: &RemotePath,
    full: &Path,
) -> Result<Option<Metadata>, TransportError> {
    match fs::symlink_metadata(full) {
        Ok(meta) => {
            check_type(operation, path, &meta)?;
            Ok(Some(meta))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(operation, path, e)),
    }
}

/// Refuses `meta` unless it is a regular file or a directory.
fn check_type(
    operation: &'static str,
    path: &RemotePath,
    meta: &Metadata,
) -> Result<(), TransportError> {
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        Err(refused(operation, path, "is a symbolic link"))
    } else if !file_type.is_file() && !file_type.is_dir() {
        Err(refused(
            operation,
            path,
            "is not a regular file or directory",
        ))
    } else {
        Ok(())
    }
}

/// Maps a failed open of `full`: a link or special file there (refused by `O_NOFOLLOW`
/// with `ELOOP`, or a FIFO without a reader with `ENXIO`) is the typed refusal.
fn open_error(
    operation: &'static str,
    path: &RemotePath,
    full: &Path,
    err: io::Error,
) -> TransportError {
    match fs::symlink_metadata(full) {
        Ok(meta) if meta.is_dir() => is_a_directory(operation, path),
        Ok(meta) => match check_type(operation, path, &meta) {
            Err(refusal) => refusal,
            Ok(()) => io_error(operation, path, err),
        },
        Err(_) => io_error(operation, path, err),
    }
}

/// Options that never follow a link in the last component and never block on a FIFO.
fn open_options() -> OpenOptions {
    #[allow(unused_mut)] // only Unix adds flags
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options
}

fn refused(operation: &'static str, path: &RemotePath, what: &str) -> TransportError {
    TransportError::new(
        TransportErrorKind::PermissionDenied,
        operation,
        format!("{path}: {what}; the folder transport follows no links and opens no special files"),
    )
}

fn io_error(operation: &'static str, path: &RemotePath, err: io::Error) -> TransportError {
    TransportError::from_io(operation, path.to_string(), err)
}

fn is_a_directory(operation: &'static str, path: &RemotePath) -> TransportError {
    TransportError::new(
        TransportErrorKind::Permanent,
        operation,
        format!("{path}: is a directory"),
    )
}

/// `.{name}.tmp-{pid}-{counter}`, with `name` cut (at a character boundary) if long.
fn temp_name(name: &str) -> String {
    let mut keep = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(".{}.tmp-{}-{}", &name[..keep], std::process::id(), counter)
}

/// Writes `data` to a new file at `temp`, flushed to disk.
fn write_new_file(temp: &Path, data: &[u8]) -> io::Result<()> {
    let mut file = open_options().write(true).create_new(true).open(temp)?;
    file.write_all(data)?;
    file.sync_all()
}

impl Transport for LocalTransport {
    fn capabilities(&self) -> Capabilities {
        // write_new: a complete temporary file hard-linked to the name (link(2) fails when
        // the name exists): atomic, and never a partly written file under the name.
        Capabilities::new(true, true, true, true).with_create_only(true)
    }

    fn describe(&self) -> String {
        let shown = self.root.display().to_string().replace('\\', "/");
        if shown.starts_with('/') {
            format!("file://{shown}")
        } else {
            format!("file:///{shown}") // a Windows drive path, `C:/...`
        }
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        const OP: &str = "size";
        match entry_kind(OP, path, &self.resolve(OP, path)?)? {
            Some(meta) if meta.is_dir() => Err(is_a_directory(OP, path)),
            Some(meta) => Ok(Some(meta.len())),
            None => Ok(None),
        }
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        const OP: &str = "read_from";
        let full = self.resolve(OP, path)?;
        let mut file = open_options()
            .read(true)
            .open(&full)
            .map_err(|e| open_error(OP, path, &full, e))?;
        let meta = file.metadata().map_err(|e| io_error(OP, path, e))?;
        if meta.is_dir() {
            return Err(is_a_directory(OP, path));
        }
        check_type(OP, path, &meta)?;
        if offset >= meta.len() {
            // Also covers a file that grows right now: the caller reads again later.
            return Ok(0);
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(OP, path, e))?;
        io::copy(&mut file, sink).map_err(|e| io_error(OP, path, e))
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let mut file = self.open_append(path)?;
        // One write_all on an O_APPEND file: the kernel positions each write at the end.
        file.write_all(data).map_err(|e| io_error(APPEND, path, e))
    }

    fn append_from(
        &self,
        path: &RemotePath,
        source: &mut dyn std::io::Read,
    ) -> Result<u64, TransportError> {
        const OP: &str = APPEND;
        let mut file = self.open_append(path)?;
        // One open file, written as the source yields (O_APPEND puts each write at the end).
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(TransportError::from_io(
                        OP,
                        format!("{path}: reading the data to send failed"),
                        e,
                    ))
                }
            };
            file.write_all(&buf[..n])
                .map_err(|e| io_error(OP, path, e))?;
            total += n as u64;
        }
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "write_atomic";
        let full = self.resolve(OP, path)?;
        // The rename would replace a link rather than write through it; refuse it anyway,
        // like every other operation on a link.
        if entry_kind(OP, path, &full)?.is_some_and(|m| m.is_dir()) {
            return Err(is_a_directory(OP, path));
        }
        let temp = full.with_file_name(temp_name(path.file_name()));
        let result = write_new_file(&temp, data).and_then(|()| fs::rename(&temp, &full));
        result.map_err(|e| {
            // Best effort: the temporary file may not exist if creating it failed.
            let _ = fs::remove_file(&temp);
            io_error(OP, path, e)
        })
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "write_new";
        let full = self.resolve(OP, path)?;
        if entry_kind(OP, path, &full)?.is_some() {
            return Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                OP,
                format!("{path}: already exists"),
            ));
        }
        // Written completely under a temporary name first, then linked to the real name:
        // link(2) refuses an existing name (EEXIST) atomically and does not follow a link,
        // so a racing writer loses cleanly and a reader never sees half the data.
        let temp = full.with_file_name(temp_name(path.file_name()));
        let result = write_new_file(&temp, data).and_then(|()| fs::hard_link(&temp, &full));
        let _ = fs::remove_file(&temp);
        result.map_err(|e| match entry_kind(OP, path, &full) {
            Err(refusal) => refusal,
            Ok(_) => io_error(OP, path, e),
        })
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        const OP: &str = "list";
        let full = self.resolve(OP, dir)?;
        // read_dir follows a link: check the directory itself first.
        entry_kind(OP, dir, &full)?;
        let mut entries = Vec::new();
        for entry in fs::read_dir(&full).map_err(|e| io_error(OP, dir, e))? {
            let entry = entry.map_err(|e| io_error(OP, dir, e))?;
            let Ok(name) = entry.file_name().into_string() else {
                log::debug!("list {dir}: skipping a name that is not UTF-8");
                continue;
            };
            if RemotePath::validate_name(&name).is_err() {
                log::debug!("list {dir}: skipping {name:?}, not a valid remote name");
                continue;
            }
            // Not followed: the entry's own type.
            let meta = match fs::symlink_metadata(entry.path()) {
                Ok(meta) => meta,
                // Removed since read_dir saw it: not there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(OP, dir, e)),
            };
            let file_type = meta.file_type();
            if !file_type.is_file() && !file_type.is_dir() {
                // Reported, not followed: every operation on it fails with PermissionDenied,
                // so a room shows it as unreadable instead of silently ignoring it.
                log::warn!("list {dir}: {name:?} is a symbolic link or special file; not followed");
                entries.push(DirEntry {
                    name,
                    is_dir: false,
                    size: None,
                });
                continue;
            }
            let is_dir = meta.is_dir();
            entries.push(DirEntry {
                name,
                is_dir,
                size: (!is_dir).then_some(meta.len()),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "make_dir";
        let full = self.resolve(OP, path)?;
        // mkdir(2) does not follow a link; say it is one rather than "already exists", so
        // make_dir_all does not carry on into it.
        fs::create_dir(&full).map_err(|e| match entry_kind(OP, path, &full) {
            Err(refusal) => refusal,
            Ok(_) => io_error(OP, path, e),
        })
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_file";
        let full = self.resolve(OP, path)?;
        // unlink(2) on a directory is EPERM on some systems; say what it really is.
        if entry_kind(OP, path, &full)?.is_some_and(|m| m.is_dir()) {
            return Err(is_a_directory(OP, path));
        }
        fs::remove_file(full).map_err(|e| io_error(OP, path, e))
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_dir";
        let full = self.resolve(OP, path)?;
        entry_kind(OP, path, &full)?;
        fs::remove_dir(full).map_err(|e| io_error(OP, path, e))
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "rename";
        let (full_from, full_to) = (self.resolve(OP, from)?, self.resolve(OP, to)?);
        entry_kind(OP, from, &full_from)?;
        entry_kind(OP, to, &full_to)?;
        fs::rename(full_from, full_to)
            .map_err(|e| TransportError::from_io(OP, format!("{from} -> {to}"), e))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn p(s: &str) -> RemotePath {
        RemotePath::new(s).unwrap()
    }

    #[test]
    fn describe_is_a_file_url_of_the_absolute_root() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        let described = t.describe();
        assert!(described.starts_with("file:///"), "{described}");
        assert!(described.ends_with(
            &dir.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string()
        ));
        let relative = LocalTransport::new("some/relative");
        assert!(relative.root().is_absolute());
    }

    #[test]
    fn files_land_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("room")).unwrap();
        t.append(&p("room/a.log"), b"hello").unwrap();
        assert_eq!(
            fs::read(dir.path().join("room").join("a.log")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn write_atomic_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.write_atomic(&p("header"), b"one").unwrap();
        t.write_atomic(&p("header"), b"two").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["header"]);
        assert_eq!(fs::read(dir.path().join("header")).unwrap(), b"two");
    }

    #[test]
    fn failed_write_atomic_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("d")).unwrap();
        let err = t.write_atomic(&p("d"), b"x").unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent);
        let err = t.write_atomic(&p("missing/f"), b"x").unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::NotFound);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_works_for_long_names() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        // 240 bytes of multi-byte characters: the temporary name must be cut, at a
        // character boundary, to stay within the 255-byte name limit.
        let name = "é".repeat(120);
        t.write_atomic(&p(&name), b"x").unwrap();
        assert_eq!(t.size(&p(&name)).unwrap(), Some(1));
    }

    #[test]
    fn temp_names_are_unique_and_hidden() {
        let a = temp_name("x.txt");
        let b = temp_name("x.txt");
        assert_ne!(a, b);
        assert!(a.starts_with(".x.txt.tmp-"));
        assert!(temp_name(&"é".repeat(200)).len() < 255);
    }

    #[test]
    fn missing_root_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path().join("nope"));
        assert_eq!(t.size(&p("f")).unwrap(), None);
        assert_eq!(
            t.append(&p("f"), b"x").unwrap_err().kind(),
            TransportErrorKind::NotFound
        );
        assert_eq!(
            t.list(&p("d")).unwrap_err().kind(),
            TransportErrorKind::NotFound
        );
    }

    #[test]
    fn directories_refuse_file_operations() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("d")).unwrap();
        for err in [
            t.size(&p("d")).unwrap_err(),
            t.read_from(&p("d"), 0, &mut Vec::new()).unwrap_err(),
            t.append(&p("d"), b"x").unwrap_err(),
            t.remove_file(&p("d")).unwrap_err(),
        ] {
            assert_eq!(err.kind(), TransportErrorKind::Permanent, "{err}");
        }
        t.append(&p("f"), b"x").unwrap();
        assert_eq!(
            t.remove_dir(&p("f")).unwrap_err().kind(),
            TransportErrorKind::Permanent
        );
        assert_eq!(
            t.make_dir(&p("f")).unwrap_err().kind(),
            TransportErrorKind::AlreadyExists
        );
    }

    #[test]
    fn list_skips_names_that_are_not_valid_remote_names() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("d")).unwrap();
        fs::write(dir.path().join("d").join("ok"), b"1").unwrap();
        // A backslash is a legal name byte on Unix but can never be a RemotePath.
        #[cfg(unix)]
        fs::write(dir.path().join("d").join("a\\b"), b"1").unwrap();
        let names: Vec<_> = t
            .list(&p("d"))
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec!["ok"]);
    }

    #[cfg(unix)]
    #[test]
    fn list_reports_symlinks_without_following_them() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("d")).unwrap();
        t.append(&p("d/target"), b"12345").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("d").join("link")).unwrap();
        std::os::unix::fs::symlink("gone", dir.path().join("d").join("dangling")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("d").join("up")).unwrap();
        let entries = t.list(&p("d")).unwrap();
        let shown: Vec<_> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.is_dir, e.size))
            .collect();
        assert_eq!(
            shown,
            [
                ("dangling", false, None),
                ("link", false, None),
                ("target", false, Some(5)),
                ("up", false, None)
            ]
        );
        for name in ["d/link", "d/dangling", "d/up"] {
            let err = t.size(&p(name)).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::PermissionDenied, "{err}");
        }
    }
}
