//! Commands without a data connection of their own, each with the quirks of the servers it
//! was measured on (see the module documentation of [`ftp`](super)): `SIZE`, `CWD` checks,
//! `MKD`, `DELE`, `RMD`, `RNFR`/`RNTO`, and listings (`MLSD`, else `LIST`, else `NLST`).

use suppaftp::{FtpError, Status};

use super::listing::{self, Line};
use super::reply::{Failure, ReplyCode};
use super::session::{Features, Session};
use crate::transport::{DirEntry, RemotePath, TransportErrorKind};

/// What `SIZE` said: a size, no such file (`Ok(None)`), or `Err(Unsupported)`.
pub(super) type SizeReply = Result<Option<u64>, Unsupported>;

/// The server does not implement the command (500, 502, 504).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unsupported;

impl Session {
    /// `SIZE`, with 550 meaning "no such file".
    pub(super) fn size_of(&mut self, path: &str) -> Result<SizeReply, Failure> {
        match self.ftp.size(path) {
            Ok(n) => Ok(Ok(Some(n as u64))),
            Err(err) => match ReplyCode::of(&err) {
                Some(ReplyCode::FILE_UNAVAILABLE) => Ok(Ok(None)),
                Some(code) if code.is_unsupported() => Ok(Err(Unsupported)),
                _ => Err(self.fail("size", path, err)),
            },
        }
    }

    /// Whether `path` is a file `SIZE` knows (libunftp reports a size for directories too).
    fn has_size(&mut self, path: &str) -> Result<bool, Failure> {
        Ok(matches!(self.size_of(path)?, Ok(Some(_))))
    }

    /// `size` of the transport: `SIZE`, remembering when the server has none.
    pub(super) fn size(
        &mut self,
        features: &mut Features,
        path: &RemotePath,
    ) -> Result<SizeReply, Failure> {
        if features.size == Some(false) {
            return Ok(Err(Unsupported));
        }
        let result = self.size_of(path.as_str())?;
        if result.is_err() {
            features.size = Some(false);
        }
        Ok(result)
    }

    /// `CWD path` and back: whether `path` is a directory. Leaves the working directory as
    /// it was (an error returning is a lost connection).
    pub(super) fn dir_exists(&mut self, path: &str) -> Result<bool, Failure> {
        match self.ftp.cwd(path) {
            Ok(()) => {
                self.return_home(path)?;
                Ok(true)
            }
            Err(err) if ReplyCode::of(&err).is_some_and(ReplyCode::is_permanent_refusal) => {
                Ok(false)
            }
            Err(err) => Err(self.fail("stat", path, err)),
        }
    }

    fn return_home(&mut self, from: &str) -> Result<(), Failure> {
        let result = match &self.home {
            Some(home) => self.ftp.cwd(home.as_str()),
            None => (0..from.split('/').count()).try_for_each(|_| self.ftp.cdup()),
        };
        result.map_err(|err| {
            // The working directory is now unknown: the connection must be replaced.
            let mut failure = self.fail("stat", "return to the root directory", err);
            failure.connection_lost = true;
            failure
        })
    }

    /// `MKD`; a refusal is settled by looking (servers say 550 for "exists" too).
    pub(super) fn make_dir(&mut self, path: &RemotePath) -> Result<(), Failure> {
        let name = path.as_str();
        let err = match self.ftp.mkdir(name) {
            Ok(()) => return Ok(()),
            Err(err @ FtpError::UnexpectedResponse(_)) => err,
            Err(err) => return Err(self.fail("make_dir", name, err)),
        };
        // 521 is "already exists" on some servers; others (libunftp, vsftpd, pyftpdlib) say
        // 550, so look.
        if ReplyCode::of(&err) == Some(ReplyCode::ALREADY_EXISTS)
            || self.dir_exists(name)?
            || self.has_size(name)?
        {
            return Err(Failure::new(
                TransportErrorKind::AlreadyExists,
                "make_dir",
                format!("{name}: already exists"),
            ));
        }
        let failure = self.fail("make_dir", name, err);
        if failure.error.kind() != TransportErrorKind::NotFound {
            return Err(failure);
        }
        // 550 for a path that does not exist: a missing parent, or a refusal.
        let parent_missing = match path.parent() {
            Some(parent) => !self.dir_exists(parent.as_str())?,
            None => false,
        };
        if parent_missing {
            Err(failure)
        } else {
            Err(failure.with_kind(TransportErrorKind::PermissionDenied))
        }
    }

    /// `DELE`; a 550 is settled by looking (vsftpd says "Delete operation failed" either way).
    pub(super) fn remove_file(&mut self, path: &RemotePath) -> Result<(), Failure> {
        let name = path.as_str();
        let failure = match self.ftp.rm(name) {
            Ok(()) => return Ok(()),
            Err(err) => self.fail("remove_file", name, err),
        };
        if !failure.is(ReplyCode::FILE_UNAVAILABLE) {
            return Err(failure);
        }
        // Check for a directory first: libunftp reports a size for directories.
        let kind = if self.dir_exists(name)? {
            TransportErrorKind::Permanent
        } else if self.has_size(name)? {
            TransportErrorKind::PermissionDenied
        } else {
            TransportErrorKind::NotFound
        };
        Err(failure.with_kind(kind))
    }

    /// `RMD`; a 550 is not found, or refused (not empty, not a directory, no permission).
    pub(super) fn remove_dir(&mut self, path: &RemotePath) -> Result<(), Failure> {
        let name = path.as_str();
        let failure = match self.ftp.rmdir(name) {
            Ok(()) => return Ok(()),
            Err(err) => self.fail("remove_dir", name, err),
        };
        if !failure.is(ReplyCode::FILE_UNAVAILABLE) {
            return Err(failure);
        }
        if self.dir_exists(name)? {
            Err(failure.with_kind(TransportErrorKind::Permanent))
        } else if self.has_size(name)? {
            Err(Failure::new(
                TransportErrorKind::Permanent,
                "remove_dir",
                format!("{name}: not a directory"),
            ))
        } else {
            Err(failure.with_kind(TransportErrorKind::NotFound))
        }
    }

    /// `RNFR`+`RNTO`; when the target exists and the server refuses to replace it, `DELE`
    /// it and try once more.
    pub(super) fn rename(
        &mut self,
        operation: &'static str,
        from: &RemotePath,
        to: &RemotePath,
    ) -> Result<(), Failure> {
        let (from, to) = (from.as_str(), to.as_str());
        let mut target_removed = false;
        loop {
            if let Err(e) = self
                .ftp
                .custom_command(format!("RNFR {from}"), &[Status::RequestFilePending])
            {
                // Nothing was renamed yet.
                return Err(self.fail(operation, from, e).retry_safe(true));
            }
            let err = match self.ftp.custom_command(
                format!("RNTO {to}"),
                &[Status::RequestedFileActionOk, Status::CommandOk],
            ) {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let refused = matches!(err, FtpError::UnexpectedResponse(_));
            // Some servers refuse to replace an existing file: remove it, try again.
            if refused && !target_removed && self.has_size(to)? {
                if let Err(e) = self.ftp.rm(to) {
                    return Err(self.fail(operation, to, e));
                }
                target_removed = true;
                continue;
            }
            return Err(self.fail(operation, to, err));
        }
    }

    /// `list` of the transport: `MLSD` if the server has it, else `LIST` or `NLST`
    /// ([`list_without_mlsd`](Self::list_without_mlsd)).
    pub(super) fn list(
        &mut self,
        features: &mut Features,
        dir: &str,
    ) -> Result<Vec<DirEntry>, Failure> {
        if features.mlsd != Some(false) {
            match self.listing_lines("MLSD", dir) {
                Ok(lines) => {
                    let mut entries = Vec::new();
                    let mut unparsable = 0;
                    for line in &lines {
                        match listing::parse_mlsd_line(line) {
                            Line::Entry(e) => entries.push(e),
                            Line::Skip => {}
                            Line::Unparsable => unparsable += 1,
                        }
                    }
                    if unparsable == 0 {
                        features.mlsd = Some(true);
                        return Ok(entries);
                    }
                    log::debug!("ftp: {unparsable} MLSD line(s) not understood; using LIST");
                }
                // Unsupported: LIST for the rest of the session.
                Err(f) if f.is_unsupported() => features.mlsd = Some(false),
                Err(f) => return Err(self.missing_dir_or(dir, f)),
            }
        }
        self.list_without_mlsd(features, dir)
            .map_err(|f| self.missing_dir_or(dir, f))
    }

    /// `LIST -a` (vsftpd hides dot files from plain `LIST`), else `LIST`, falling back to
    /// `NLST` + `SIZE` when lines are not understood. An empty listing is confirmed with
    /// `CWD` (vsftpd lists a missing directory as empty).
    fn list_without_mlsd(
        &mut self,
        features: &mut Features,
        dir: &str,
    ) -> Result<Vec<DirEntry>, Failure> {
        // A directory starting with '-' would read as options.
        let try_all = features.list_all != Some(false) && !dir.starts_with('-');
        let lines = if try_all {
            match self.listing_lines("LIST -a", dir) {
                Ok(lines) => {
                    features.list_all = Some(true);
                    lines
                }
                Err(f) if f.is_permanent_refusal() => {
                    let lines = self.listing_lines("LIST", dir)?;
                    features.list_all = Some(false);
                    lines
                }
                Err(f) => return Err(f),
            }
        } else {
            self.listing_lines("LIST", dir)?
        };
        let mut entries = Vec::new();
        let mut understood = true;
        for line in &lines {
            match listing::parse_list_line(line) {
                Line::Entry(e) => entries.push(e),
                Line::Skip => {}
                Line::Unparsable => {
                    understood = false;
                    break;
                }
            }
        }
        if !understood {
            entries.clear();
            for line in self.listing_lines("NLST", dir)? {
                let Some(name) = listing::parse_nlst_line(&line) else {
                    continue;
                };
                let full = if dir == "." {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                let entry = match self.size_of(&full)? {
                    Ok(Some(size)) => DirEntry {
                        name,
                        is_dir: false,
                        size: Some(size),
                    },
                    _ if self.dir_exists(&full)? => DirEntry {
                        name,
                        is_dir: true,
                        size: None,
                    },
                    _ => DirEntry {
                        name,
                        is_dir: false,
                        size: None,
                    },
                };
                entries.push(entry);
            }
        }
        if entries.is_empty() && dir != "." && !self.dir_exists(dir)? {
            return Err(Failure::new(
                TransportErrorKind::NotFound,
                "list",
                format!("{dir}: no such directory"),
            ));
        }
        Ok(entries)
    }

    /// A refused listing of a directory that does not exist is `NotFound`, whatever the
    /// reply (pyftpdlib answers `MLSD` of a missing directory with 501).
    fn missing_dir_or(&mut self, dir: &str, failure: Failure) -> Failure {
        if !failure.is_permanent_refusal() || failure.error.kind() == TransportErrorKind::NotFound {
            return failure;
        }
        match self.dir_exists(dir) {
            Ok(false) => Failure::new(
                TransportErrorKind::NotFound,
                "list",
                format!("{dir}: no such directory ({})", failure.error),
            ),
            Ok(true) => failure,
            Err(lost) => lost,
        }
    }

    /// A refused upload (`APPE`, `STOR`) into a directory that does not exist is `NotFound`
    /// (vsftpd answers 553 "Could not create file" either way).
    pub(super) fn missing_parent_or(
        &mut self,
        operation: &'static str,
        path: &str,
        failure: Failure,
    ) -> Failure {
        let refused =
            failure.is(ReplyCode::FILE_UNAVAILABLE) || failure.is(ReplyCode::NAME_NOT_ALLOWED);
        let Some((parent, _)) = path.rsplit_once('/') else {
            return failure;
        };
        if !refused {
            return failure;
        }
        match self.dir_exists(parent) {
            Ok(false) => Failure::new(
                TransportErrorKind::NotFound,
                operation,
                format!("{parent}: no such directory ({})", failure.error),
            ),
            Ok(true) => failure,
            Err(lost) => lost,
        }
    }
}
