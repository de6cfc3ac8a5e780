//! WebDAV transport (`webdav://`, `webdavs://`): [`WebDavTransport`] (its documentation
//! says how each operation maps onto WebDAV and what the transport relies on from the
//! server) and [`WebDavConfig`].

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use zeroize::Zeroizing;

use super::{Capabilities, DirEntry, RemotePath, Transport, TransportError, TransportErrorKind};

/// The properties `PROPFIND` asks for.
const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getcontentlength/></D:prop></D:propfind>"#;

/// Where and how to reach a WebDAV folder; build one with [`WebDavConfig::from_url`], then
/// the `with_*` methods.
#[derive(Clone)]
pub struct WebDavConfig {
    tls: bool,
    /// As in the URL (an IPv6 address keeps its brackets).
    host: String,
    port: Option<u16>,
    user: Option<String>,
    password: Option<Zeroizing<String>>,
    /// Percent-decoded, without leading or trailing `/` (empty: the server's root).
    root: String,
    ca_pem: Option<String>,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl fmt::Debug for WebDavConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavConfig")
            .field("location", &self.describe())
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ca_pem", &self.ca_pem.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("io_timeout", &self.io_timeout)
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> TransportError {
    TransportError::new(
        TransportErrorKind::InvalidPath,
        "open",
        format!("invalid WebDAV location: {}", message.into()),
    )
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
/// Zeroizing because it may be a password.
fn percent_decode(s: &str) -> Option<Zeroizing<String>> {
    let bytes = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
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
    let text = std::str::from_utf8(&out).ok()?;
    Some(Zeroizing::new(text.to_owned()))
}

/// Percent-encodes one path component: every byte but the unreserved ones of RFC 3986.
fn encode_component(component: &str, out: &mut String) {
    for &b in component.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl WebDavConfig {
    /// Parses `webdav://[user[:password]@]host[:port]/path` (plain HTTP, port 80 by
    /// default) or `webdavs://...` (HTTPS, port 443). User, password and path are
    /// percent-decoded (`%40` for `@`, `%3A` for `:`, `%23` for `#`); the path is the
    /// folder the transport works in, checked like a [`RemotePath`] (no CR, LF, NUL, `.`,
    /// `..` or empty parts). No query or fragment.
    pub fn from_url(url: &str) -> Result<Self, TransportError> {
        let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        let tls = match parsed.scheme() {
            "webdav" => false,
            "webdavs" => true,
            other => {
                return Err(invalid(format!(
                    "scheme {other:?} is not webdav or webdavs"
                )))
            }
        };
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "no query or fragment (write `?` and `#` in names as %3F and %23)",
            ));
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .to_owned();
        let user = percent_decode(parsed.username()).ok_or_else(|| invalid("bad user name"))?;
        let password = match parsed.password() {
            Some(p) => Some(percent_decode(p).ok_or_else(|| invalid("bad password escape"))?),
            None => None,
        };
        if user.chars().any(char::is_control)
            || password
                .as_ref()
                .is_some_and(|p| p.chars().any(char::is_control))
        {
            return Err(invalid("control character in the user or password"));
        }
        // The URL parser resolves `.` and `..` away: check the path as written.
        let written = url.split_once("://").map_or("", |(_, rest)| rest);
        let written = written.find('/').map_or("", |i| &written[i..]);
        let mut components = Vec::new();
        for segment in written.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_decode(segment)
                .ok_or_else(|| invalid("the path has a bad %-escape or is not UTF-8"))?;
            components.push(decoded.to_string());
        }
        let root = components.join("/");
        if !root.is_empty() {
            RemotePath::new(&root).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(WebDavConfig {
            tls,
            host,
            port: parsed.port(),
            user: (!user.is_empty()).then(|| user.to_string()),
            password,
            root,
            ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(30),
        })
    }

    /// Logs in with this user and password (HTTP Basic), replacing the URL's.
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.user = Some(user.into());
        self.password = Some(Zeroizing::new(password.into()));
        self
    }

    /// `webdavs://`: trust these PEM certificate(s) instead of the webpki roots.
    pub fn with_ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The connect timeout (default 10 s) and the time one read or write on the connection
    /// may stall (default 30 s); a slower answer is a transient error.
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.connect_timeout = connect;
        self.io_timeout = io;
        self
    }

    /// `webdav[s]://user@host[:port]/path` (the path decoded); never the password.
    pub fn describe(&self) -> String {
        let scheme = if self.tls { "webdavs" } else { "webdav" };
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!("{scheme}://{user}{}{port}/{}", self.host, self.root)
    }

    /// `http[s]://host[:port]/root/` with the root percent-encoded.
    fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let mut base = format!("{scheme}://{}{port}/", self.host);
        for component in self.root.split('/').filter(|c| !c.is_empty()) {
            encode_component(component, &mut base);
            base.push('/');
        }
        base
    }
}

/// A rustls client configuration with the ring provider given explicitly (so another
/// crate's provider can never make rustls panic), trusting `ca_pem` if given and the
/// webpki roots otherwise; HTTP/1.1 only.
fn tls_config(ca_pem: Option<&str>) -> Result<rustls::ClientConfig, TransportError> {
    let bad_ca = |why: String| {
        TransportError::new(
            TransportErrorKind::Permanent,
            "open",
            format!("the CA certificate cannot be used: {why}"),
        )
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| bad_ca(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad_ca("no certificate found in the PEM".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad_ca(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad_ca(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// One `response` of a `PROPFIND` multistatus answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct PropEntry {
    /// The `href` as sent (percent-encoded; a path or an absolute URL).
    href: String,
    is_dir: bool,
    size: Option<u64>,
}

/// Parses a `207 Multi-Status` body: each `response`'s `href` and, from its `propstat`s
/// with a `200` status, `resourcetype/collection` and `getcontentlength`. Namespace
/// prefixes are ignored (only DAV: properties are asked for).
fn parse_multistatus(xml: &[u8]) -> Result<Vec<PropEntry>, String> {
    use quick_xml::events::Event;

    let text = std::str::from_utf8(xml).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut entries = Vec::new();
    let mut current = PropEntry::default();
    // The propstat being read: (is_dir, size, status).
    let mut prop = (false, None::<u64>, String::new());
    let mut buf = String::new();
    let parent_is = |stack: &[Vec<u8>], name: &[u8]| {
        stack.len() >= 2 && stack[stack.len() - 2].as_slice() == name
    };
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_vec();
                match name.as_slice() {
                    b"response" => current = PropEntry::default(),
                    b"propstat" => prop = (false, None, String::new()),
                    b"collection" if stack.last().is_some_and(|t| t == b"resourcetype") => {
                        prop.0 = true
                    }
                    _ => {}
                }
                buf.clear();
                stack.push(name);
            }
            Event::Empty(e)
                if e.local_name().as_ref() == b"collection"
                    && stack.last().is_some_and(|t| t == b"resourcetype") =>
            {
                prop.0 = true;
            }
            Event::Text(t) => buf.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::CData(t) => buf.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
                        buf.push(c);
                    }
                } else {
                    let name = r.decode().map_err(|e| e.to_string())?;
                    let value = quick_xml::escape::resolve_predefined_entity(&name)
                        .ok_or_else(|| format!("unknown entity &{name};"))?;
                    buf.push_str(value);
                }
            }
            Event::End(_) => {
                let Some(name) = stack.last().cloned() else {
                    return Err("unbalanced end tag".into());
                };
                match name.as_slice() {
                    b"href" if parent_is(&stack, b"response") => {
                        current.href = buf.trim().to_owned()
                    }
                    b"getcontentlength" => prop.1 = buf.trim().parse().ok(),
                    b"status" if parent_is(&stack, b"propstat") => prop.2 = buf.trim().to_owned(),
                    b"propstat" => {
                        let ok = prop.2.is_empty()
                            || prop.2.split_whitespace().nth(1).is_some_and(|c| c == "200");
                        if ok {
                            current.is_dir |= prop.0;
                            if prop.1.is_some() {
                                current.size = prop.1;
                            }
                        }
                    }
                    b"response" => entries.push(std::mem::take(&mut current)),
                    _ => {}
                }
                stack.pop();
                buf.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(entries)
}

/// The decoded path of an `href` (a path or an absolute URL), without a trailing `/`.
fn href_path(href: &str) -> Option<String> {
    let path = match href.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => href,
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decoded = percent_decode(path)?;
    Some(decoded.trim_end_matches('/').to_owned())
}

/// The kind an HTTP status means.
fn status_kind(status: StatusCode) -> TransportErrorKind {
    match status.as_u16() {
        401 | 403 => TransportErrorKind::PermissionDenied,
        404 | 410 => TransportErrorKind::NotFound,
        // Timeout, locked, too many requests, server errors: worth retrying.
        408 | 423 | 429 | 500 | 502 | 503 | 504 => TransportErrorKind::Transient,
        _ => TransportErrorKind::Permanent,
    }
}

/// An HTTP status the operation did not expect: the source of its [`TransportError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpStatus(pub StatusCode);

impl fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.0)
    }
}

impl std::error::Error for HttpStatus {}

fn http_error(
    operation: &'static str,
    path: &dyn fmt::Display,
    status: StatusCode,
) -> TransportError {
    TransportError::with_source(
        status_kind(status),
        operation,
        format!("{path}: the server answered HTTP {status}"),
        HttpStatus(status),
    )
}

fn not_found(operation: &'static str, path: &dyn fmt::Display) -> TransportError {
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

/// `true` when a TLS failure (certificate refused, handshake failed) is in the chain:
/// retrying will not fix that.
fn is_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            if is_tls_error(inner) {
                return true;
            }
        }
        next = e.source();
    }
    false
}

/// Maps a reqwest failure (no answer): connection and timeout problems are transient, TLS
/// refusals permanent. The URL is left out of the message (it holds no secret, but the
/// path says enough); the error is kept as the source.
fn request_error(
    operation: &'static str,
    path: &dyn fmt::Display,
    err: reqwest::Error,
) -> TransportError {
    let err = err.without_url();
    let (kind, what) = if is_tls_error(&err) {
        (TransportErrorKind::Permanent, "TLS failed")
    } else if err.is_timeout() {
        (TransportErrorKind::Transient, "no answer in time")
    } else if err.is_connect() {
        (TransportErrorKind::Transient, "cannot connect")
    } else if err.is_request() || err.is_body() || err.is_decode() {
        (TransportErrorKind::Transient, "the connection failed")
    } else {
        (TransportErrorKind::Permanent, "the request failed")
    };
    TransportError::with_source(kind, operation, format!("{path}: {what}"), err)
}

/// What a `PROPFIND` `Depth: 0` says about one path.
enum Stat {
    File(Option<u64>),
    Dir,
}

/// A WebDAV folder as a [`Transport`] (`webdav://` over plain HTTP, `webdavs://` over
/// HTTPS) with reqwest's async client (rustls with ring; no OpenSSL) and quick-xml for
/// `PROPFIND` answers.
///
/// Like the S3 and SFTP transports, it owns a private tokio runtime and runs each operation
/// to completion on it (`block_on`), so the [`Transport`] trait stays blocking and no
/// runtime leaks to the caller. Any thread may call it; one worker thread drives the
/// connections (HTTP/1.1, kept alive between requests).
///
/// # How the trait maps onto WebDAV (RFC 4918)
///
/// | operation | WebDAV |
/// |---|---|
/// | `size` | `PROPFIND` `Depth: 0` (`getcontentlength`; a collection is an error) |
/// | `read_from` | one `GET` with `Range: bytes=offset-` (a server that ignores the range sends everything and the head is skipped here; `416` is "at or past the end") |
/// | `append` | refused ([`TransportErrorKind::Unsupported`]; [`Capabilities::append`] is `false`) |
/// | `write_atomic` | `PUT` |
/// | `write_new` | `PUT` with `If-None-Match: *` (`412` is [`TransportErrorKind::AlreadyExists`]; [`Capabilities::create_only`]) |
/// | `list` | `PROPFIND` `Depth: 1` (`resourcetype`, `getcontentlength`); `list_after` lists and filters |
/// | `make_dir` | `MKCOL` (`405`: something exists there; `409`: the parent is missing) |
/// | `remove_file` | `PROPFIND` `Depth: 0` (refuses a collection), then `DELETE` |
/// | `remove_dir` | `PROPFIND` `Depth: 1` (refuses a non-empty collection), then `DELETE` |
/// | `rename` | `MOVE` with `Overwrite: T` |
///
/// # What it relies on from the server
///
/// - **`PUT` replaces a resource atomically** for readers (old or new content, never a
///   mix). Apache `mod_dav_fs` and nginx's dav module write the body to a temporary file
///   and rename it; stock WsgiDAV's filesystem provider writes in place, so there a reader
///   racing a `write_atomic` can see a short file.
/// - **`If-None-Match: *` on `PUT` is honoured** (RFC 9110 §13.1.2: `412` when the
///   resource exists), and the check and the create are one step, so that of racing
///   creators exactly one wins ([`Capabilities::create_only`] promises that). A server that
///   ignores the header would let `write_new` replace a file. Stock WsgiDAV 4.4 honours the
///   header but checks it, then creates the file: 2 of 8 racing creators won there. The
///   test server (`.ci/webdav-server.sh`) therefore runs a small WsgiDAV provider that
///   stages bodies and hard-links new files into place, and checks a race before it is
///   used. Check a server the same way before trusting it with create-only writes.
/// - **`DELETE` of a collection is recursive** in WebDAV, so `remove_dir` lists first and
///   refuses a non-empty directory; a file created between the two requests is removed
///   with it. `remove_file` checks that the target is not a collection the same way.
/// - **`MOVE` with `Overwrite: T` replaces the target**; servers (WsgiDAV included) may
///   delete the target first, so a reader can briefly find no file.
/// - `MKCOL` on an existing resource answers `405`, on a missing parent `409`; a `PUT` in
///   a missing collection answers `409` (all as RFC 4918 says).
///
/// Redirects are not followed and no proxy is used: requests go to the server the URL
/// names. Every name is percent-encoded (all bytes but `A-Z a-z 0-9 - . _ ~`), so `#`,
/// `%`, `?`, spaces and non-ASCII names travel as themselves; CR, LF and NUL never reach
/// here ([`RemotePath`] refuses them).
///
/// The password is sent as HTTP Basic authentication (use `webdavs://` outside a trusted
/// network). The transport's copy is zeroized on drop (the encoded header reqwest builds
/// for each request is not); it never appears in `Debug`, `describe` or errors.
///
/// Cheap to share: clone the `Arc` it is opened into.
pub struct WebDavTransport {
    describe: String,
    /// `http[s]://host[:port]/root/`, percent-encoded.
    base: String,
    /// The decoded path of `base`, without a trailing `/` (empty for the server root).
    base_path: String,
    user: Option<String>,
    password: Option<Zeroizing<String>>,
    client: reqwest::Client,
    /// `Some` until dropped (shut down in the background so a drop never blocks).
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for WebDavTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebDavTransport")
            .field("location", &self.describe)
            .finish_non_exhaustive()
    }
}

impl Drop for WebDavTransport {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl WebDavTransport {
    /// Builds the transport (its runtime and HTTP client); nothing is sent until the first
    /// operation.
    pub fn new(config: WebDavConfig) -> Result<Self, TransportError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ftpchat-webdav")
            .enable_all()
            .build()
            .map_err(|e| TransportError::from_io("open", "starting the WebDAV runtime", e))?;
        // A ready rustls configuration (ring) even for plain HTTP: reqwest then never looks
        // for a process-wide crypto provider.
        let tls = tls_config(config.ca_pem.as_deref())?;
        let client = {
            let _guard = runtime.enter();
            reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.io_timeout)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .user_agent(concat!("ftpchat/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| {
                    TransportError::with_source(
                        TransportErrorKind::Permanent,
                        "open",
                        "building the HTTP client failed",
                        e.without_url(),
                    )
                })?
        };
        let base = config.base_url();
        let base_path = match config.root.as_str() {
            "" => String::new(),
            root => format!("/{root}"),
        };
        Ok(WebDavTransport {
            describe: config.describe(),
            base,
            base_path,
            user: config.user.clone(),
            password: config.password.clone(),
            client,
            runtime: Some(runtime),
        })
    }

    /// The URL of `path` (with a trailing `/` for a collection when `dir`).
    fn url(&self, path: &RemotePath, dir: bool) -> String {
        let mut url = self.base.clone();
        for (i, component) in path.components().enumerate() {
            if i > 0 {
                url.push('/');
            }
            encode_component(component, &mut url);
        }
        if dir {
            url.push('/');
        }
        url
    }

    /// A request with the credentials.
    fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.user {
            Some(user) => request.basic_auth(user, self.password.as_deref().map(String::as_str)),
            None => request,
        }
    }

    /// Runs one operation on the runtime.
    fn run<T>(
        &self,
        operation: &'static str,
        fut: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        let runtime = self.runtime.as_ref().ok_or_else(|| {
            TransportError::new(TransportErrorKind::Permanent, operation, "transport closed")
        })?;
        runtime.block_on(fut)
    }

    /// Sends one request and returns the status (the body read and dropped).
    fn send(
        &self,
        operation: &'static str,
        path: &RemotePath,
        request: reqwest::RequestBuilder,
    ) -> Result<StatusCode, TransportError> {
        self.run(operation, async {
            let response = request
                .send()
                .await
                .map_err(|e| request_error(operation, path, e))?;
            let status = response.status();
            // Read the (small) body so the connection can be reused.
            let _ = response.bytes().await;
            Ok(status)
        })
    }

    /// `PROPFIND` on `url`: the entries of a `207` answer, `None` for `404`.
    fn propfind(
        &self,
        operation: &'static str,
        path: &RemotePath,
        url: &str,
        depth: &'static str,
    ) -> Result<Option<Vec<PropEntry>>, TransportError> {
        let request = self
            .request(Method::from_bytes(b"PROPFIND").unwrap_or(Method::GET), url)
            .header("Depth", depth)
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(PROPFIND_BODY);
        self.run(operation, async {
            let response = request
                .send()
                .await
                .map_err(|e| request_error(operation, path, e))?;
            let status = response.status();
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if status != StatusCode::MULTI_STATUS {
                return Err(http_error(operation, path, status));
            }
            let body = response
                .bytes()
                .await
                .map_err(|e| request_error(operation, path, e))?;
            parse_multistatus(&body).map(Some).map_err(|why| {
                TransportError::new(
                    TransportErrorKind::Permanent,
                    operation,
                    format!("{path}: the server's PROPFIND answer does not parse: {why}"),
                )
            })
        })
    }

    /// The decoded server path of `path`, as `href_path` gives it.
    fn server_path(&self, path: &RemotePath) -> String {
        format!("{}/{path}", self.base_path)
    }

    /// Whether `path` is a file (with its size when the server tells it), a directory, or
    /// nothing.
    fn stat(
        &self,
        operation: &'static str,
        path: &RemotePath,
    ) -> Result<Option<Stat>, TransportError> {
        let Some(entries) = self.propfind(operation, path, &self.url(path, false), "0")? else {
            return Ok(None);
        };
        let wanted = self.server_path(path);
        let entry = entries
            .iter()
            .find(|e| href_path(&e.href).as_deref() == Some(wanted.as_str()))
            .or(entries.first())
            .ok_or_else(|| permanent(operation, path, "the server's PROPFIND answer is empty"))?;
        Ok(Some(if entry.is_dir {
            Stat::Dir
        } else {
            Stat::File(entry.size)
        }))
    }

    /// PUT, optionally only if nothing exists (`If-None-Match: *`).
    fn put(
        &self,
        operation: &'static str,
        path: &RemotePath,
        data: &[u8],
        create_only: bool,
    ) -> Result<(), TransportError> {
        let mut request = self
            .request(Method::PUT, &self.url(path, false))
            .body(data.to_vec());
        if create_only {
            request = request.header("If-None-Match", "*");
        }
        let status = self.send(operation, path, request)?;
        match status.as_u16() {
            200..=299 => Ok(()),
            412 => Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                operation,
                format!("{path}: already exists"),
            )),
            405 if create_only => Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                operation,
                format!("{path}: a directory exists there"),
            )),
            405 => Err(permanent(operation, path, "is a directory")),
            409 => Err(not_found(
                operation,
                &format_args!("{path}: parent directory"),
            )),
            _ => Err(http_error(operation, path, status)),
        }
    }
}

impl Transport for WebDavTransport {
    fn capabilities(&self) -> Capabilities {
        // No append; ranged GETs; PROPFIND carries sizes; conditional PUTs.
        Capabilities::new(false, true, true, false).with_create_only(true)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn size(&self, path: &RemotePath) -> Result<Option<u64>, TransportError> {
        const OP: &str = "size";
        match self.stat(OP, path)? {
            None => Ok(None),
            Some(Stat::Dir) => Err(permanent(OP, path, "is a directory")),
            Some(Stat::File(Some(size))) => Ok(Some(size)),
            Some(Stat::File(None)) => Err(permanent(
                OP,
                path,
                "the server did not tell the size (no getcontentlength)",
            )),
        }
    }

    fn read_from(
        &self,
        path: &RemotePath,
        offset: u64,
        sink: &mut dyn Write,
    ) -> Result<u64, TransportError> {
        const OP: &str = "read_from";
        let mut request = self.request(Method::GET, &self.url(path, false));
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        self.run(OP, async {
            let mut response = request
                .send()
                .await
                .map_err(|e| request_error(OP, path, e))?;
            let status = response.status();
            // The head to skip: all of it when the server ignored the range.
            let mut skip = match status {
                StatusCode::PARTIAL_CONTENT => {
                    // The range sent must be the one asked for (never a mix of offsets).
                    let start = response
                        .headers()
                        .get("Content-Range")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if start != Some(offset) {
                        return Err(permanent(
                            OP,
                            path,
                            "the server answered a ranged GET with another range",
                        ));
                    }
                    0
                }
                StatusCode::OK => offset,
                StatusCode::RANGE_NOT_SATISFIABLE => return Ok(0),
                StatusCode::NOT_FOUND | StatusCode::GONE => return Err(not_found(OP, path)),
                _ => return Err(http_error(OP, path, status)),
            };
            let mut written = 0u64;
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| request_error(OP, path, e))?
            {
                let drop_now = skip.min(chunk.len() as u64) as usize;
                skip -= drop_now as u64;
                let rest = &chunk[drop_now..];
                sink.write_all(rest).map_err(|e| {
                    TransportError::from_io(OP, format!("{path}: writing to sink"), e)
                })?;
                written += rest.len() as u64;
            }
            Ok(written)
        })
    }

    fn append(&self, path: &RemotePath, _data: &[u8]) -> Result<(), TransportError> {
        Err(TransportError::new(
            TransportErrorKind::Unsupported,
            "append",
            format!(
                "{path}: WebDAV cannot append to a file ({} replaces whole files only)",
                self.describe
            ),
        ))
    }

    fn write_atomic(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.put("write_atomic", path, data, false)
    }

    fn write_new(&self, path: &RemotePath, data: &[u8]) -> Result<(), TransportError> {
        self.put("write_new", path, data, true)
    }

    fn list(&self, dir: &RemotePath) -> Result<Vec<DirEntry>, TransportError> {
        const OP: &str = "list";
        let entries = self
            .propfind(OP, dir, &self.url(dir, true), "1")?
            .ok_or_else(|| not_found(OP, dir))?;
        let paths: Vec<Option<String>> = entries.iter().map(|e| href_path(&e.href)).collect();
        // The directory itself: its own path, or else (a proxy that rewrites paths) the
        // first response, which servers send for the resource asked about.
        let wanted = self.server_path(dir);
        let own = paths
            .iter()
            .position(|p| p.as_deref() == Some(wanted.as_str()))
            .unwrap_or(0);
        let Some((Some(own_path), own_entry)) = paths.get(own).zip(entries.get(own)) else {
            return Err(permanent(OP, dir, "the server's PROPFIND answer is empty"));
        };
        if !own_entry.is_dir {
            return Err(permanent(OP, dir, "not a directory"));
        }
        let prefix = format!("{own_path}/");
        let mut listed = Vec::new();
        for (i, (entry, path)) in entries.iter().zip(&paths).enumerate() {
            if i == own {
                continue;
            }
            let Some(path) = path else {
                log::debug!("list {dir}: skipping an href that is not UTF-8");
                continue;
            };
            let Some(name) = path.strip_prefix(&prefix).filter(|n| !n.contains('/')) else {
                log::debug!("list {dir}: skipping {path:?}, not an entry of this directory");
                continue;
            };
            if RemotePath::validate_name(name).is_err() {
                log::debug!("list {dir}: skipping {name:?}, not a valid remote name");
                continue;
            }
            listed.push(if entry.is_dir {
                DirEntry::dir(name)
            } else {
                DirEntry::file(name, entry.size)
            });
        }
        Ok(listed)
    }

    fn make_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "make_dir";
        let request = self.request(dav_method(OP, "MKCOL")?, &self.url(path, true));
        let status = self.send(OP, path, request)?;
        match status.as_u16() {
            200..=299 => Ok(()),
            405 => Err(TransportError::new(
                TransportErrorKind::AlreadyExists,
                OP,
                format!("{path}: already exists"),
            )),
            409 => Err(not_found(OP, &format_args!("{path}: parent directory"))),
            _ => Err(http_error(OP, path, status)),
        }
    }

    fn remove_file(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_file";
        match self.stat(OP, path)? {
            None => return Err(not_found(OP, path)),
            // DELETE would remove a collection with everything in it.
            Some(Stat::Dir) => return Err(permanent(OP, path, "is a directory")),
            Some(Stat::File(_)) => {}
        }
        let status = self.send(
            OP,
            path,
            self.request(Method::DELETE, &self.url(path, false)),
        )?;
        match status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(not_found(OP, path)),
            _ => Err(http_error(OP, path, status)),
        }
    }

    fn remove_dir(&self, path: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "remove_dir";
        // DELETE of a collection is recursive: refuse a non-empty one first.
        if !self.list(path)?.is_empty() {
            return Err(permanent(OP, path, "directory not empty"));
        }
        let status = self.send(
            OP,
            path,
            self.request(Method::DELETE, &self.url(path, true)),
        )?;
        match status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(not_found(OP, path)),
            _ => Err(http_error(OP, path, status)),
        }
    }

    fn rename(&self, from: &RemotePath, to: &RemotePath) -> Result<(), TransportError> {
        const OP: &str = "rename";
        if from == to {
            return Ok(());
        }
        let request = self
            .request(dav_method(OP, "MOVE")?, &self.url(from, false))
            .header("Destination", self.url(to, false))
            .header("Overwrite", "T");
        let status = self.send(OP, from, request)?;
        match status.as_u16() {
            200..=299 => Ok(()),
            404 => Err(not_found(OP, from)),
            409 => Err(not_found(OP, &format_args!("{to}: parent directory"))),
            _ => Err(http_error(OP, from, status)),
        }
    }
}

/// A WebDAV method (an HTTP extension method such as `PROPFIND`). `http` accepts any
/// token, so this fails only if a name here were mistyped; it is then an error, never
/// another method sent in its place.
fn dav_method(operation: &'static str, name: &'static str) -> Result<Method, TransportError> {
    Method::from_bytes(name.as_bytes()).map_err(|e| {
        TransportError::new(
            TransportErrorKind::Permanent,
            operation,
            format!("HTTP method {name}: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_webdav_methods_are_sent_as_themselves() {
        for name in ["PROPFIND", "MKCOL", "MOVE"] {
            assert_eq!(dav_method("test", name).unwrap().as_str(), name);
        }
        assert!(dav_method("test", "NOT A METHOD").is_err());
    }

    #[test]
    fn urls() {
        let c =
            WebDavConfig::from_url("webdav://alice:p%40ss%3Aw%2Frd@example.org:8080/chat/room%201")
                .unwrap();
        assert!(!c.tls);
        assert_eq!(c.user.as_deref(), Some("alice"));
        assert_eq!(c.password.as_deref().map(String::as_str), Some("p@ss:w/rd"));
        assert_eq!(c.root, "chat/room 1");
        assert_eq!(c.describe(), "webdav://alice@example.org:8080/chat/room 1");
        assert_eq!(c.base_url(), "http://example.org:8080/chat/room%201/");

        let c = WebDavConfig::from_url("WEBDAVS://[::1]/").unwrap();
        assert!(c.tls);
        assert_eq!(c.user, None);
        assert_eq!(c.password.as_deref(), None);
        assert_eq!(c.base_url(), "https://[::1]/");
        assert_eq!(c.describe(), "webdavs://[::1]/");

        let c = WebDavConfig::from_url("webdavs://bob@host/a/%23b%25/%C3%BC").unwrap();
        assert_eq!(c.root, "a/#b%/ü");
        assert_eq!(c.base_url(), "https://host/a/%23b%25/%C3%BC/");

        for bad in [
            "webdav://u:secret@host/a/../b",
            "webdav://u:secret@host/./b",
            "webdav://u:secret@host/a%2F..%2Fb",
            "webdav://u:secret@host/a%0Ab",
            "webdav://u:secret@host/a%0Db",
            "webdav://u:secret@host/a%00b",
            "webdav://u:secret@host/a%zz",
            "webdav://u:secret@host/a?x=1",
            "webdav://u:secret@host/a#frag",
            "webdav://u:sec%0Aret@host/a",
            "webdav://u:secret%zz@host/a",
            "webdav:///nohost",
            "https://u:secret@host/a",
            "not a url",
        ] {
            let err = WebDavConfig::from_url(bad).unwrap_err();
            assert_eq!(err.kind(), TransportErrorKind::InvalidPath, "{bad}");
            assert!(!err.to_string().contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn names_are_percent_encoded() {
        let t = WebDavTransport::new(WebDavConfig::from_url("webdav://h:1/r").unwrap()).unwrap();
        let p = RemotePath::new("dir with space/100% #1?ü~-._").unwrap();
        assert_eq!(
            t.url(&p, false),
            "http://h:1/r/dir%20with%20space/100%25%20%231%3F%C3%BC~-._"
        );
        assert_eq!(
            t.url(&RemotePath::new("d").unwrap(), true),
            "http://h:1/r/d/"
        );
        assert_eq!(t.server_path(&p), "/r/dir with space/100% #1?ü~-._");
    }

    #[test]
    fn no_password_in_debug_or_describe() {
        let config = WebDavConfig::from_url("webdavs://alice:very-secret-pw@host/p")
            .unwrap()
            .with_ca_pem("not shown");
        for shown in [format!("{config:?}"), config.describe()] {
            assert!(shown.contains("alice"), "{shown}");
            assert!(!shown.contains("very-secret-pw"), "{shown}");
        }
        let config = config.with_credentials("bob", "other-secret");
        // A bad CA PEM is refused when the transport is built, without the password.
        let err = WebDavTransport::new(config.clone()).unwrap_err();
        assert!(!err.to_string().contains("other-secret"), "{err}");
        let config = WebDavConfig::from_url("webdav://alice:very-secret-pw@host/p").unwrap();
        let t = WebDavTransport::new(config).unwrap();
        for shown in [format!("{t:?}"), t.describe()] {
            assert!(!shown.contains("very-secret-pw"), "{shown}");
        }
    }

    #[test]
    fn multistatus_answers_parse() {
        let xml = br#"<?xml version="1.0" encoding="utf-8" ?>
<ns0:multistatus xmlns:ns0="DAV:">
 <ns0:response><ns0:href>/r/d/</ns0:href><ns0:propstat><ns0:prop>
  <ns0:resourcetype><ns0:collection /></ns0:resourcetype></ns0:prop>
  <ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat>
  <ns0:propstat><ns0:prop><ns0:getcontentlength/></ns0:prop>
  <ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:propstat></ns0:response>
 <ns0:response><ns0:href>http://h:1/r/d/a%20%26%20b.txt</ns0:href><ns0:propstat><ns0:prop>
  <ns0:resourcetype/><ns0:getcontentlength>42</ns0:getcontentlength></ns0:prop>
  <ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response>
 <D:response xmlns:D="DAV:"><D:href>/r/d/x&amp;y&#x20;z</D:href><D:propstat><D:prop>
  <D:resourcetype><D:collection></D:collection></D:resourcetype></D:prop>
  <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</ns0:multistatus>"#;
        let entries = parse_multistatus(xml).unwrap();
        assert_eq!(
            entries,
            [
                PropEntry {
                    href: "/r/d/".into(),
                    is_dir: true,
                    size: None
                },
                PropEntry {
                    href: "http://h:1/r/d/a%20%26%20b.txt".into(),
                    is_dir: false,
                    size: Some(42)
                },
                PropEntry {
                    href: "/r/d/x&y z".into(),
                    is_dir: true,
                    size: None
                },
            ]
        );
        assert_eq!(href_path(&entries[0].href).unwrap(), "/r/d");
        assert_eq!(href_path(&entries[1].href).unwrap(), "/r/d/a & b.txt");
        assert!(parse_multistatus(b"<a><b></a>").is_err());
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (code, kind) in [
            (401, TransportErrorKind::PermissionDenied),
            (403, TransportErrorKind::PermissionDenied),
            (404, TransportErrorKind::NotFound),
            (503, TransportErrorKind::Transient),
            (423, TransportErrorKind::Transient),
            (400, TransportErrorKind::Permanent),
            (507, TransportErrorKind::Permanent),
        ] {
            assert_eq!(
                status_kind(StatusCode::from_u16(code).unwrap()),
                kind,
                "{code}"
            );
        }
    }
}
