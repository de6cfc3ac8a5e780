"""A small reference implementation of the FTPChat 1.5 and 1.6 line formats, written
with ``zlib``, ``base64`` and ``cryptography`` only (no ftpchat), to check ftpchat
against. It follows the test data README: 1.5 = base64(zlib(substitute(text))), 1.6 =
Fernet(PBKDF2-HMAC-SHA256 key, zlib(text)); the plaintext is
``"{YYYY-MM-DD HH:MM}:{username}: {message}"``."""

from __future__ import annotations

import base64
import zlib

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from testdata import TESTDATA

_alphabet, _substituted = (
    (TESTDATA / "legacy-v1.5-substitution.txt").read_text(encoding="utf-8").splitlines()[:2]
)
assert len(_alphabet) == len(_substituted) == 94
_ENCODE = str.maketrans(_alphabet, _substituted)
_DECODE = str.maketrans(_substituted, _alphabet)


def encode_15(plaintext: str) -> bytes:
    return base64.b64encode(zlib.compress(plaintext.translate(_ENCODE).encode("utf-8")))


def decode_15(line: bytes) -> str:
    return zlib.decompress(base64.b64decode(line)).decode("utf-8").translate(_DECODE)


def key_16(password: str, salt: bytes, iterations: int) -> bytes:
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations)
    return base64.urlsafe_b64encode(kdf.derive(password.encode("utf-8")))


def encode_16(plaintext: str, key: bytes, at: int | None = None) -> bytes:
    data = zlib.compress(plaintext.encode("utf-8"))
    return Fernet(key).encrypt(data) if at is None else Fernet(key).encrypt_at_time(data, at)


def decode_16(line: bytes, key: bytes) -> str:
    return zlib.decompress(Fernet(key).decrypt(line)).decode("utf-8")


def decode_chat_file(data: bytes, key: bytes | None = None) -> list[str]:
    """Every decodable line of a chat file, as the original client reads it (lines it
    cannot decode are skipped here)."""
    out = []
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        try:
            if line.startswith(b"g") and key is not None:
                out.append(decode_16(line, key))
            else:
                out.append(decode_15(line))
        except Exception:
            continue
    return out
