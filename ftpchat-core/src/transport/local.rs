//! A [`Transport`] over a folder on the local disk (or a synced folder).
//!
//! Every [`RemotePath`] is resolved below the root given to [`LocalTransport::new`].
//!
//! - `append` opens the file with `O_APPEND` and writes the data with one `write_all`, so
//!   concurrent appends from several processes on one machine do not interleave (on local
//!   file systems; network file systems may not honour `O_APPEND`).
//! - `read_from` seeks and streams into the sink; the file is never loaded whole.
//! - `write_atomic` writes `.{name}.tmp-{pid}-{counter}` in the same directory, flushes it
//!   to disk, then renames it over the target. A crash can leave such a temporary file
//!   behind; it starts with a dot so listings can skip it.
//! - Nothing is fsynced after `append`: durability is the file system's default.
//!
//! # Confinement
//!
//! `RemotePath` already refuses `..`, absolute paths and backslashes, and each component
//! is checked again here to be one plain name on this platform (so `C:` cannot restart a
//! path on Windows). Symbolic links **inside** the root are followed like any other
//! file: the trait cannot create links, so only someone with access to the folder itself
//! can plant one, and they could read the files anyway. Do not point the root at a folder
//! that untrusted local users can write to.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind};

/// Makes temporary names unique among the threads of this process (the pid covers other
/// processes).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// How much of the target's name a temporary name keeps, so the temporary name stays
/// within the usual 255-byte limit of a file name.
const TEMP_NAME_KEEP: usize = 160;

/// A file store in a local folder. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct LocalTransport {
    root: PathBuf,
}

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

    /// The local path of `path`, checking each component is one plain name here.
    fn resolve(&self, path: &RemotePath) -> Result<PathBuf, TransportError> {
        let mut full = self.root.clone();
        for name in path.components() {
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
        }
        Ok(full)
    }
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
    let mut file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    file.write_all(data)?;
    file.sync_all()
}

impl Transport for LocalTransport {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true, true, true, true)
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
        match fs::metadata(self.resolve(path)?) {
            Ok(meta) if meta.is_dir() => Err(is_a_directory("size", path)),
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("size", path, e)),
        }
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        const OP: &str = "read_from";
        let mut file = File::open(self.resolve(path)?).map_err(|e| io_error(OP, path, e))?;
        let meta = file.metadata().map_err(|e| io_error(OP, path, e))?;
        if meta.is_dir() {
            return Err(is_a_directory(OP, path));
        }
        if offset >= meta.len() {
            // Also covers a file that grows right now: the caller reads again later.
            return Ok(0);
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| io_error(OP, path, e))?;
        io::copy(&mut file, sink).map_err(|e| io_error(OP, path, e))
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "append";
        let full = self.resolve(path)?;
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&full)
            .map_err(|e| io_error(OP, path, e))?;
        // One write_all on an O_APPEND file: the kernel positions each write at the end.
        file.write_all(data).map_err(|e| io_error(OP, path, e))
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "write_atomic";
        let full = self.resolve(path)?;
        if fs::metadata(&full).is_ok_and(|m| m.is_dir()) {
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

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        const OP: &str = "list";
        let full = self.resolve(dir)?;
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
            // fs::metadata follows symbolic links, as opening the entry would.
            let meta = match fs::metadata(entry.path()) {
                Ok(meta) => meta,
                // Removed since read_dir saw it, or a dangling link: not there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error(OP, dir, e)),
            };
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
        fs::create_dir(self.resolve(path)?).map_err(|e| io_error("make_dir", path, e))
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_file";
        let full = self.resolve(path)?;
        // unlink(2) on a directory is EPERM on some systems; say what it really is.
        if fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
            return Err(is_a_directory(OP, path));
        }
        fs::remove_file(full).map_err(|e| io_error(OP, path, e))
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        fs::remove_dir(self.resolve(path)?).map_err(|e| io_error("remove_dir", path, e))
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        fs::rename(self.resolve(from)?, self.resolve(to)?)
            .map_err(|e| TransportError::from_io("rename", format!("{from} -> {to}"), e))
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
    fn list_follows_symlinks_and_skips_dangling_ones() {
        let dir = tempfile::tempdir().unwrap();
        let t = LocalTransport::new(dir.path());
        t.make_dir(&p("d")).unwrap();
        t.append(&p("d/target"), b"12345").unwrap();
        std::os::unix::fs::symlink("target", dir.path().join("d").join("link")).unwrap();
        std::os::unix::fs::symlink("gone", dir.path().join("d").join("dangling")).unwrap();
        let entries = t.list(&p("d")).unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| e.size == Some(5) && !e.is_dir));
    }
}
