"""A small reference implementation of the FTPChat 1.5, 1.6 and 1.7 line formats, written
from the facts in the test data README with ``zlib``, ``base64`` and ``cryptography`` only
(no ftpchat), to check ftpchat against:

- plaintext: ``"{YYYY-MM-DD HH:MM}:{username}: {message}"``;
- 1.5 line: ``base64(zlib(substitute(plaintext)))``, no key;
- key (1.6, 1.7): PBKDF2-HMAC-SHA256(UTF-8 password, salt, iterations, 32 bytes), URL-safe
  base64; the real clients use the constant salt ``FTPCHAT_SALT`` and 100,000 iterations;
- 1.6 line: standard base64 of the Fernet token's ASCII text, token of ``zlib(plaintext)``;
- 1.7 line: the Fernet token of ``zlib(plaintext.rstrip())``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
import zlib

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from testdata import TESTDATA

# The real FTPChat 1.6 and 1.7 clients' key derivation: a constant salt (42 ASCII bytes;
# the README says 41, but it is this string, and the clients' vectors decode with it).
FTPCHAT_SALT = b"q6334#Q0q8294%E$(#$%^&^%$#@!#%^YHB>$W#CX>E"
FTPCHAT_ITERATIONS = 100_000
assert len(FTPCHAT_SALT) == 42

_alphabet, _substituted = (
    (TESTDATA / "legacy-v1.5-substitution.txt").read_text(encoding="utf-8").splitlines()[:2]
)
assert len(_alphabet) == len(_substituted) == 94
_ENCODE = str.maketrans(_alphabet, _substituted)
_DECODE = str.maketrans(_substituted, _alphabet)


def encode_15(plaintext: str) -> bytes:
    return base64.b64encode(zlib.compress(plaintext.translate(_ENCODE).encode("utf-8")))


def decode_15(line: bytes) -> str:
    return zlib.decompress(base64.b64decode(line, validate=True)).decode("utf-8").translate(_DECODE)


def fernet_key(password: str, salt: bytes = FTPCHAT_SALT, iterations: int = FTPCHAT_ITERATIONS) -> bytes:
    """The Fernet key (URL-safe base64) of a password; by default the real clients'."""
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return base64.urlsafe_b64encode(kdf.derive(password.encode("utf-8")))


def fernet_token(key: bytes, data: bytes, at: int | None = None, iv: bytes | None = None) -> bytes:
    """A Fernet token built from the specification (version 0x80, time, IV, AES-128-CBC of
    the PKCS#7-padded data under the key's second half, HMAC-SHA256 under its first half),
    so that a fixed IV and time give a reproducible token."""
    raw = base64.urlsafe_b64decode(key)
    signing, encryption = raw[:16], raw[16:]
    iv = os.urandom(16) if iv is None else iv
    at = int(time.time()) if at is None else at
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(encryption), modes.CBC(iv)).encryptor()
    body = b"\x80" + struct.pack(">Q", at) + iv + encryptor.update(padded) + encryptor.finalize()
    return base64.urlsafe_b64encode(body + hmac.new(signing, body, hashlib.sha256).digest())


def encode_16(plaintext: str, key: bytes, at: int | None = None, iv: bytes | None = None) -> bytes:
    """A line as the real FTPChat 1.6 client writes it."""
    return base64.b64encode(fernet_token(key, zlib.compress(plaintext.encode("utf-8")), at, iv))


def decode_16(line: bytes, key: bytes) -> str:
    return decode_17(base64.b64decode(line, validate=True), key)


def encode_17(plaintext: str, key: bytes, at: int | None = None, iv: bytes | None = None) -> bytes:
    """A line as the real FTPChat 1.7 client writes it (the text ``rstrip()``-ped)."""
    return fernet_token(key, zlib.compress(plaintext.rstrip().encode("utf-8")), at, iv)


def decode_17(line: bytes, key: bytes) -> str:
    return zlib.decompress(Fernet(key).decrypt(line)).decode("utf-8")


def token_payload(line: bytes, key: bytes) -> tuple[bytes, int]:
    """The zlib bytes inside a 1.6 or 1.7 line, and the token's time."""
    token = base64.b64decode(line, validate=True) if line.startswith(b"Z") else line
    fernet = Fernet(key)
    return fernet.decrypt(token), fernet.extract_timestamp(token)


def decode_chat_file(data: bytes, key: bytes | None = None) -> list[str]:
    """Every decodable line of a chat file (lines it cannot decode are skipped here)."""
    out = []
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        try:
            if line.startswith(b"g") and key is not None:
                out.append(decode_17(line, key))
            elif line.startswith(b"Z") and key is not None:
                out.append(decode_16(line, key))
            else:
                out.append(decode_15(line))
        except Exception:
            continue
    return out
