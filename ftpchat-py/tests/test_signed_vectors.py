"""Signed records (SPEC §8.6, vectors §8.7), re-derived independently from
`signed-records-v1.json` alone with Python's `cryptography`, `hashlib` and `zlib`: the epoch
message keys (HKDF-SHA256, SPEC §17.3), Fernet decryption and byte-exact re-encryption with
the published IV, payload version and flags, zlib, the field list (a small TLV/varint
parser and encoder written here), writer ids, line hashes, chains and the Ed25519
signatures; and every refused line refused for the reason the Rust test states. Needs
neither the Rust extension nor a server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import zlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "signed-records-v1.json").read_text("utf-8"))
IDENTITIES: dict[str, Any] = json.loads((TESTDATA / "identity-v1.json").read_text("utf-8"))
DOMAINS = VECTORS["domains"]
U64_MAX = 2**64 - 1
TAG_EPOCH, TAG_PREV, TAG_DEVICE, TAG_GENERATION, TAG_SIGNATURE = 9, 10, 11, 12, 15


class Refused(Exception):
    """A refused line; `code` is spelled as the Rust test's expected error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def malformed(what: str) -> Refused:
    return Refused(f"Malformed({what})")


# ---- Keys, hashes, ids -----------------------------------------------------------------


def message_key(secret: bytes, room: bytes, epoch: int) -> bytes:
    """SPEC §17.3: HKDF-SHA256(ikm = S_n, salt = room id, info = domain || 0 || n (u64 BE))."""
    info = DOMAINS["epoch_key"].encode() + b"\x00" + epoch.to_bytes(8, "big")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=room, info=info).derive(secret)


def fernet_key_text(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def writer_id(room: bytes, device: bytes, generation: int) -> bytes:
    h = hashlib.sha256(DOMAINS["writer_id"].encode() + b"\x00" + room + device + generation.to_bytes(8, "big"))
    return h.digest()[:16]


def line_hash(line: str) -> bytes:
    return hashlib.sha256(DOMAINS["record_hash"].encode() + b"\x00" + line.encode("ascii")).digest()


def signed_message(signed_part: bytes) -> bytes:
    return DOMAINS["signature"].encode() + b"\x00" + signed_part


# ---- Fields (SPEC §8.2) ----------------------------------------------------------------


def put_varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def get_varint(data: bytes, i: int) -> tuple[int, int]:
    """A minimal LEB128 varint at `i`: (value, next index); Malformed(BadVarint) otherwise."""
    value = 0
    for n in range(10):
        if i + n >= len(data):
            raise malformed("BadVarint")
        b = data[i + n]
        if n == 9 and b > 1:
            raise malformed("BadVarint")
        value |= (b & 0x7F) << (7 * n)
        if b & 0x80 == 0:
            if b == 0 and n > 0:
                raise malformed("BadVarint")
            return value, i + n + 1
    raise malformed("BadVarint")


def exact_varint(value: bytes, tag: int) -> int:
    try:
        v, end = get_varint(value, 0)
    except Refused:
        raise malformed(f"InvalidField({tag})") from None
    if end != len(value):
        raise malformed(f"InvalidField({tag})")
    return v


def field(tag: int, value: bytes) -> bytes:
    return put_varint(tag) + put_varint(len(value)) + value


def parse_fields(data: bytes) -> list[tuple[int, int, bytes]]:
    """(tag, offset where the field starts, value) of each field."""
    out, i = [], 0
    while i < len(data):
        start = i
        tag, i = get_varint(data, i)
        length, i = get_varint(data, i)
        if i + length > len(data):
            raise malformed("FieldOverrun")
        out.append((tag, start, data[i : i + length]))
        i += length
    return out


def encode_fields(v: dict[str, Any]) -> bytes:
    """The signed part of a record (tags 1-12 in order) from the vector's own fields."""
    return b"".join(
        [
            field(1, bytes.fromhex(v["record_id"])),
            field(2, bytes.fromhex(v["room_id"])),
            field(3, bytes.fromhex(v["writer_id"])),
            field(4, put_varint(v["seq"])),
            field(5, put_varint(v["hlc"])),
            field(6, v["sender"].encode("utf-8")),
            field(7, put_varint(v["kind"])),
            field(8, bytes.fromhex(v["body_hex"])),
            field(TAG_EPOCH, put_varint(v["epoch"])),
            field(TAG_PREV, bytes.fromhex(v["prev_hex"])),
            field(TAG_DEVICE, bytes.fromhex(v["device_hex"])),
            field(TAG_GENERATION, put_varint(v["generation"])),
        ]
    )


# ---- Lines -----------------------------------------------------------------------------

LINE = re.compile(r"ftc3:(0|[1-9][0-9]{0,19}):(.*)", re.DOTALL)


def fernet_token(key: bytes, plaintext: bytes, timestamp: int, iv: bytes) -> str:
    """A Fernet token with a fixed IV, composed from its spec (AES-128-CBC, PKCS7,
    HMAC-SHA256 over version || time || iv || ciphertext)."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    body = b"\x80" + timestamp.to_bytes(8, "big") + iv + enc.update(padded) + enc.finalize()
    mac = hmac.new(key[:16], body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode()


def decode(line: str, keys: dict[int, bytes], room: bytes) -> dict[str, Any]:
    """Decodes a signed line as SPEC §8.6 says (not verifying the signature); raises
    `Refused` with the reason."""
    m = LINE.fullmatch(line)
    if not m or int(m.group(1)) > U64_MAX:
        raise Refused("NotARecord")
    epoch, token = int(m.group(1)), m.group(2)
    if epoch not in keys:
        raise Refused(f"NoEpochKey {{ epoch: {epoch} }}")
    try:
        payload = Fernet(fernet_key_text(keys[epoch])).decrypt(token.encode("ascii"))
    except InvalidToken:
        raise Refused("WrongKeyOrTampered") from None
    if len(payload) < 2:
        raise malformed("TooShort")
    version, flags, stored = payload[0], payload[1], payload[2:]
    if version != 2:
        raise Refused(f"UnsupportedVersion {{ version: {version} }}")
    if flags & ~0x01:
        raise malformed(f"UnknownFlags({flags})")
    fields = zlib.decompress(stored) if flags & 0x01 else stored
    values: dict[int, bytes] = {}
    signature_at = None
    for tag, start, value in parse_fields(fields):
        if signature_at is not None:
            raise malformed(f"InvalidField({TAG_SIGNATURE})")
        if tag in values and tag <= 12:
            raise malformed(f"DuplicateField({tag})")
        if tag == TAG_SIGNATURE:
            signature_at = start
        values[tag] = value
    for tag in [*range(1, 13), TAG_SIGNATURE]:
        if tag not in values:
            raise malformed(f"MissingField({tag})")
    for tag, length in [(1, 16), (2, 16), (3, 16), (TAG_PREV, 32), (TAG_DEVICE, 32), (TAG_SIGNATURE, 64)]:
        if len(values[tag]) != length:
            raise malformed(f"InvalidField({tag})")
    r: dict[str, Any] = {
        "epoch": exact_varint(values[TAG_EPOCH], TAG_EPOCH),
        "record_id": values[1].hex(),
        "room_id": values[2].hex(),
        "writer_id": values[3].hex(),
        "seq": exact_varint(values[4], 4),
        "hlc": exact_varint(values[5], 5),
        "sender": values[6].decode("utf-8"),
        "kind": exact_varint(values[7], 7),
        "body_hex": values[8].hex(),
        "prev_hex": values[TAG_PREV].hex(),
        "device_hex": values[TAG_DEVICE].hex(),
        "generation": exact_varint(values[TAG_GENERATION], TAG_GENERATION),
        "signature": values[TAG_SIGNATURE],
        "signed_part": fields[:signature_at],
        "compressed": bool(flags & 0x01),
        "payload": payload,
        "fields": fields,
    }
    if r["epoch"] != epoch:
        raise malformed(f"InvalidField({TAG_EPOCH})")
    if bytes.fromhex(r["writer_id"]) != writer_id(values[2], values[TAG_DEVICE], r["generation"]):
        raise malformed("InvalidField(3)")
    if (r["seq"] == 1) != (values[TAG_PREV] == bytes(32)):
        raise malformed(f"InvalidField({TAG_PREV})")
    if values[2] != room:
        raise Refused("ForeignRoom")
    return r


def verify(r: dict[str, Any]) -> None:
    """Raises InvalidSignature unless the record's device signed it."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(r["device_hex"]))
    key.verify(r["signature"], signed_message(r["signed_part"]))


def held_keys(entries: list[dict[str, Any]]) -> dict[int, bytes]:
    return {e["epoch"]: base64.urlsafe_b64decode(e["message_key"]) for e in entries}


ROOM = bytes.fromhex(VECTORS["room_id"])


# ---- Tests -----------------------------------------------------------------------------


def test_identities_are_those_of_identity_v1() -> None:
    theirs = {v["name"]: v for v in IDENTITIES["identities"]}
    assert [v["name"] for v in VECTORS["identities"]] == ["alice", "bob"]
    for v in VECTORS["identities"]:
        seed = bytes.fromhex(v["ed25519_seed_hex"])
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        assert public.hex() == v["ed25519_public_hex"] == theirs[v["name"]]["ed25519_public_hex"]
        assert v["ed25519_seed_hex"] == theirs[v["name"]]["ed25519_seed_hex"]


def test_epoch_message_keys_are_hkdf_of_the_secrets() -> None:
    assert [e["epoch"] for e in VECTORS["epochs"]] == [1, 300]
    for e in VECTORS["epochs"]:
        key = message_key(bytes.fromhex(e["secret_hex"]), ROOM, e["epoch"])
        assert fernet_key_text(key) == e["message_key"]
    for v in VECTORS["records"]:
        key = message_key(bytes.fromhex(v["epoch_secret_hex"]), bytes.fromhex(v["room_id"]), v["epoch"])
        assert fernet_key_text(key) == v["message_key"]
    # The epoch and the room are bound: another of either gives another key.
    e = VECTORS["epochs"][0]
    secret = bytes.fromhex(e["secret_hex"])
    assert fernet_key_text(message_key(secret, ROOM, e["epoch"] + 1)) != e["message_key"]
    assert fernet_key_text(message_key(secret, bytes(16), e["epoch"])) != e["message_key"]


def test_records_decode_to_their_published_fields() -> None:
    keys = held_keys(VECTORS["epochs"])
    records = VECTORS["records"]
    assert len(records) == 6
    for v in records:
        r = decode(v["line"], keys, ROOM)
        for k in ["epoch", "record_id", "room_id", "writer_id", "seq", "hlc", "sender", "kind", "body_hex"]:
            assert r[k] == v[k], (v["name"], k)
        for k in ["prev_hex", "device_hex", "generation", "compressed"]:
            assert r[k] == v[k], (v["name"], k)
        assert r["signature"].hex() == v["signature_hex"]
        assert signed_message(r["signed_part"]).hex() == v["signed_message_hex"]
        assert v["timestamp"] == (v["hlc"] >> 16) // 1000
        token = v["line"].split(":", 2)[2]
        assert Fernet(v["message_key"]).extract_timestamp(token.encode()) == v["timestamp"]
        # The writer id follows from the device, room and generation.
        device = bytes.fromhex(v["device_hex"])
        assert writer_id(ROOM, device, v["generation"]).hex() == v["writer_id"]
        assert line_hash(v["line"]).hex() == v["line_hash_hex"]
    assert sorted(v["compressed"] for v in records) == [False] * 2 + [True] * 4
    kinds = {v["kind"] for v in records}
    assert 1 in kinds and 9999 in kinds
    assert {v["generation"] for v in records if v["signer"] == "alice"} == {0, 1}


def test_lines_reencode_byte_for_byte_from_the_fields() -> None:
    """An independent encoder: the fields from the JSON, the signature from the seed
    (Ed25519 is deterministic), zlib level 6 only where shorter, Fernet with the IV."""
    seeds = {v["name"]: bytes.fromhex(v["ed25519_seed_hex"]) for v in VECTORS["identities"]}
    for v in VECTORS["records"]:
        signed_part = encode_fields(v)
        assert signed_message(signed_part).hex() == v["signed_message_hex"]
        signature = Ed25519PrivateKey.from_private_bytes(seeds[v["signer"]]).sign(signed_message(signed_part))
        assert signature.hex() == v["signature_hex"]
        fields = signed_part + field(TAG_SIGNATURE, signature)
        z = zlib.compress(fields, 6)
        payload = b"\x02\x01" + z if len(z) < len(fields) else b"\x02\x00" + fields
        assert (payload[1] == 1) == v["compressed"]
        key = base64.urlsafe_b64decode(v["message_key"])
        token = fernet_token(key, payload, v["timestamp"], bytes.fromhex(v["iv_hex"]))
        assert f"ftc3:{v['epoch']}:{token}" == v["line"], v["name"]


def test_signatures_verify_and_tampered_ones_do_not() -> None:
    keys = held_keys(VECTORS["epochs"])
    for v in VECTORS["records"]:
        r = decode(v["line"], keys, ROOM)
        verify(r)
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["device_hex"]))
        signature = bytes.fromhex(v["signature_hex"])
        message = bytes.fromhex(v["signed_message_hex"])
        public.verify(signature, message)
        for i in [0, 31, 32, 63]:
            bad = bytearray(signature)
            bad[i] ^= 0x01
            with pytest.raises(InvalidSignature):
                public.verify(bytes(bad), message)
        # Another signed byte (the last byte of the generation field), same signature.
        with pytest.raises(InvalidSignature):
            public.verify(signature, message[:-1] + bytes([message[-1] ^ 0x01]))
        # The other identity's key does not verify it.
        other = next(i for i in VECTORS["identities"] if i["name"] != v["signer"])
        with pytest.raises(InvalidSignature):
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(other["ed25519_public_hex"])).verify(signature, message)


def test_chains_link_by_line_hash() -> None:
    logs: dict[str, list[dict[str, Any]]] = {}
    for v in VECTORS["records"]:
        logs.setdefault(v["writer_id"], []).append(v)
    assert sorted(len(log) for log in logs.values()) == [1, 2, 3]
    for log in logs.values():
        tip = bytes(32)
        for seq, v in enumerate(sorted(log, key=lambda v: v["seq"]), start=1):
            assert v["seq"] == seq
            assert bytes.fromhex(v["prev_hex"]) == tip
            tip = line_hash(v["line"])
    # Two generations of one device are two logs with different writer ids.
    alice = {v["writer_id"] for v in VECTORS["records"] if v["signer"] == "alice"}
    assert len(alice) == 2


def test_refused_lines_are_refused_for_the_stated_reason() -> None:
    invalid = VECTORS["invalid"]
    assert len(invalid) == 11
    bad_signatures = 0
    for v in invalid:
        keys = held_keys(v["decoder_keys"])
        if v["decode"] == "ok":
            r = decode(v["line"], keys, ROOM)
            assert v["verify_signature"] == "BadSignature"
            with pytest.raises(InvalidSignature):
                verify(r)
            bad_signatures += 1
        else:
            with pytest.raises(Refused) as refused:
                decode(v["line"], keys, ROOM)
            assert refused.value.code == v["decode"], v["name"]
    assert bad_signatures == 2
