//! The one error type of the local store, and how SQLite's errors map onto it.

use std::io;
use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// Why a [`LocalStore`](crate::LocalStore) call failed. Never a panic: a damaged file, a
/// file from a newer ftpchat, a full disk or a lock held too long are all errors here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file is not a store or is damaged (SQLite's `SQLITE_CORRUPT` or `SQLITE_NOTADB`,
    /// another program's database, or a stored value this version cannot read).
    ///
    /// **Recovery**: drop every [`LocalStore`](crate::LocalStore) of this file, delete it
    /// with [`LocalStore::remove`](crate::LocalStore::remove) (the file and its `-wal` and
    /// `-shm` companions) and open it again: the store starts empty and each room reads its
    /// history from the server again. Nothing is lost that the server still holds; what
    /// only this store held (nothing yet, at this stage) is gone.
    #[error(
        "the local store {} is damaged ({detail}); delete it (LocalStore::remove) and the \
         rooms will read their history from the server again",
        path.display()
    )]
    Corrupt {
        /// The store's file.
        path: PathBuf,
        /// What SQLite or the store found wrong.
        detail: String,
    },
    /// The file was written by a newer ftpchat (its schema version is higher than this
    /// version knows); it is left as it is. Use the newer ftpchat, or delete the file as
    /// for [`StoreError::Corrupt`].
    #[error(
        "the local store {} has schema version {version}, newer than this ftpchat knows \
         ({supported}); use a newer ftpchat",
        path.display()
    )]
    Newer {
        /// The store's file.
        path: PathBuf,
        /// The schema version found in the file.
        version: i64,
        /// The highest schema version this ftpchat knows.
        supported: i64,
    },
    /// Another connection (another process using the same file) held the store locked
    /// longer than the busy timeout. Transient: try again later.
    #[error("the local store {} is locked by another process", path.display())]
    Busy {
        /// The store's file.
        path: PathBuf,
    },
    /// Reading or writing the file failed: permissions, a full disk, an I/O error, a
    /// missing folder.
    #[error("local store I/O on {}: {source}", path.display())]
    Io {
        /// The store's file.
        path: PathBuf,
        /// The error (its kind says which: `PermissionDenied`, `StorageFull`, ...).
        #[source]
        source: io::Error,
    },
    /// Any other SQLite failure: a limit reached, or a bug in ftpchat.
    #[error("local store {}: {detail}", path.display())]
    Database {
        /// The store's file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
}

impl StoreError {
    /// `true` for errors that may go away when retried (a lock held by another process).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Busy { .. })
    }

    /// Classifies an error of SQLite (or of rusqlite's conversions) on the store at `path`.
    pub(crate) fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        let path = path.to_path_buf();
        match &e {
            E::SqliteFailure(failure, _) => match failure.code {
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt {
                    path,
                    detail: e.to_string(),
                },
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy { path },
                ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DiskFull
                | ErrorCode::ReadOnly
                | ErrorCode::PermissionDenied
                | ErrorCode::FileLockingProtocolFailed
                | ErrorCode::NoLargeFileSupport => {
                    let kind = match failure.code {
                        ErrorCode::DiskFull => io::ErrorKind::StorageFull,
                        ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                            io::ErrorKind::PermissionDenied
                        }
                        _ => io::ErrorKind::Other,
                    };
                    StoreError::Io {
                        path,
                        source: io::Error::new(kind, e),
                    }
                }
                _ => StoreError::Database {
                    path,
                    detail: e.to_string(),
                },
            },
            // A stored value of the wrong type or out of range: written by something else.
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::Utf8Error(..)
            | E::InvalidColumnType(..) => StoreError::Corrupt {
                path,
                detail: e.to_string(),
            },
            _ => StoreError::Database {
                path,
                detail: e.to_string(),
            },
        }
    }

    pub(crate) fn corrupt(path: &Path, detail: impl Into<String>) -> Self {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}
