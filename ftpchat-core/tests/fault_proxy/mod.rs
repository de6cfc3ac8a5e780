//! A fault-injecting FTP proxy for tests: listens on 127.0.0.1, forwards every control
//! and passive data connection to a real FTP server (the in-process libunftp of
//! `support::ftp_server`), and breaks them on request:
//!
//! - answers a command with garbage, or not at all;
//! - stalls a download after some bytes (holding the data connection open);
//! - cuts an upload after some bytes and closes the control connection, or lets the upload
//!   through and closes the control connection before the completion reply;
//! - lies about sizes in `SIZE` replies and `MLSD` listings, or pads listings with junk.
//!
//! Faults are one-shot counters ("the next n times"), armed with `&self` at any moment.
//! Only plain FTP with `PASV` is supported (what `FtpTransport` uses on IPv4). Every socket
//! has a 30 s read timeout, so no proxy thread outlives a test by much; dropping the proxy
//! stops accepting connections.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long any proxy socket waits for its peer before giving up.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest control line or reply the proxy reads.
const MAX_LINE: u64 = 64 * 1024;

#[derive(Debug, Default)]
struct Faults {
    /// (verb, times left, reply sent instead of the server's)
    garbage: Vec<(String, u32, Vec<u8>)>,
    /// (verb, times left): no reply at all; the connection is held until the client leaves.
    silent: Vec<(String, u32)>,
    /// (verb, bytes forwarded before stalling, times left)
    stall_download: Vec<(String, u64, u32)>,
    /// (verb, bytes forwarded before cutting, times left)
    cut_download: Vec<(String, u64, u32)>,
    /// (bytes forwarded before cutting, times left)
    cut_upload: Option<(u64, u32)>,
    /// Times left to close the control connection after an upload instead of replying.
    drop_after_upload: u32,
    /// Added to every `SIZE` reply.
    size_delta: i64,
    /// Added to every `size=` fact of `MLSD` listings.
    listing_size_delta: i64,
    /// Bytes of junk entries appended to every `MLSD` listing.
    listing_padding: u64,
}

fn take(times: &mut u32) -> bool {
    if *times > 0 {
        *times -= 1;
        true
    } else {
        false
    }
}

/// What happens to one data connection; filled in when its transfer command arrives.
#[derive(Debug, Default, Clone)]
struct DataPlan {
    verb: String,
    stall_after: Option<u64>,
    cut_after: Option<u64>,
    /// Close the download's data and control connections after this many bytes.
    cut_download_after: Option<u64>,
    /// Close the control connection instead of forwarding the transfer's final reply.
    close_control: bool,
    listing_size_delta: i64,
    listing_padding: u64,
}

#[derive(Debug, Default)]
struct Shared {
    faults: Mutex<Faults>,
    commands: Mutex<Vec<String>>,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// See the [module documentation](self).
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// A proxy in front of the FTP server on 127.0.0.1:`upstream_port`.
    pub fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking accept");
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            while !accept_shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let shared = Arc::clone(&accept_shared);
                        std::thread::spawn(move || {
                            let _ = session(client, upstream_port, &shared);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        FaultProxy {
            port,
            shared,
            thread: Some(thread),
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ftp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ftp://127.0.0.1:{}", self.port)
    }

    fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.shared.faults)
    }

    /// The next `times` commands `verb` get `reply` (raw bytes) instead of the server's.
    pub fn garbage(&self, verb: &str, times: u32, reply: &[u8]) -> &Self {
        self.faults()
            .garbage
            .push((verb.to_ascii_uppercase(), times, reply.to_vec()));
        self
    }

    /// The next `times` commands `verb` get no reply; the connection stays open until the
    /// client gives up.
    pub fn silence(&self, verb: &str, times: u32) -> &Self {
        self.faults()
            .silent
            .push((verb.to_ascii_uppercase(), times));
        self
    }

    /// The next `times` downloads by `verb` (`RETR`, `MLSD`...) stop after `after` bytes
    /// with the data connection held open.
    pub fn stall_download(&self, verb: &str, after: u64, times: u32) -> &Self {
        self.faults()
            .stall_download
            .push((verb.to_ascii_uppercase(), after, times));
        self
    }

    /// The next `times` downloads by `verb` stop after `after` bytes: the data and control
    /// connections are closed, as when the network drops mid-transfer.
    pub fn cut_download(&self, verb: &str, after: u64, times: u32) -> &Self {
        self.faults()
            .cut_download
            .push((verb.to_ascii_uppercase(), after, times));
        self
    }

    /// The next `times` uploads (`APPE`, `STOR`) reach the server only up to `after` bytes;
    /// then the data and control connections are closed.
    pub fn cut_upload(&self, after: u64, times: u32) -> &Self {
        self.faults().cut_upload = Some((after, times));
        self
    }

    /// The next `times` uploads reach the server whole, but the control connection is
    /// closed before the completion reply (the client cannot know the upload landed).
    pub fn drop_control_after_upload(&self, times: u32) -> &Self {
        self.faults().drop_after_upload = times;
        self
    }

    /// From now on, `SIZE` replies are off by `delta` bytes (never below 0).
    pub fn lie_about_size(&self, delta: i64) -> &Self {
        self.faults().size_delta = delta;
        self
    }

    /// From now on, `size=` facts in `MLSD` listings are off by `delta` bytes.
    pub fn lie_in_listings(&self, delta: i64) -> &Self {
        self.faults().listing_size_delta = delta;
        self
    }

    /// From now on, every `MLSD` listing is followed by `bytes` of junk entries.
    pub fn pad_listings(&self, bytes: u64) -> &Self {
        self.faults().listing_padding = bytes;
        self
    }

    /// Disarms every fault.
    pub fn clear(&self) -> &Self {
        *self.faults() = Faults::default();
        self
    }

    /// Every command line received so far (all sessions, in arrival order).
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// How many commands `verb` were received so far.
    pub fn count(&self, verb: &str) -> usize {
        let verb = verb.to_ascii_uppercase();
        lock(&self.shared.commands)
            .iter()
            .filter(|c| c.split(' ').next().map(str::to_ascii_uppercase) == Some(verb.clone()))
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn timeouts(s: &TcpStream) -> io::Result<()> {
    s.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    s.set_write_timeout(Some(SOCKET_TIMEOUT))
}

/// Reads one complete FTP reply (all lines up to `ddd `), bounded.
fn read_reply(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        reply.extend_from_slice(&line);
        let done = line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit) && line[3] == b' ';
        if done || reply.len() as u64 > MAX_LINE {
            return Ok(reply);
        }
    }
}

/// Holds a connection open, reading and discarding, until the peer leaves (or timeout).
fn hold(s: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < SOCKET_TIMEOUT {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn session(client: TcpStream, upstream_port: u16, shared: &Shared) -> io::Result<()> {
    timeouts(&client)?;
    let upstream = TcpStream::connect(("127.0.0.1", upstream_port))?;
    timeouts(&upstream)?;
    let mut up_r = BufReader::new(upstream.try_clone()?);
    let mut up_w = upstream;
    let mut cl_r = BufReader::new(client.try_clone()?);
    let mut cl_w = client;
    let greeting = read_reply(&mut up_r)?;
    cl_w.write_all(&greeting)?;
    let mut plan: Arc<Mutex<DataPlan>> = Arc::default();
    loop {
        let mut line = Vec::new();
        if cl_r.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = text
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        lock(&shared.commands).push(text);

        let (silent, garbage) = {
            let mut f = lock(&shared.faults);
            let silent = f
                .silent
                .iter_mut()
                .any(|(v, times)| *v == verb && take(times));
            let garbage = f
                .garbage
                .iter_mut()
                .find(|(v, times, _)| *v == verb && *times > 0)
                .map(|(_, times, reply)| {
                    *times -= 1;
                    reply.clone()
                });
            (silent, garbage)
        };
        if silent {
            hold(&mut cl_w);
            return Ok(());
        }

        if verb == "PASV" {
            up_w.write_all(&line)?;
            let reply = read_reply(&mut up_r)?;
            plan = Arc::default();
            let rewritten = match open_data(&reply, Arc::clone(&plan)) {
                Some(port) => {
                    format!(
                        "227 Entering Passive Mode (127,0,0,1,{},{})\r\n",
                        port >> 8,
                        port & 0xff
                    )
                }
                None => String::from_utf8_lossy(&reply).into_owned(),
            };
            cl_w.write_all(garbage.as_deref().unwrap_or(rewritten.as_bytes()))?;
            continue;
        }

        let transfer = matches!(
            verb.as_str(),
            "RETR" | "APPE" | "STOR" | "MLSD" | "LIST" | "NLST"
        );
        if transfer {
            let mut f = lock(&shared.faults);
            let mut p = lock(&plan);
            p.verb = verb.clone();
            for (v, after, times) in f.stall_download.iter_mut() {
                if *v == verb && take(times) {
                    p.stall_after = Some(*after);
                    break;
                }
            }
            for (v, after, times) in f.cut_download.iter_mut() {
                if *v == verb && take(times) {
                    p.cut_download_after = Some(*after);
                    p.close_control = true;
                    break;
                }
            }
            if matches!(verb.as_str(), "APPE" | "STOR") {
                if let Some((after, times)) = f.cut_upload.as_mut() {
                    if take(times) {
                        p.cut_after = Some(*after);
                        p.close_control = true;
                    }
                }
                if take(&mut f.drop_after_upload) {
                    p.close_control = true;
                }
            }
            if verb == "MLSD" {
                p.listing_size_delta = f.listing_size_delta;
                p.listing_padding = f.listing_padding;
            }
        }
        let size_delta = lock(&shared.faults).size_delta;

        up_w.write_all(&line)?;
        loop {
            let mut reply = read_reply(&mut up_r)?;
            let preliminary = reply.first() == Some(&b'1');
            if !preliminary && transfer && lock(&plan).close_control {
                // The upload is done (or cut); the client never hears how it went.
                let _ = cl_w.shutdown(Shutdown::Both);
                let _ = up_w.shutdown(Shutdown::Both);
                return Ok(());
            }
            if verb == "SIZE" && reply.starts_with(b"213 ") && size_delta != 0 {
                let text = String::from_utf8_lossy(&reply[4..]).trim().to_owned();
                if let Ok(n) = text.parse::<i64>() {
                    reply = format!("213 {}\r\n", (n + size_delta).max(0)).into_bytes();
                }
            }
            match &garbage {
                Some(g) if !preliminary => cl_w.write_all(g)?,
                _ => cl_w.write_all(&reply)?,
            }
            if !preliminary {
                break;
            }
        }
        if verb == "QUIT" {
            return Ok(());
        }
    }
}

/// Opens the proxy's side of a passive data connection for the server's `227` reply;
/// returns the proxy's port.
fn open_data(reply: &[u8], plan: Arc<Mutex<DataPlan>>) -> Option<u16> {
    let text = String::from_utf8_lossy(reply);
    let inner = text.split('(').nth(1)?.split(')').next()?;
    let nums: Vec<u16> = inner
        .split(',')
        .map(|n| n.trim().parse().ok())
        .collect::<Option<_>>()?;
    if nums.len() != 6 {
        return None;
    }
    let upstream = SocketAddr::from(([127, 0, 0, 1], nums[4] * 256 + nums[5]));
    let listener = TcpListener::bind("127.0.0.1:0").ok()?;
    let port = listener.local_addr().ok()?.port();
    std::thread::spawn(move || {
        let _ = data_session(listener, upstream, plan);
    });
    Some(port)
}

fn data_session(
    listener: TcpListener,
    upstream: SocketAddr,
    plan: Arc<Mutex<DataPlan>>,
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    let client = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if started.elapsed() > SOCKET_TIMEOUT {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    };
    client.set_nonblocking(false)?;
    timeouts(&client)?;
    let up = TcpStream::connect_timeout(&upstream, SOCKET_TIMEOUT)?;
    timeouts(&up)?;
    let (up2, client2, plan2) = (up.try_clone()?, client.try_clone()?, Arc::clone(&plan));
    let upload = std::thread::spawn(move || pump_upload(client2, up2, &plan2));
    pump_download(up, client, &plan);
    let _ = upload.join();
    Ok(())
}

/// Server to client: listings may be rewritten or padded, downloads may stall.
fn pump_download(mut up: TcpStream, mut client: TcpStream, plan: &Mutex<DataPlan>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut listing: Option<Vec<u8>> = None;
    let mut sent = 0u64;
    loop {
        // An error ends the transfer like an EOF.
        let n = up.read(&mut buf).unwrap_or_default();
        let p = lock(plan).clone();
        if p.verb == "MLSD" && (p.listing_size_delta != 0 || p.listing_padding > 0) {
            let l = listing.get_or_insert_with(Vec::new);
            l.extend_from_slice(&buf[..n]);
            if n > 0 {
                continue;
            }
            let rewritten = rewrite_listing(l, p.listing_size_delta);
            let _ = client.write_all(&rewritten);
            let mut padded = 0u64;
            let mut i = 0u64;
            while padded < p.listing_padding {
                let entry = format!("type=file;size=1; junk-{i:012}.bin\r\n");
                if client.write_all(entry.as_bytes()).is_err() {
                    break;
                }
                padded += entry.len() as u64;
                i += 1;
            }
            let _ = client.shutdown(Shutdown::Write);
            return;
        }
        if n == 0 {
            let _ = client.shutdown(Shutdown::Write);
            return;
        }
        let mut chunk = &buf[..n];
        if let Some(after) = p.cut_download_after {
            let allowed = after.saturating_sub(sent).min(chunk.len() as u64) as usize;
            let _ = client.write_all(&chunk[..allowed]);
            sent += allowed as u64;
            if sent >= after {
                let _ = client.shutdown(Shutdown::Both);
                let _ = up.shutdown(Shutdown::Both);
                return;
            }
            continue;
        }
        if let Some(after) = p.stall_after {
            let allowed = after.saturating_sub(sent).min(chunk.len() as u64) as usize;
            chunk = &chunk[..allowed];
            if client.write_all(chunk).is_err() {
                return;
            }
            sent += chunk.len() as u64;
            if sent >= after {
                // Stall: nothing more, connection held until the client gives up.
                hold(&mut client);
                let _ = up.shutdown(Shutdown::Both);
                return;
            }
            continue;
        }
        if client.write_all(chunk).is_err() {
            let _ = up.shutdown(Shutdown::Both);
            return;
        }
        sent += n as u64;
    }
}

/// Client to server: uploads may be cut after some bytes.
fn pump_upload(mut client: TcpStream, mut up: TcpStream, plan: &Mutex<DataPlan>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut sent = 0u64;
    loop {
        // An error ends the transfer like an EOF.
        let n = client.read(&mut buf).unwrap_or_default();
        if n == 0 {
            let _ = up.shutdown(Shutdown::Write);
            return;
        }
        let p = lock(plan).clone();
        let mut chunk = &buf[..n];
        if let Some(after) = p.cut_after {
            let allowed = after.saturating_sub(sent).min(chunk.len() as u64) as usize;
            chunk = &chunk[..allowed];
        }
        if up.write_all(chunk).is_err() {
            return;
        }
        sent += chunk.len() as u64;
        if p.cut_after.is_some_and(|after| sent >= after) {
            let _ = up.shutdown(Shutdown::Both);
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Adds `delta` to every `size=N` fact of an MLSD listing.
fn rewrite_listing(listing: &[u8], delta: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(listing);
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let mut rewritten = String::new();
        for (i, part) in line.split(';').enumerate() {
            if i > 0 {
                rewritten.push(';');
            }
            let size = part
                .split_once('=')
                .filter(|(k, _)| k.eq_ignore_ascii_case("size"))
                .and_then(|(_, v)| v.parse::<i64>().ok());
            match size {
                Some(n) if delta != 0 => {
                    rewritten.push_str(&format!("size={}", (n + delta).max(0)))
                }
                _ => rewritten.push_str(part),
            }
        }
        out.push_str(&rewritten);
    }
    out.into_bytes()
}
