"""Private records (SPEC §8.4.2, vectors §8.9), opened from `private-v1.json` alone: the
outer signed line with the signed-record decoder of `test_signed_vectors.py`, each wrap with
HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) written
here on Python's `cryptography`, and the sealed body with ChaCha20-Poly1305. Each record must
open, to its published inner body, for exactly the devices it names. Needs neither the Rust
extension nor a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_signed_vectors import decode, get_varint, parse_fields, verify
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "private-v1.json").read_text("utf-8"))
ROOM = bytes.fromhex(VECTORS["room_id"])
WRAP_INFO = b"ftpchat-private-wrap-v1"
SEAL_CONTEXT = b"ftpchat-private-v1"

# ---- HPKE, RFC 9180 (base mode, open only) ---------------------------------------------

KEM_SUITE = b"KEM" + (0x0020).to_bytes(2, "big")
HPKE_SUITE = b"HPKE" + (0x0020).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0x0003).to_bytes(2, "big")


def extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def hpke_open(secret: bytes, enc: bytes, info: bytes, aad: bytes, ct: bytes) -> bytes:
    sk = X25519PrivateKey.from_private_bytes(secret)
    dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    pk_r = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    shared = labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", enc + pk_r, 32)
    psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    s = labeled_extract(HPKE_SUITE, shared, b"secret", b"")
    key = labeled_expand(HPKE_SUITE, s, b"key", context, 32)
    nonce = labeled_expand(HPKE_SUITE, s, b"base_nonce", context, 12)
    return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)


# ---- Private records (SPEC §8.4.2) ------------------------------------------------------


def private_body(body: bytes) -> tuple[bytes, list[bytes], bytes]:
    fields = {tag: value for tag, _, value in parse_fields(body)}
    wraps = fields[2]
    assert len(fields[1]) == 16 and wraps and len(wraps) % 112 == 0
    return fields[1], [wraps[i : i + 112] for i in range(0, len(wraps), 112)], fields[3]


def open_private(me: dict[str, Any], record: dict[str, Any]) -> tuple[int, bytes] | None:
    """(inner kind, inner body) for `me`, or None without a wrap for `me`'s device."""
    recipient, wraps, sealed = private_body(bytes.fromhex(record["body_hex"]))
    device = bytes.fromhex(me["ed25519_public_hex"])
    mine = [w for w in wraps if w[:32] == device]
    if not mine:
        return None
    w = mine[0]
    record_id = bytes.fromhex(record["record_id"])
    info = WRAP_INFO + b"\x00" + ROOM + bytes(8) + device
    key = hpke_open(bytes.fromhex(me["x25519_secret_hex"]), w[32:64], info, record_id, w[64:])
    aad = SEAL_CONTEXT + b"\x00" + ROOM + record_id + recipient
    inner = ChaCha20Poly1305(key).decrypt(bytes(12), sealed, aad)
    fields = {tag: value for tag, _, value in parse_fields(inner)}
    kind, end = get_varint(fields[1], 0)
    assert end == len(fields[1])
    return kind, fields[2]


def test_each_record_opens_for_exactly_its_devices() -> None:
    key = base64.urlsafe_b64decode(VECTORS["message_key"])
    people = {p["name"]: p for p in VECTORS["identities"]}
    assert len(VECTORS["records"]) == 4
    for v in VECTORS["records"]:
        r = decode(v["line"], {VECTORS["epoch"]: key}, ROOM)
        verify(r)
        assert r["kind"] == 9 and r["record_id"] == v["record_id"]
        assert r["device_hex"] == people[v["signer"]]["ed25519_public_hex"]
        recipient, _, _ = private_body(bytes.fromhex(r["body_hex"]))
        assert recipient.hex() == people[v["recipient"]]["member_id"]
        for name, person in people.items():
            opened = open_private(person, r)
            if name in v["opened_by"]:
                assert opened == (v["inner_kind"], bytes.fromhex(v["inner_body_hex"])), (v["name"], name)
            else:
                assert opened is None, (v["name"], name)


def test_a_sealed_body_does_not_open_in_another_record() -> None:
    key = base64.urlsafe_b64decode(VECTORS["message_key"])
    v = VECTORS["records"][0]
    r = decode(v["line"], {VECTORS["epoch"]: key}, ROOM)
    moved = dict(r, record_id="77" * 16)
    bob = next(p for p in VECTORS["identities"] if p["name"] == "bob")
    with pytest.raises(InvalidTag):
        open_private(bob, moved)


def test_the_block_list_names_carol() -> None:
    v = VECTORS["records"][3]
    assert v["signer"] == v["recipient"] == "alice" and v["inner_kind"] == 10
    carol = next(p for p in VECTORS["identities"] if p["name"] == "carol")
    fields = {tag: value for tag, _, value in parse_fields(bytes.fromhex(v["inner_body_hex"]))}
    assert fields[1].hex() == carol["member_id"]
