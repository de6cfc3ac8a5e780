//! The FTPChat line codecs and Fernet, usable without a room.

use chrono::{Datelike, NaiveDateTime, Timelike};
use ftpchat_core::codec::compat::{self, CompatMessage, LegacyTimestamp};
use ftpchat_core::codec::{
    derive_key as core_derive_key, Deflater, FernetKey, Inflater, KdfParams,
};
use ftpchat_core::{default_compat_kdf, Clock, SystemClock};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::convert;
use crate::errors::Failure;

/// A `str` (encoded as UTF-8) or a bytes-like object, as bytes.
pub(crate) fn bytes_or_str(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    // bytearray, memoryview...: anything `bytes()` accepts.
    let b = obj
        .py()
        .get_type::<PyBytes>()
        .call1((obj,))?
        .cast_into::<PyBytes>()?;
    Ok(b.as_bytes().to_vec())
}

/// The FTPChat 1.6/1.7 KDF parameters: the real clients' (`FTPCHAT_SALT`,
/// `FTPCHAT_ITERATIONS`) where not given.
pub(crate) fn compat_kdf(
    salt: Option<Vec<u8>>,
    iterations: Option<u64>,
) -> Result<KdfParams, Failure> {
    let defaults = default_compat_kdf();
    Ok(KdfParams::new(
        salt.unwrap_or_else(|| defaults.salt().to_vec()),
        iterations.unwrap_or(u64::from(defaults.iterations())),
    )?)
}

/// The Fernet key from `key` (URL-safe base64) or from `password` with the KDF
/// parameters (derived with the GIL released).
fn key_from(
    py: Python<'_>,
    password: Option<String>,
    key: Option<String>,
    salt: Option<Vec<u8>>,
    iterations: Option<u64>,
) -> PyResult<FernetKey> {
    match (password, key) {
        (Some(_), Some(_)) => {
            Err(Failure::invalid_config("give a password or a key, not both").into())
        }
        (None, None) => Err(Failure::invalid_config("a password or a key is required").into()),
        (None, Some(key)) => Ok(FernetKey::from_base64(&key).map_err(Failure::from)?),
        (Some(password), None) => {
            let params = compat_kdf(salt, iterations)?;
            Ok(py.detach(move || core_derive_key(&password, &params)))
        }
    }
}

fn salt_arg(salt: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<u8>>> {
    salt.map(bytes_or_str).transpose()
}

fn now_secs() -> u64 {
    SystemClock.now_ms() / 1000
}

/// Derives the Fernet key of a password as FTPChat 1.6 and 1.7 do: PBKDF2-HMAC-SHA256
/// (UTF-8 password, salt, iterations, 32 bytes; by default the real clients' salt and
/// iterations), returned as URL-safe base64 (the form `cryptography.fernet.Fernet` takes).
/// The GIL is released while deriving.
#[pyfunction]
#[pyo3(signature = (password, salt = None, iterations = None))]
pub(crate) fn derive_key(
    py: Python<'_>,
    password: String,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
) -> PyResult<String> {
    let key = key_from(py, Some(password), None, salt_arg(salt)?, iterations)?;
    Ok(key.to_base64().to_string())
}

/// Encodes a plaintext as a FTPChat 1.5 line (no newline). The 1.5 codec has no key:
/// anyone can read these lines.
#[pyfunction]
pub(crate) fn encode_15(plaintext: &str) -> String {
    compat::encode_legacy(plaintext, &mut Deflater::new())
}

/// Decodes a FTPChat 1.5 line to its plaintext; raises `CorruptRecord`.
#[pyfunction]
pub(crate) fn decode_15(line: &Bound<'_, PyAny>) -> PyResult<String> {
    let line = bytes_or_str(line)?;
    Ok(compat::decode_legacy(trim_eol(&line), &mut Inflater::new()).map_err(Failure::from)?)
}

/// Encodes a plaintext as a FTPChat 1.6 line (no newline): standard base64 of the Fernet
/// token of the zlib-compressed text, as the real 1.6 client writes it (lines start
/// `Z0FBQUFB`), with `key` or a key derived from `password`, `salt` and `iterations`.
#[pyfunction]
#[pyo3(signature = (plaintext, *, password = None, key = None, salt = None, iterations = None, timestamp = None))]
pub(crate) fn encode_16(
    py: Python<'_>,
    plaintext: &str,
    password: Option<String>,
    key: Option<String>,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
    timestamp: Option<u64>,
) -> PyResult<String> {
    let key = key_from(py, password, key, salt_arg(salt)?, iterations)?;
    let now = timestamp.unwrap_or_else(now_secs);
    Ok(compat::encode_fernet16(
        plaintext,
        &key,
        now,
        &mut Deflater::new(),
    ))
}

/// Decodes a FTPChat 1.6 line (base64 of a Fernet token) to its plaintext; raises
/// `WrongPassword` (wrong key or altered line) or `CorruptRecord`.
#[pyfunction]
#[pyo3(signature = (line, *, password = None, key = None, salt = None, iterations = None))]
pub(crate) fn decode_16(
    py: Python<'_>,
    line: &Bound<'_, PyAny>,
    password: Option<String>,
    key: Option<String>,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
) -> PyResult<String> {
    let line = bytes_or_str(line)?;
    let key = key_from(py, password, key, salt_arg(salt)?, iterations)?;
    let (text, _time) = compat::decode_fernet16(trim_eol(&line), &key, &mut Inflater::new())
        .map_err(Failure::from)?;
    Ok(text)
}

/// Encodes a plaintext as a FTPChat 1.7 line (no newline): the Fernet token of the
/// zlib-compressed text with trailing white space removed (Python's `rstrip()`), as the
/// real 1.7 client writes it (lines start `gAAAAA`).
#[pyfunction]
#[pyo3(signature = (plaintext, *, password = None, key = None, salt = None, iterations = None, timestamp = None))]
pub(crate) fn encode_17(
    py: Python<'_>,
    plaintext: &str,
    password: Option<String>,
    key: Option<String>,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
    timestamp: Option<u64>,
) -> PyResult<String> {
    let key = key_from(py, password, key, salt_arg(salt)?, iterations)?;
    let now = timestamp.unwrap_or_else(now_secs);
    Ok(compat::encode_fernet(
        compat::rstrip(plaintext),
        &key,
        now,
        &mut Deflater::new(),
    ))
}

/// Decodes a FTPChat 1.7 line (a Fernet token) to its plaintext; raises `WrongPassword`
/// (wrong key or altered line) or `CorruptRecord`.
#[pyfunction]
#[pyo3(signature = (line, *, password = None, key = None, salt = None, iterations = None))]
pub(crate) fn decode_17(
    py: Python<'_>,
    line: &Bound<'_, PyAny>,
    password: Option<String>,
    key: Option<String>,
    salt: Option<&Bound<'_, PyAny>>,
    iterations: Option<u64>,
) -> PyResult<String> {
    let line = bytes_or_str(line)?;
    let key = key_from(py, password, key, salt_arg(salt)?, iterations)?;
    let (text, _time) = compat::decode_fernet(trim_eol(&line), &key, &mut Inflater::new())
        .map_err(Failure::from)?;
    Ok(text)
}

/// Encrypts `data` as a Fernet token (URL-safe base64, padded) with `key`, timestamped
/// `timestamp` (seconds since the Unix epoch; now if not given).
#[pyfunction]
#[pyo3(signature = (key, data, *, timestamp = None))]
pub(crate) fn fernet_encrypt(key: &str, data: &[u8], timestamp: Option<u64>) -> PyResult<String> {
    let key = FernetKey::from_base64(key).map_err(Failure::from)?;
    Ok(key.encrypt(data, timestamp.unwrap_or_else(now_secs)))
}

/// Verifies and decrypts a Fernet token; returns `(data, timestamp)`. Raises
/// `WrongPassword` (wrong key or altered token) or `CorruptRecord`.
#[pyfunction]
pub(crate) fn fernet_decrypt<'py>(
    py: Python<'py>,
    key: &str,
    token: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyBytes>, u64)> {
    let key = FernetKey::from_base64(key).map_err(Failure::from)?;
    let token = bytes_or_str(token)?;
    let decrypted = key.decrypt(trim_eol(&token)).map_err(Failure::from)?;
    Ok((PyBytes::new(py, &decrypted.plaintext), decrypted.timestamp))
}

/// Splits a FTPChat plaintext (`"YYYY-MM-DD HH:MM:user: text"`) into a `CompatMessage`;
/// a plaintext that does not follow the pattern is kept whole in `text`.
#[pyfunction]
pub(crate) fn parse_plaintext<'py>(
    py: Python<'py>,
    plaintext: &str,
) -> PyResult<Bound<'py, PyAny>> {
    convert::compat_message(py, &CompatMessage::parse(plaintext))
}

/// Formats a FTPChat plaintext: `"YYYY-MM-DD HH:MM:{username}: {text}"` (the time to the
/// minute, without time zone). Raises `InvalidName` for a username containing `": "`,
/// CR or LF.
#[pyfunction]
pub(crate) fn format_plaintext(
    local_time: NaiveDateTime,
    username: &str,
    text: &str,
) -> PyResult<String> {
    let ts = LegacyTimestamp {
        year: u16::try_from(local_time.year())
            .ok()
            .filter(|y| *y <= 9999)
            .ok_or_else(|| Failure::invalid_config("the year must be between 0 and 9999"))?,
        // chrono guarantees these ranges, so the conversions cannot fail.
        month: local_time.month() as u8,
        day: local_time.day() as u8,
        hour: local_time.hour() as u8,
        minute: local_time.minute() as u8,
    };
    Ok(CompatMessage::new(ts, username, text)
        .map_err(Failure::from)?
        .to_plaintext())
}

/// A line without its trailing LF or CRLF (as read from a chat file).
fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
