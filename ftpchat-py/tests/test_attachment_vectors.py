"""Attachments (SPEC §8.4.3, vectors §8.10), re-derived from `attachments-v1.json` alone with
Python's `cryptography`: the stream key by HKDF-SHA256, each 64 KiB chunk sealed with
ChaCha20-Poly1305 under the STREAM nonce (7 zero bytes, a big-endian chunk counter, the
last-chunk flag), the record body parsed and checked by the rules written again here.
Truncation, swapped chunks and another room must not open. Needs neither the Rust extension
nor a server."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from test_signed_vectors import Refused, get_varint, parse_fields
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "attachments-v1.json").read_text("utf-8"))
ROOM = bytes.fromhex(VECTORS["room_id"])
CHUNK = VECTORS["chunk_len"]
assert CHUNK == 65536


def the_file(size: int) -> bytes:
    return bytes((7 * i + 3) % 256 for i in range(size))


def stream_key(key: bytes, room: bytes, path: str) -> bytes:
    info = b"ftpchat-blob-v1" + b"\x00" + path.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=room, info=info).derive(key)


def nonce(i: int, last: bool) -> bytes:
    return bytes(7) + i.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK))


def seal(key: bytes, room: bytes, path: str, data: bytes) -> bytes:
    aead = ChaCha20Poly1305(stream_key(key, room, path))
    n = chunk_count(len(data))
    return b"".join(
        aead.encrypt(nonce(i, i == n - 1), data[i * CHUNK : (i + 1) * CHUNK], None) for i in range(n)
    )


def open_blob(key: bytes, room: bytes, path: str, size: int, blob: bytes) -> bytes:
    aead = ChaCha20Poly1305(stream_key(key, room, path))
    n = chunk_count(size)
    if len(blob) != size + 16 * n:
        raise ValueError("size mismatch")
    out = []
    for i in range(n):
        sealed = blob[i * (CHUNK + 16) : (i + 1) * (CHUNK + 16)]
        out.append(aead.decrypt(nonce(i, i == n - 1), sealed, None))
    return b"".join(out)


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BLOB_PATH = re.compile(r"files/[0-9a-f]{32}")


def varint(value: bytes) -> int:
    """A field holding exactly one minimal varint (SPEC §8.2)."""
    n, end = get_varint(value, 0)
    if end != len(value):
        raise ValueError("not one varint")
    return n


def parse_body(body: bytes) -> dict[int, bytes]:
    """Sub-fields of a kind-7 body, checked as SPEC §8.4.3 says; ValueError when malformed."""
    try:
        parsed = parse_fields(body)
    except Refused as e:
        raise ValueError(str(e)) from e
    fields: dict[int, bytes] = {}
    for tag, _, value in parsed:
        if tag in fields and 1 <= tag <= 7:
            raise ValueError("duplicate sub-field")
        fields[tag] = value
    for tag in range(1, 7):
        if tag not in fields:
            raise ValueError(f"missing sub-field {tag}")
    name = fields[1].decode("utf-8")
    if not name or len(fields[1]) > 255 or name in (".", "..") or any(
        c in "/\\:" or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in BIDI for c in name
    ):
        raise ValueError("bad name")
    try:
        size = varint(fields[2])
    except Refused as e:
        raise ValueError(str(e)) from e
    if size > 1 << 48:
        raise ValueError("bad size")
    media = fields[3]
    if len(media) > 127 or b"/" not in media or any(not 0x21 <= b <= 0x7E for b in media):
        raise ValueError("bad media type")
    if not BLOB_PATH.fullmatch(fields[4].decode("utf-8")):
        raise ValueError("bad path")
    if len(fields[5]) != 32 or len(fields[6]) != 32:
        raise ValueError("bad hash or key")
    if 7 in fields:
        fields[7].decode("utf-8")
    return fields


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda c: c["name"])
def test_blobs_and_bodies_are_reproduced(case: dict[str, Any]) -> None:
    data = the_file(case["size"])
    key = bytes.fromhex(case["key_hex"])
    blob = seal(key, ROOM, case["path"], data)
    assert len(blob) == case["blob_len"]
    assert chunk_count(case["size"]) == case["chunks"]
    assert hashlib.sha256(blob).hexdigest() == case["blob_sha256_hex"]
    if "blob_hex" in case:
        assert blob.hex() == case["blob_hex"]
    assert open_blob(key, ROOM, case["path"], case["size"], blob) == data

    fields = parse_body(bytes.fromhex(case["body_hex"]))
    assert fields[1].decode() == case["name"]
    assert varint(fields[2]) == case["size"]
    assert fields[3].decode() == case["media_type"]
    assert fields[4].decode() == case["path"]
    assert fields[5].hex() == case["sha256_hex"] == hashlib.sha256(data).hexdigest()
    assert fields[6] == key
    assert fields.get(7, b"").decode() == case["caption"]


def test_truncated_swapped_and_foreign_blobs_do_not_open() -> None:
    case = max(VECTORS["cases"], key=lambda c: c["size"])
    assert case["chunks"] >= 3
    key, path, size = bytes.fromhex(case["key_hex"]), case["path"], case["size"]
    blob = seal(key, ROOM, path, the_file(size))
    sealed = CHUNK + 16
    # Truncated at a chunk boundary, presented as the shorter file: no last-chunk flag.
    with pytest.raises(InvalidTag):
        open_blob(key, ROOM, path, 2 * CHUNK, blob[: 2 * sealed])
    # Two chunks swapped.
    swapped = blob[sealed : 2 * sealed] + blob[:sealed] + blob[2 * sealed :]
    with pytest.raises(InvalidTag):
        open_blob(key, ROOM, path, size, swapped)
    # The same blob under another room or another name.
    with pytest.raises(InvalidTag):
        open_blob(key, bytes(16), path, size, blob)
    with pytest.raises(InvalidTag):
        open_blob(key, ROOM, "files/" + "b" * 32, size, blob)


@pytest.mark.parametrize("bad", VECTORS["malformed"], ids=lambda b: b["why"])
def test_malformed_bodies_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        parse_body(bytes.fromhex(bad["body_hex"]))
