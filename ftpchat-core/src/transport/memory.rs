//! An in-memory [`Transport`] for tests, examples and the engine's own unit tests.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind};

/// Gives every store its own number so `describe()` tells two stores apart.
static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

/// An in-memory [`Transport`] for tests, examples and the engine's own unit tests.
///
/// [`MemoryTransport`] keeps files and directories in one shared map. Cloning it is cheap
/// and the clone sees the same store, so two "clients" of one room can share a server.
/// Its semantics follow a POSIX file system (and what FTP servers do on top of one):
/// parents must exist, `make_dir` refuses an existing entry, `rename` replaces a file
/// target, `remove_dir` refuses a non-empty directory.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    store: Arc<Mutex<Store>>,
    id: u64,
}

#[derive(Debug)]
enum Node {
    File(Vec<u8>),
    Dir,
}

/// Every file and directory below the (implicit, always present) root, keyed by its
/// full path. Sorted keys make a directory's descendants one contiguous range.
#[derive(Debug, Default)]
struct Store {
    nodes: BTreeMap<String, Node>,
}

impl MemoryTransport {
    /// Makes a new, empty store.
    pub fn new() -> Self {
        MemoryTransport {
            store: Arc::new(Mutex::new(Store::default())),
            id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// `true` when `self` and `other` share one store (one is a clone of the other).
    #[cfg(any(test, feature = "testing"))]
    pub fn same_store(&self, other: &MemoryTransport) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // breaks its invariants (each operation is one insert/remove sequence), so recover.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Default for MemoryTransport {
    fn default() -> Self {
        Self::new()
    }
}

fn not_found(operation: &'static str, path: &RemotePath) -> TransportError {
    TransportError::new(
        TransportErrorKind::NotFound,
        operation,
        format!("{path}: no such file or directory"),
    )
}

fn permanent(operation: &'static str, path: &RemotePath, why: &str) -> TransportError {
    TransportError::new(
        TransportErrorKind::Permanent,
        operation,
        format!("{path}: {why}"),
    )
}

/// The part of `key` below `dir/`, when `key` is inside `dir` (at any depth).
fn strip_dir<'k>(key: &'k str, dir: &str) -> Option<&'k str> {
    key.strip_prefix(dir)?.strip_prefix('/')
}

impl Store {
    /// Checks that the directory `path` would live in exists.
    fn check_parent(
        &self,
        operation: &'static str,
        path: &RemotePath,
    ) -> Result<(), TransportError> {
        let Some(parent) = path.parent() else {
            return Ok(()); // the root always exists
        };
        match self.nodes.get(parent.as_str()) {
            Some(Node::Dir) => Ok(()),
            Some(Node::File(_)) => Err(permanent(operation, &parent, "not a directory")),
            None => Err(not_found(operation, &parent)),
        }
    }

    /// The keys of everything below `dir`, at any depth.
    fn descendants(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn has_children(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.nodes
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(key, _)| key.starts_with(&prefix))
    }

    fn rename(&mut self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "rename";
        let from_is_dir = match self.nodes.get(from.as_str()) {
            None => return Err(not_found(OP, from)),
            Some(Node::Dir) => true,
            Some(Node::File(_)) => false,
        };
        self.check_parent(OP, to)?;
        if from == to {
            return Ok(());
        }
        match (from_is_dir, self.nodes.get(to.as_str())) {
            (false, Some(Node::Dir)) => return Err(permanent(OP, to, "is a directory")),
            (true, Some(Node::File(_))) => return Err(permanent(OP, to, "not a directory")),
            (true, Some(Node::Dir)) if self.has_children(to.as_str()) => {
                return Err(permanent(OP, to, "directory not empty"));
            }
            _ => {}
        }
        if from_is_dir && strip_dir(to.as_str(), from.as_str()).is_some() {
            return Err(permanent(OP, to, "cannot move a directory into itself"));
        }
        if let Some(node) = self.nodes.remove(from.as_str()) {
            self.nodes.insert(to.as_str().to_owned(), node);
        }
        if from_is_dir {
            for old_key in self.descendants(from.as_str()) {
                if let Some(node) = self.nodes.remove(&old_key) {
                    let rest = &old_key[from.as_str().len()..]; // starts with '/'
                    self.nodes.insert(format!("{to}{rest}"), node);
                }
            }
        }
        Ok(())
    }
}

impl Transport for MemoryTransport {
    fn capabilities(&self) -> Capabilities {
        // write_new checks and inserts under the store's one lock: atomic.
        Capabilities::new(true, true, true, true).with_create_only(true)
    }

    fn describe(&self) -> String {
        format!("memory://store-{}", self.id)
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        match self.lock().nodes.get(path.as_str()) {
            None => Ok(None),
            Some(Node::File(data)) => Ok(Some(data.len() as u64)),
            Some(Node::Dir) => Err(permanent("size", path, "is a directory")),
        }
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        // Copy the tail out so a slow sink does not hold the lock.
        let tail = match self.lock().nodes.get(path.as_str()) {
            None => return Err(not_found("read_from", path)),
            Some(Node::Dir) => return Err(permanent("read_from", path, "is a directory")),
            Some(Node::File(data)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                data[start..].to_vec()
            }
        };
        sink.write_all(&tail).map_err(|e| {
            TransportError::from_io("read_from", format!("{path}: writing to sink"), e)
        })?;
        Ok(tail.len() as u64)
    }

    fn append(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let mut store = self.lock();
        store.check_parent("append", path)?;
        match store
            .nodes
            .entry(path.as_str().to_owned())
            .or_insert_with(|| Node::File(Vec::new()))
        {
            Node::File(contents) => {
                contents.extend_from_slice(data);
                Ok(())
            }
            Node::Dir => Err(permanent("append", path, "is a directory")),
        }
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let mut store = self.lock();
        store.check_parent("write_atomic", path)?;
        if let Some(Node::Dir) = store.nodes.get(path.as_str()) {
            return Err(permanent("write_atomic", path, "is a directory"));
        }
        store
            .nodes
            .insert(path.as_str().to_owned(), Node::File(data.to_vec()));
        Ok(())
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        let mut store = self.lock();
        store.check_parent("write_new", path)?;
        if store.nodes.contains_key(path.as_str()) {
            return Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                "write_new",
                format!("{path}: already exists"),
            ));
        }
        store
            .nodes
            .insert(path.as_str().to_owned(), Node::File(data.to_vec()));
        Ok(())
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        let store = self.lock();
        match store.nodes.get(dir.as_str()) {
            None => return Err(not_found("list", dir)),
            Some(Node::File(_)) => return Err(permanent("list", dir, "not a directory")),
            Some(Node::Dir) => {}
        }
        let prefix = format!("{dir}/");
        let entries = store
            .nodes
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter_map(|(key, node)| {
                let name = &key[prefix.len()..];
                if name.contains('/') {
                    return None; // deeper than a direct child
                }
                Some(match node {
                    Node::File(data) => DirEntry {
                        name: name.to_owned(),
                        is_dir: false,
                        size: Some(data.len() as u64),
                    },
                    Node::Dir => DirEntry {
                        name: name.to_owned(),
                        is_dir: true,
                        size: None,
                    },
                })
            })
            .collect();
        Ok(entries)
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let mut store = self.lock();
        store.check_parent("make_dir", path)?;
        if store.nodes.contains_key(path.as_str()) {
            return Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                "make_dir",
                format!("{path}: already exists"),
            ));
        }
        store.nodes.insert(path.as_str().to_owned(), Node::Dir);
        Ok(())
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        let mut store = self.lock();
        match store.nodes.get(path.as_str()) {
            None => Err(not_found("remove_file", path)),
            Some(Node::Dir) => Err(permanent("remove_file", path, "is a directory")),
            Some(Node::File(_)) => {
                store.nodes.remove(path.as_str());
                Ok(())
            }
        }
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        let mut store = self.lock();
        match store.nodes.get(path.as_str()) {
            None => Err(not_found("remove_dir", path)),
            Some(Node::File(_)) => Err(permanent("remove_dir", path, "not a directory")),
            Some(Node::Dir) if store.has_children(path.as_str()) => {
                Err(permanent("remove_dir", path, "directory not empty"))
            }
            Some(Node::Dir) => {
                store.nodes.remove(path.as_str());
                Ok(())
            }
        }
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        self.lock().rename(from, to)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::transport::read_all;

    fn p(s: &str) -> RemotePath {
        RemotePath::new(s).unwrap()
    }

    #[test]
    fn clones_share_the_store_and_new_stores_do_not() {
        let a = MemoryTransport::new();
        let b = a.clone();
        let c = MemoryTransport::new();
        a.append(&p("f"), b"hi").unwrap();
        assert_eq!(b.size(&p("f")).unwrap(), Some(2));
        assert_eq!(c.size(&p("f")).unwrap(), None);
        assert!(a.same_store(&b));
        assert!(!a.same_store(&c));
        assert_eq!(a.describe(), b.describe());
        assert_ne!(a.describe(), c.describe());
    }

    #[test]
    fn parent_that_is_a_file_is_permanent() {
        let t = MemoryTransport::new();
        t.append(&p("f"), b"x").unwrap();
        let err = t.append(&p("f/g"), b"x").unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent);
        let err = t.make_dir(&p("f/d")).unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Permanent);
    }

    #[test]
    fn directories_refuse_file_operations() {
        let t = MemoryTransport::new();
        t.make_dir(&p("d")).unwrap();
        for err in [
            t.size(&p("d")).unwrap_err(),
            t.read_from(&p("d"), 0, &mut Vec::new()).unwrap_err(),
            t.append(&p("d"), b"x").unwrap_err(),
            t.write_atomic(&p("d"), b"x").unwrap_err(),
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
            t.list(&p("f")).unwrap_err().kind(),
            TransportErrorKind::Permanent
        );
        // make_dir over a file is "exists", as mkdir(2) says.
        assert_eq!(
            t.make_dir(&p("f")).unwrap_err().kind(),
            TransportErrorKind::AlreadyExists
        );
    }

    #[test]
    fn renaming_a_directory_moves_its_subtree_only() {
        let t = MemoryTransport::new();
        t.make_dir(&p("a")).unwrap();
        t.make_dir(&p("a/sub")).unwrap();
        t.append(&p("a/sub/f"), b"deep").unwrap();
        t.append(&p("a/g"), b"top").unwrap();
        // A sibling sharing the prefix "a" must not move.
        t.append(&p("ab"), b"sibling").unwrap();
        t.rename(&p("a"), &p("z")).unwrap();
        assert_eq!(read_all(&t, &p("z/sub/f")).unwrap(), b"deep");
        assert_eq!(read_all(&t, &p("z/g")).unwrap(), b"top");
        assert_eq!(read_all(&t, &p("ab")).unwrap(), b"sibling");
        assert_eq!(
            t.list(&p("a")).unwrap_err().kind(),
            TransportErrorKind::NotFound
        );
    }

    #[test]
    fn directory_rename_edge_cases() {
        let t = MemoryTransport::new();
        t.make_dir(&p("a")).unwrap();
        t.make_dir(&p("empty")).unwrap();
        t.make_dir(&p("full")).unwrap();
        t.append(&p("full/f"), b"x").unwrap();
        t.append(&p("file"), b"x").unwrap();
        let kind = |r: Result<(), TransportError>| r.unwrap_err().kind();
        assert_eq!(
            kind(t.rename(&p("a"), &p("a/inner"))),
            TransportErrorKind::Permanent
        );
        assert_eq!(
            kind(t.rename(&p("a"), &p("file"))),
            TransportErrorKind::Permanent
        );
        assert_eq!(
            kind(t.rename(&p("a"), &p("full"))),
            TransportErrorKind::Permanent
        );
        assert_eq!(
            kind(t.rename(&p("file"), &p("a"))),
            TransportErrorKind::Permanent
        );
        // Like rename(2): a directory may replace an empty directory.
        t.rename(&p("a"), &p("empty")).unwrap();
        assert!(t.list(&p("empty")).unwrap().is_empty());
        // Renaming onto itself is a no-op.
        t.rename(&p("file"), &p("file")).unwrap();
        assert_eq!(t.size(&p("file")).unwrap(), Some(1));
    }

    #[test]
    fn list_shows_direct_children_only() {
        let t = MemoryTransport::new();
        t.make_dir(&p("d")).unwrap();
        t.make_dir(&p("d/sub")).unwrap();
        t.append(&p("d/sub/deep"), b"x").unwrap();
        t.append(&p("d/f"), b"abc").unwrap();
        t.append(&p("d-other"), b"x").unwrap();
        let entries = t.list(&p("d")).unwrap();
        assert_eq!(
            entries,
            vec![
                DirEntry {
                    name: "f".into(),
                    is_dir: false,
                    size: Some(3)
                },
                DirEntry {
                    name: "sub".into(),
                    is_dir: true,
                    size: None
                },
            ]
        );
    }
}
