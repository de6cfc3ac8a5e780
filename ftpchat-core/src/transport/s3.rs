//! S3 transport (`s3://bucket/prefix`) over Apache OpenDAL's S3 service (reqwest + rustls
//! with ring; no OpenSSL).
//!
//! Like the SFTP transport, it owns a private tokio runtime and runs each operation to
//! completion on it (`block_on`), so the [`Transport`] trait stays blocking and no runtime
//! leaks to the caller. Any thread may call it; one worker thread drives the connections.
//!
//! # How the trait maps onto objects
//!
//! | operation | S3 |
//! |---|---|
//! | `size` | `HeadObject` |
//! | `read_from` | one `GetObject` (ranged from the offset), streamed into the sink: one request whatever the size, and one version of the object even if it is replaced meanwhile; an offset at or past the end (`416`) reads nothing |
//! | `append` | refused ([`TransportErrorKind::Unsupported`]; [`Capabilities::append`] is `false`) |
//! | `write_atomic` | `PutObject` (a put replaces an object atomically) |
//! | `write_new` | `PutObject` with `If-None-Match: *` (atomic put-if-absent; [`Capabilities::create_only`]) |
//! | `list`, `list_after` | `ListObjectsV2` with delimiter `/` (and `start-after`, set just before `after` so that the answer holds `after` itself); a second one (`max-keys=1`) only when an answer after `after` is empty, to tell an empty directory from a missing one |
//! | `make_dir` | a `dir/` marker object (an empty put), after checking nothing is there: **not** atomic |
//! | `remove_file` | `HeadObject`, `DeleteObject` |
//! | `remove_dir` | refused while anything is below `dir/`, else the marker is deleted |
//! | `rename` | `CopyObject` + `DeleteObject` per object: **not** atomic (a crash leaves both names, a directory is moved object by object) |
//!
//! Directories follow the folder semantics the other transports have: a directory exists
//! when its `dir/` marker or any object below it exists, and writes need their parent
//! directory (one `HEAD`/`LIST` per write checks it), so the conformance suite runs
//! unchanged apart from `append`.
//!
//! Credentials never appear in `Debug`, `describe` or error messages.

use std::fmt;
use std::future::IntoFuture;
use std::io::Write;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use opendal::{ErrorKind as DalKind, Operator};

use super::open::S3Credentials;
use super::{
    page_after, Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind,
};

/// The region used when none is configured (every S3-compatible test server accepts it).
const DEFAULT_REGION: &str = "us-east-1";

/// Where and how to reach an S3 bucket; build one with [`S3Config::from_url`] or
/// [`S3Config::new`], then [`with_env`](Self::with_env) and the `with_*` methods.
#[derive(Clone)]
pub struct S3Config {
    bucket: String,
    prefix: String,
    endpoint: Option<String>,
    region: Option<String>,
    credentials: Option<S3Credentials>,
    timeout: Duration,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials) // redacted by its own Debug
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> TransportError {
    TransportError::new(TransportErrorKind::InvalidPath, "open", message)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl S3Config {
    /// The bucket and a key prefix (a folder in the bucket; empty for the whole bucket).
    /// The prefix is checked like a [`RemotePath`] (no CR, LF, NUL, `..`, empty parts).
    pub fn new(bucket: &str, prefix: &str) -> Result<Self, TransportError> {
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !bucket.starts_with(['.', '-'])
            && !bucket.ends_with(['.', '-']);
        if !valid_bucket {
            return Err(invalid(format!(
                "{bucket:?} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')"
            )));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() {
            RemotePath::new(prefix)?;
        }
        Ok(S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            credentials: None,
            timeout: Duration::from_secs(30),
        })
    }

    /// Parses `s3://bucket/prefix` (the prefix percent-decoded). Credentials are refused
    /// in the URL (they would end up in shell histories and logs): give them with
    /// [`with_credentials`](Self::with_credentials) or the environment.
    pub fn from_url(url: &str) -> Result<Self, TransportError> {
        let rest = url
            .split_once("://")
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("s3"))
            .map(|(_, rest)| rest)
            .ok_or_else(|| invalid("an S3 location starts with s3://"))?;
        if rest.contains(['?', '#']) {
            return Err(invalid(
                "an s3:// location takes no query or fragment (endpoint and credentials come from options or AWS_* variables)",
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.contains(['@', ':']) {
            return Err(invalid(
                "an s3:// location names only the bucket: give credentials and the endpoint as options or AWS_* environment variables, not in the URL",
            ));
        }
        let prefix = percent_decode(prefix)
            .ok_or_else(|| invalid("the s3:// prefix has a bad %-escape or is not UTF-8"))?;
        S3Config::new(bucket, &prefix)
    }

    /// Fills what is not set yet from the usual environment variables:
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, `AWS_REGION` or `AWS_DEFAULT_REGION`,
    /// `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`).
    pub fn with_env(mut self) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if self.endpoint.is_none() {
            self.endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        }
        if self.region.is_none() {
            self.region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
        }
        if self.credentials.is_none() {
            if let (Some(id), Some(secret)) =
                (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
            {
                let mut credentials = S3Credentials::new(id, secret);
                if let Some(token) = var("AWS_SESSION_TOKEN") {
                    credentials = credentials.with_session_token(token);
                }
                self.credentials = Some(credentials);
            }
        }
        self
    }

    /// The endpoint, e.g. `http://127.0.0.1:9000` (default: AWS for the region). Requests
    /// use path-style addressing (`endpoint/bucket/key`), which local servers need.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The region (default `us-east-1`).
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The access key; without any, requests are unsigned (public buckets).
    pub fn with_credentials(mut self, credentials: S3Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The time one request may take (default 30 s); a slower one is a transient error.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `s3://bucket/prefix`, with the endpoint when one is set; never a credential.
    pub fn describe(&self) -> String {
        let mut shown = format!("s3://{}", self.bucket);
        if !self.prefix.is_empty() {
            shown.push('/');
            shown.push_str(&self.prefix);
        }
        if let Some(endpoint) = &self.endpoint {
            shown.push_str(&format!(" at {endpoint}"));
        }
        shown
    }
}

/// An S3 bucket (or a prefix in one) as a [`Transport`]; see the [module](self) for how
/// each operation maps onto objects. Cheap to share: clone the `Arc` it is opened into.
pub struct S3Transport {
    describe: String,
    timeout: Duration,
    op: Operator,
    /// `Some` until dropped (shut down in the background so a drop never blocks).
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for S3Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Transport")
            .field("location", &self.describe)
            .finish_non_exhaustive()
    }
}

impl Drop for S3Transport {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Maps an OpenDAL error: the kind from its kind and whether it is temporary, the error
/// itself kept as the source (its message names the service and the path, no secret).
fn dal_error(operation: &'static str, path: &str, err: opendal::Error) -> TransportError {
    let kind = if err.is_temporary() {
        TransportErrorKind::Transient
    } else {
        match err.kind() {
            DalKind::NotFound => TransportErrorKind::NotFound,
            DalKind::PermissionDenied => TransportErrorKind::PermissionDenied,
            DalKind::AlreadyExists => TransportErrorKind::AlreadyExists,
            DalKind::RateLimited => TransportErrorKind::Transient,
            DalKind::Unsupported => TransportErrorKind::Unsupported,
            _ => TransportErrorKind::Permanent,
        }
    };
    TransportError::with_source(kind, operation, format!("{path}: {}", err.kind()), err)
}

/// A refused precondition (412: `If-None-Match`), not a temporary conflict
/// (409, which stays [`TransportErrorKind::Transient`]).
fn is_condition_not_match(err: &TransportError) -> bool {
    err.kind() == TransportErrorKind::Permanent
        && std::error::Error::source(err)
            .and_then(|s| s.downcast_ref::<opendal::Error>())
            .is_some_and(|s| s.kind() == DalKind::ConditionNotMatch)
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

fn dir_key(path: &RemotePath) -> String {
    format!("{path}/")
}

/// A `start-after` for listing from `after` on, `after` included: `after` with its last
/// byte one less when that byte is printable ASCII (`000000000041` → `000000000040`),
/// which lets through `after` and the rare keys between the two (filtered by the
/// caller). Otherwise `after` itself (the listing then starts after it).
fn just_before(after: &str) -> String {
    match after.as_bytes().last() {
        Some(&last) if (b'!'..=b'~').contains(&last) => {
            let mut s = after[..after.len() - 1].to_owned();
            s.push(char::from(last - 1));
            s
        }
        _ => after.to_owned(),
    }
}

/// The next item of an OpenDAL stream (a lister).
async fn next<S: Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

impl S3Transport {
    /// Builds the transport (and its runtime); nothing is sent until the first operation.
    pub fn new(config: S3Config) -> Result<Self, TransportError> {
        // reqwest's rustls without a built-in provider uses the process default: install
        // ring (the provider the FTP transport uses) unless the application chose one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ftpchat-s3")
            .enable_all()
            .build()
            .map_err(|e| TransportError::from_io("open", "starting the S3 runtime", e))?;
        let mut builder = opendal::services::S3::default()
            .bucket(&config.bucket)
            .root(&format!("/{}", config.prefix))
            .region(config.region.as_deref().unwrap_or(DEFAULT_REGION))
            // Only what this config says: no ~/.aws files, no instance metadata.
            .disable_config_load()
            .disable_ec2_metadata();
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint(endpoint);
        }
        match &config.credentials {
            Some(c) => {
                builder = builder
                    .access_key_id(&c.access_key_id)
                    .secret_access_key(&c.secret_access_key);
                if let Some(token) = &c.session_token {
                    builder = builder.session_token(token);
                }
            }
            None => builder = builder.skip_signature(),
        }
        let op = {
            let _guard = runtime.enter();
            Operator::new(builder)
                .map_err(|e| dal_error("open", &config.describe(), e))?
                .finish()
        };
        Ok(S3Transport {
            describe: config.describe(),
            timeout: config.timeout,
            op,
            runtime: Some(runtime),
        })
    }

    /// Runs one request on the runtime, bounded by the timeout.
    fn run<T>(
        &self,
        operation: &'static str,
        path: &str,
        fut: impl IntoFuture<Output = opendal::Result<T>>,
    ) -> Result<T, TransportError> {
        let runtime = self.runtime(operation)?;
        match runtime.block_on(async { tokio::time::timeout(self.timeout, fut).await }) {
            Ok(result) => result.map_err(|e| dal_error(operation, path, e)),
            Err(_) => Err(self.timed_out(operation, path)),
        }
    }

    /// The runtime requests run on, until the transport is closed.
    fn runtime(&self, operation: &'static str) -> Result<&tokio::runtime::Runtime, TransportError> {
        self.runtime.as_ref().ok_or_else(|| {
            TransportError::new(TransportErrorKind::Permanent, operation, "transport closed")
        })
    }

    /// No answer from the server within the timeout.
    fn timed_out(&self, operation: &'static str, path: &str) -> TransportError {
        TransportError::new(
            TransportErrorKind::Transient,
            operation,
            format!("{path}: no answer within {:?}", self.timeout),
        )
    }

    /// The object's metadata, `None` when there is none.
    fn stat(
        &self,
        operation: &'static str,
        key: &str,
    ) -> Result<Option<opendal::Metadata>, TransportError> {
        match self.run(operation, key, self.op.stat(key)) {
            Ok(meta) => Ok(Some(meta)),
            Err(e) if e.kind() == TransportErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `true` when the directory exists: its marker or anything below it.
    fn dir_exists(
        &self,
        operation: &'static str,
        dir: &RemotePath,
    ) -> Result<bool, TransportError> {
        Ok(self.stat(operation, &dir_key(dir))?.is_some())
    }

    /// Fails with `NotFound` unless the directory `path` would live in exists.
    fn check_parent(
        &self,
        operation: &'static str,
        path: &RemotePath,
    ) -> Result<(), TransportError> {
        match path.parent() {
            None => Ok(()),
            Some(parent) if self.dir_exists(operation, &parent)? => Ok(()),
            Some(parent) => Err(not_found(operation, &parent)),
        }
    }

    /// One directory's entries (the marker itself left out), sorted by
    /// [`DirEntry::list_key`], after `after` (a name in `dir`), at most `limit`.
    ///
    /// ListObjectsV2 returns the smallest `max-keys` keys after `start-after`, but puts a
    /// page's common prefixes (the subdirectories) apart from its objects, so the order
    /// holds between pages, not within one. So whole pages are read and sorted here.
    ///
    /// One request when the answer holds any key (the directory then exists), and when it
    /// holds none without `after` (the directory is missing: not even its marker). The
    /// listing starts just before `after` ([`just_before`]), so a poll that finds nothing
    /// new still gets `after` back; only an empty answer after `after` costs a second
    /// request ([`dir_exists`](Self::dir_exists)) to tell an empty directory from a
    /// missing one.
    fn list_page(
        &self,
        operation: &'static str,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        if limit == 0 {
            return match self.dir_exists(operation, dir)? {
                true => Ok(Vec::new()),
                false => Err(not_found(operation, dir)),
            };
        }
        let key = dir_key(dir);
        let start_after = after.map(|a| format!("{key}{}", just_before(a)));
        // Room for the directory's marker or `after` itself beside `limit` entries.
        let page_size = limit.saturating_add(1).min(1000);
        let fut = async {
            let mut lister = self.op.lister_with(&key).limit(page_size);
            if let Some(start_after) = &start_after {
                lister = lister.start_after(start_after);
            }
            let mut lister = lister.await?;
            let mut entries = Vec::new();
            // Keys the store returned, and how many of them are entries after `after`.
            let (mut listed, mut wanted) = (0usize, 0usize);
            // Stop at the end of a page that brought enough.
            while wanted < limit || listed % page_size != 0 {
                let Some(entry) = next(&mut lister).await else {
                    break;
                };
                listed += 1;
                let entry = entry?;
                let Some(rest) = entry.path().strip_prefix(key.as_str()) else {
                    continue;
                };
                let (name, is_dir) = match rest.strip_suffix('/') {
                    Some(name) => (name, true),
                    None => (rest, entry.metadata().is_dir()),
                };
                if name.is_empty() || name.contains('/') {
                    continue; // the marker of `dir` itself
                }
                if RemotePath::validate_name(name).is_err() {
                    log::debug!("list {dir}: skipping {name:?}, not a valid remote name");
                    continue;
                }
                let entry = if is_dir {
                    DirEntry::dir(name)
                } else {
                    DirEntry::file(name, Some(entry.metadata().content_length()))
                };
                if after.is_some_and(|after| *entry.list_key() <= *after) {
                    continue; // `after` itself, or a key just before it
                }
                wanted += 1;
                entries.push(entry);
            }
            Ok((entries, listed))
        };
        let (entries, listed) = self.run(operation, &key, fut)?;
        // Nothing at all below `dir/` (not even its marker) is a missing directory; with a
        // `start-after`, only a second look can tell.
        if listed == 0 && (after.is_none() || !self.dir_exists(operation, dir)?) {
            return Err(not_found(operation, dir));
        }
        Ok(page_after(entries, after, limit))
    }

    /// Every object key below `dir/` (markers included), at any depth.
    fn keys_below(
        &self,
        operation: &'static str,
        dir: &RemotePath,
    ) -> Result<Vec<String>, TransportError> {
        let key = dir_key(dir);
        let fut = async {
            let mut lister = self.op.lister_with(&key).recursive(true).await?;
            let mut keys = Vec::new();
            while let Some(entry) = next(&mut lister).await {
                keys.push(entry?.path().to_owned());
            }
            Ok(keys)
        };
        self.run(operation, &key, fut)
    }

    fn already_exists(operation: &'static str, path: &RemotePath) -> TransportError {
        TransportError::new(
            TransportErrorKind::AlreadyExists,
            operation,
            format!("{path}: already exists"),
        )
    }
}

impl Transport for S3Transport {
    fn capabilities(&self) -> Capabilities {
        // No append; ranged GETs; ListObjectsV2 carries sizes; conditional puts; start-after.
        Capabilities::new(false, true, true, false)
            .with_create_only(true)
            .with_list_after(true)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        Ok(self
            .stat("size", path.as_str())?
            .map(|meta| meta.content_length()))
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        const OP: &str = "read_from";
        let runtime = self.runtime(OP)?;
        let key = path.as_str();
        runtime.block_on(async {
            // Neither call sends anything: without a chunk size, OpenDAL opens one GET
            // (`Range: bytes=offset-`, none at 0) when the stream is first polled, and
            // asks for no size first.
            let reader = self
                .op
                .reader_with(key)
                .await
                .map_err(|e| dal_error(OP, key, e))?;
            let mut stream = reader
                .into_stream(offset..)
                .await
                .map_err(|e| dal_error(OP, key, e))?;
            let mut written = 0u64;
            loop {
                // The timeout bounds each wait for data, not the whole transfer.
                let buf = match tokio::time::timeout(self.timeout, next(&mut stream)).await {
                    Err(_) => return Err(self.timed_out(OP, key)),
                    Ok(None) => break,
                    Ok(Some(Ok(buf))) => buf,
                    // 416: the offset is at or past the end (a missing object is a 404).
                    Ok(Some(Err(e))) if written == 0 && e.kind() == DalKind::RangeNotSatisfied => {
                        break
                    }
                    Ok(Some(Err(e))) => return Err(dal_error(OP, key, e)),
                };
                for chunk in buf {
                    sink.write_all(&chunk).map_err(|e| {
                        TransportError::from_io(OP, format!("{path}: writing to sink"), e)
                    })?;
                    written += chunk.len() as u64;
                }
            }
            Ok(written)
        })
    }

    fn append(&self, path: &RemotePath, _data: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::new(
            TransportErrorKind::Unsupported,
            "append",
            format!(
                "{path}: S3 objects cannot be appended to ({} stores whole objects only)",
                self.describe
            ),
        ))
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "write_atomic";
        self.check_parent(OP, path)?;
        let fut = self.op.write(path.as_str(), data.to_vec());
        self.run(OP, path.as_str(), fut).map(drop)
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        const OP: &str = "write_new";
        self.check_parent(OP, path)?;
        if self.dir_exists(OP, path)? {
            return Err(Self::already_exists(OP, path));
        }
        let fut = self
            .op
            .write_with(path.as_str(), data.to_vec())
            .if_not_exists(true);
        match self.run(OP, path.as_str(), fut) {
            Ok(_) => Ok(()),
            // 412 Precondition Failed: the object exists (a 409 from a concurrent
            // conditional write is temporary, so it stays transient above).
            Err(e) if is_condition_not_match(&e) => Err(TransportError::with_source(
                TransportErrorKind::AlreadyExists,
                OP,
                format!("{path}: already exists"),
                e,
            )),
            Err(e) => Err(e),
        }
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        self.list_page("list", dir, None, usize::MAX)
    }

    fn list_after(
        &self,
        dir: &RemotePath,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirEntry>, TransportError> {
        self.list_page("list_after", dir, after, limit)
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "make_dir";
        self.check_parent(OP, path)?;
        if self.stat(OP, path.as_str())?.is_some() || self.dir_exists(OP, path)? {
            return Err(Self::already_exists(OP, path));
        }
        let key = dir_key(path);
        self.run(OP, &key, self.op.create_dir(&key))
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_file";
        if self.stat(OP, path.as_str())?.is_none() {
            return Err(if self.dir_exists(OP, path)? {
                permanent(OP, path, "is a directory")
            } else {
                not_found(OP, path)
            });
        }
        self.run(OP, path.as_str(), self.op.delete(path.as_str()))
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_dir";
        if !self.list_page(OP, path, None, 1)?.is_empty() {
            return Err(permanent(OP, path, "directory not empty"));
        }
        let key = dir_key(path);
        self.run(OP, &key, self.op.delete(&key))
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "rename";
        if from == to {
            return Ok(());
        }
        self.check_parent(OP, to)?;
        if self.stat(OP, from.as_str())?.is_some() {
            // One object: copy, then delete the source (not atomic: see the module docs).
            self.run(OP, from.as_str(), self.op.copy(from.as_str(), to.as_str()))?;
            return self.run(OP, from.as_str(), self.op.delete(from.as_str()));
        }
        if !self.dir_exists(OP, from)? {
            return Err(not_found(OP, from));
        }
        if to.as_str().starts_with(&dir_key(from)) {
            return Err(permanent(OP, to, "cannot move a directory into itself"));
        }
        // A directory: every object below it, markers as markers, then the old ones gone.
        let old_prefix = dir_key(from);
        let new_prefix = dir_key(to);
        let keys = self.keys_below(OP, from)?;
        self.run(OP, &new_prefix, self.op.create_dir(&new_prefix))?;
        for key in &keys {
            let Some(rest) = key.strip_prefix(&old_prefix) else {
                continue;
            };
            let target = format!("{new_prefix}{rest}");
            if key.ends_with('/') {
                if !rest.is_empty() {
                    self.run(OP, &target, self.op.create_dir(&target))?;
                }
            } else {
                self.run(OP, key, self.op.copy(key, &target))?;
            }
        }
        for key in keys.iter().rev() {
            self.run(OP, key, self.op.delete(key))?;
        }
        // The marker may not be among the keys (a directory only implied by its objects).
        self.run(OP, &old_prefix, self.op.delete(&old_prefix))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_listing_from_just_before_after_includes_after_and_nothing_earlier() {
        for after in [
            "000000000041",
            "000000000040",
            "seg-0040",
            "a",
            "x~",
            "sub/",
        ] {
            let start = just_before(after);
            assert!(*start < *after, "{after:?} → {start:?}");
            assert_eq!(start.len(), after.len());
        }
        assert_eq!(just_before("000000000041"), "000000000040");
        assert_eq!(just_before("sub/"), "sub.");
        // Not printable ASCII: the listing starts after `after` (correct, one more request
        // when nothing is new).
        assert_eq!(just_before("café"), "café");
        assert_eq!(just_before("a "), "a ");
        assert_eq!(just_before(""), "");
    }

    #[test]
    fn urls() {
        let c = S3Config::from_url("s3://my-bucket/chat/room%201").unwrap();
        assert_eq!(c.describe(), "s3://my-bucket/chat/room 1");
        assert_eq!(
            S3Config::from_url("S3://bucket").unwrap().describe(),
            "s3://bucket"
        );
        assert_eq!(
            S3Config::from_url("s3://bucket/a/")
                .unwrap()
                .with_endpoint("http://127.0.0.1:9000")
                .describe(),
            "s3://bucket/a at http://127.0.0.1:9000"
        );
        for bad in [
            "s3://key:secret@bucket/x",
            "s3://bucket/x?endpoint=y",
            "s3://UPPER/x",
            "s3://b/x",
            "s3://bucket/a/../b",
            "s3://bucket/a%0Ab",
            "s3://bucket/a%0Db",
            "s3://bucket/a%00b",
            "s3://bucket/a%zz",
            "sftp://bucket/x",
        ] {
            let err = S3Config::from_url(bad).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{bad}");
            assert!(!err.to_string().contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn no_secret_in_debug_or_describe() {
        let config = S3Config::from_url("s3://bucket/p")
            .unwrap()
            .with_credentials(
                S3Credentials::new("AKIDEXAMPLE", "very-secret-key")
                    .with_session_token("session-token-value"),
            );
        let shown = format!("{config:?}");
        assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
        for secret in ["very-secret-key", "session-token-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let t = S3Transport::new(config).unwrap();
        for shown in [format!("{t:?}"), t.describe()] {
            assert!(!shown.contains("very-secret-key"), "{shown}");
        }
    }
}
