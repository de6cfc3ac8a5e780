//! Commands with a data connection: `RETR` (after `REST` when resuming) streamed into the
//! caller's sink, `APPE` and `STOR` uploads, and the listing downloads of
//! [`commands`](super::commands).

use std::io::{self, Read, Write};

use suppaftp::{FtpError, RustlsFtpStream, Status};

use super::reply::{Failure, ReplyCode};
use super::session::{Features, Session};
use crate::transport::{RemotePath, TransportError, TransportErrorKind};

/// The largest directory listing read (about 300,000 entries); more is an error.
const MAX_LISTING_BYTES: usize = 16 << 20;
/// Size of the buffer used to stream downloads into the caller's sink.
const COPY_BUFFER: usize = 64 * 1024;

/// The data connection of a transfer on the session's stream type.
type Transfer = TransferOf<RustlsFtpStream>;

/// Names `TransferStream<T>` for an `ImplFtpStream<T>` (suppaftp does not export `T`).
type TransferOf<S> = <S as HasTransfer>::Transfer;

/// Maps a suppaftp client type to its transfer stream type.
trait HasTransfer {
    type Transfer: Read;
}

impl<T: suppaftp::TlsStream> HasTransfer for suppaftp::ImplFtpStream<T> {
    type Transfer = suppaftp::TransferStream<T>;
}

/// Which part of a transfer failed.
enum DataError {
    /// Reading or writing the data connection.
    Network(io::Error),
    /// Writing into the caller's sink.
    Sink(io::Error),
}

impl Session {
    /// Reads a data connection opened by `open` to its end, handing chunks to `chunk`, then
    /// reads the transfer's completion reply. On failure, also returns the bytes delivered.
    fn read_data(
        &mut self,
        operation: &'static str,
        subject: &str,
        open: impl FnOnce(&mut RustlsFtpStream) -> Result<Transfer, FtpError>,
        mut chunk: impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<u64, (Failure, u64)> {
        let mut stream = open(&mut self.ftp).map_err(|e| (self.fail(operation, subject, e), 0))?;
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut total = 0u64;
        let outcome = loop {
            match stream.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    if let Err(e) = chunk(&buf[..n]) {
                        break Err(DataError::Sink(e));
                    }
                    total += n as u64;
                }
                // A TLS data connection closed without close_notify (pyftpdlib does this):
                // the completion reply below says whether the transfer was complete.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(DataError::Network(e)),
            }
        };
        let finished = stream.finish();
        match outcome {
            Ok(()) => match finished {
                Ok(()) => Ok(total),
                Err(e) => Err((self.fail(operation, subject, e), total)),
            },
            Err(DataError::Sink(e)) => Err((
                Failure {
                    error: TransportError::from_io(
                        operation,
                        format!("{subject}: writing to the sink failed"),
                        e,
                    ),
                    connection_lost: finished.is_err(),
                    retry_safe: false,
                    reply: None,
                },
                total,
            )),
            Err(DataError::Network(e)) => {
                let mut failure = self.fail(operation, subject, FtpError::ConnectionError(e));
                failure.connection_lost = true;
                Err((failure, total))
            }
        }
    }

    /// Lines of a listing command (`MLSD dir`, `LIST dir`, `NLST dir`).
    pub(super) fn listing_lines(
        &mut self,
        command: &str,
        dir: &str,
    ) -> Result<Vec<String>, Failure> {
        let mut bytes = Vec::new();
        let line = format!("{command} {dir}");
        self.read_data(
            "list",
            dir,
            |ftp| {
                ftp.custom_data_command(line, &[Status::AboutToSend, Status::AlreadyOpen])
                    .map(|(_, stream)| stream)
            },
            |chunk| {
                // A directory anyone can fill must not make a poll allocate without bound.
                if bytes.len() + chunk.len() > MAX_LISTING_BYTES {
                    return Err(io::Error::other(format!(
                        "the listing is larger than {} MiB",
                        MAX_LISTING_BYTES >> 20
                    )));
                }
                bytes.extend_from_slice(chunk);
                Ok(())
            },
        )
        .map_err(|(f, _)| f)?;
        Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect())
    }

    /// `read_from` of the transport: `REST start` + `RETR` into `sink`, or `RETR` skipping
    /// `start` bytes without `REST`. `delivered` counts the bytes handed to the sink across
    /// attempts, so a repeated attempt resumes after them.
    pub(super) fn read_from(
        &mut self,
        features: &mut Features,
        path: &RemotePath,
        offset: u64,
        delivered: &mut u64,
        sink: &mut dyn Write,
    ) -> Result<u64, Failure> {
        let name = path.as_str();
        loop {
            let start = offset + *delivered;
            let use_rest = start > 0 && features.rest != Some(false);
            // Without REST the whole file comes again: skip what is not wanted.
            let mut skip = if use_rest { 0 } else { start };
            let result = self.read_data(
                "read",
                name,
                |ftp| {
                    if use_rest {
                        ftp.resume_transfer(start as usize)?;
                    }
                    ftp.retr_as_stream(name)
                },
                |chunk| {
                    let drop_n = skip.min(chunk.len() as u64) as usize;
                    skip -= drop_n as u64;
                    let rest = &chunk[drop_n..];
                    if !rest.is_empty() {
                        sink.write_all(rest)?;
                        *delivered += rest.len() as u64;
                    }
                    Ok(())
                },
            );
            let failure = match result {
                Ok(_) => return Ok(*delivered),
                Err((failure, _)) => failure,
            };
            if failure.connection_lost {
                return Err(failure);
            }
            let no_such_file = || {
                Failure::new(
                    TransportErrorKind::NotFound,
                    "read",
                    format!("{name}: no such file"),
                )
            };
            // REST not implemented: read everything and skip.
            if use_rest && failure.is_unsupported() {
                features.rest = Some(false);
                continue;
            }
            if failure.is(ReplyCode::FILE_UNAVAILABLE) {
                // Missing, or refused for another reason.
                return match self.size_of(name)? {
                    Ok(None) => Err(no_such_file()),
                    _ => Err(failure),
                };
            }
            // REST past the end (pyftpdlib 554): nothing to read if the file is shorter.
            if failure.reply.is_some() && start > 0 {
                return match self.size_of(name)? {
                    Ok(Some(size)) if size <= start => Ok(*delivered),
                    Ok(None) => Err(no_such_file()),
                    _ => Err(failure),
                };
            }
            return Err(failure);
        }
    }

    /// `APPE`. Repeated on a new connection only if the data connection never opened.
    pub(super) fn append(&mut self, path: &RemotePath, mut data: &[u8]) -> Result<(), Failure> {
        self.append_from(path, &mut data).map(|_| ())
    }

    /// `APPE` streaming `source` over one data connection. Repeated on a new connection
    /// only if the data connection never opened; a failing `source` drops the connection
    /// (the server keeps what arrived).
    pub(super) fn append_from(
        &mut self,
        path: &RemotePath,
        source: &mut dyn Read,
    ) -> Result<u64, Failure> {
        let name = path.as_str();
        let mut stream = match self.ftp.append_with_stream(name) {
            Ok(stream) => stream,
            Err(e) => {
                // Nothing was sent yet, so this may be repeated on a new connection.
                let failure = self.fail("append", name, e).retry_safe(true);
                return Err(self.missing_parent_or("append", name, failure));
            }
        };
        let mut buf = vec![0u8; COPY_BUFFER];
        let mut total = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Failure {
                        error: TransportError::from_io(
                            "append",
                            format!("{name}: reading the data to send failed"),
                            e,
                        ),
                        connection_lost: true,
                        retry_safe: false,
                        reply: None,
                    })
                }
            };
            self.upload(stream.write_all(&buf[..n]), "append", name)?;
            total += n as u64;
        }
        self.upload(stream.flush(), "append", name)?;
        stream.finish().map_err(|e| self.fail("append", name, e))?;
        Ok(total)
    }

    /// `STOR` (to a name only this call uses: see `write_atomic`).
    pub(super) fn store(
        &mut self,
        operation: &'static str,
        path: &RemotePath,
        data: &[u8],
    ) -> Result<(), Failure> {
        let name = path.as_str();
        let mut stream = match self.ftp.put_with_stream(name) {
            Ok(stream) => stream,
            Err(e) => {
                let failure = self.fail(operation, name, e);
                return Err(self.missing_parent_or(operation, name, failure));
            }
        };
        self.upload(stream_write(&mut stream, data), operation, name)?;
        stream.finish().map_err(|e| self.fail(operation, name, e))
    }

    /// The outcome of writing an upload's data: a failure loses the connection (how much
    /// arrived is unknown, and the data connection's end is the only end-of-file marker).
    fn upload(
        &self,
        written: io::Result<()>,
        operation: &'static str,
        name: &str,
    ) -> Result<(), Failure> {
        written.map_err(|e| {
            let mut failure = self.fail(operation, name, FtpError::ConnectionError(e));
            failure.connection_lost = true;
            failure
        })
    }
}

/// Writes all of `data` to an upload's data connection.
fn stream_write(stream: &mut impl Write, data: &[u8]) -> io::Result<()> {
    stream.write_all(data).and_then(|()| stream.flush())
}

/// A unique hidden sibling of `path` for `write_atomic`: `.name.<random>.tmp`.
pub(super) fn temp_sibling(path: &RemotePath) -> Result<RemotePath, TransportError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| {
        TransportError::new(
            TransportErrorKind::Permanent,
            "write_atomic",
            format!("no randomness: {e}"),
        )
    })?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!(".{}.{suffix}.tmp", path.file_name());
    let temp = match path.parent() {
        Some(parent) => parent.join(&name)?,
        None => RemotePath::new(&name)?,
    };
    Ok(temp)
}
