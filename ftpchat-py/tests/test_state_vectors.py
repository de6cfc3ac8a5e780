"""State files of presence and read position (SPEC §18, vectors §18.6), re-derived from
`state-v1.json` alone with Python's `cryptography`, `hashlib` and `zlib`: file names,
writer ids, the kind-6 body's sub-fields, byte-exact re-encryption of each file with the
published IV, the Ed25519 signatures, and every refused file refused for the stated
reason. Reuses the signed-record helpers of `test_signed_vectors.py`. Needs neither the
Rust extension nor a server."""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from test_signed_vectors import (
    Refused,
    decode,
    encode_fields,
    exact_varint,
    fernet_token,
    field,
    message_key,
    parse_fields,
    put_varint,
    verify,
    writer_id,
)
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "state-v1.json").read_text("utf-8"))
IDENTITIES: dict[str, Any] = json.loads((TESTDATA / "identity-v1.json").read_text("utf-8"))
ROOM = bytes.fromhex(VECTORS["room_id"])
NAME = re.compile(r"([0-9a-f]{32})\.([1-9][0-9]{0,19})\.state")
STATES = {0: "offline", 1: "online", 2: "away", 3: "typing"}


def keys() -> dict[int, bytes]:
    return {e["epoch"]: base64.urlsafe_b64decode(e["message_key"]) for e in VECTORS["epochs"]}


def parse_name(name: str) -> tuple[bytes, int]:
    m = NAME.fullmatch(name)
    assert m and int(m.group(2)) < 2**64, name
    return bytes.fromhex(m.group(1)), int(m.group(2))


def parse_body(body: bytes) -> dict[str, Any]:
    """The kind-6 body (SPEC §18.3): sub-fields 1-5, unknown ones skipped."""
    out: dict[str, Any] = {}
    for tag, _, value in parse_fields(body):
        if tag in (1, 2, 3, 5):
            assert tag not in out, "each known sub-tag once"
            out[tag] = exact_varint(value, tag)
        elif tag == 4:
            inner = {t: v for t, _, v in parse_fields(value)}
            assert len(inner[1]) == 16
            out[4] = (inner[1], exact_varint(inner[2], 2))
    if 1 not in out or 2 not in out:
        raise Refused("Body(MissingField)")
    if out[1] not in STATES:
        raise Refused("Body(InvalidField(1))")
    if 5 in out and out[1] != 3:
        raise Refused("Body(InvalidField(5))")
    return out


def encode_body(b: dict[str, Any]) -> bytes:
    out = field(1, put_varint(b[1])) + field(2, put_varint(b[2]))
    if 3 in b:
        out += field(3, put_varint(b[3]))
    if 4 in b:
        rid, hlc = b[4]
        out += field(4, field(1, rid) + field(2, put_varint(hlc)))
    if 5 in b:
        out += field(5, put_varint(b[5]))
    return out


def check_file(name: str, data: str) -> dict[str, Any]:
    """SPEC §18.4's checks (without the membership); raises `Refused` with the reason,
    spelled as the Rust `StateFileError`."""
    file_writer, _ = parse_name(name)
    if not data.endswith("\n") or "\n" in data[:-1] or "\r" in data:
        raise Refused("NotOneLine")
    r = decode(data[:-1], keys(), ROOM)
    if bytes.fromhex(r["writer_id"]) != file_writer:
        raise Refused("WriterMismatch")
    if r["kind"] != 6:
        raise Refused(f"NotPresence({r['kind']})")
    if r["seq"] != 1:
        raise Refused(f"NotFirst({r['seq']})")
    try:
        verify(r)
    except InvalidSignature:
        raise Refused("BadSignature") from None
    r["body"] = bytes.fromhex(r["body_hex"])
    r["presence"] = parse_body(r["body"])
    return r


def test_identities_and_keys_are_those_of_the_other_vectors() -> None:
    theirs = {v["name"]: v["ed25519_public_hex"] for v in IDENTITIES["identities"]}
    for v in VECTORS["identities"]:
        assert theirs[v["name"]] == v["ed25519_public_hex"]
    for e in VECTORS["epochs"]:
        key = message_key(bytes.fromhex(e["secret_hex"]), ROOM, e["epoch"])
        assert base64.urlsafe_b64encode(key).decode() == e["message_key"]


def test_files_decode_verify_and_are_named_by_their_writer() -> None:
    seen = set()
    for v in VECTORS["files"]:
        r = check_file(v["file_name"], v["file"])
        w, counter = parse_name(v["file_name"])
        assert counter == v["counter"]
        device = bytes.fromhex(v["device_hex"])
        assert w == bytes.fromhex(r["writer_id"]) == writer_id(ROOM, device, v["generation"]) == bytes.fromhex(v["writer_id"])
        assert r["prev_hex"] == "00" * 32 and r["seq"] == 1
        assert r["hlc"] == v["hlc"] and r["sender"] == v["sender"]
        assert r["body"].hex() == v["body_hex"]
        assert encode_body(r["presence"]) == r["body"], "canonical sub-field order"
        seen.add(STATES[r["presence"][1]])
    assert seen == {"online", "typing", "away", "offline"}
    # Spelled out: Bob types until T0 + 11 s and publishes no read position.
    bob = check_file(VECTORS["files"][1]["file_name"], VECTORS["files"][1]["file"])
    assert bob["presence"][1] == 3 and 4 not in bob["presence"]
    assert bob["presence"][5] >> 16 == 1_796_468_400_000 + 11_000


def test_files_reencode_byte_for_byte() -> None:
    for v in VECTORS["files"]:
        r = check_file(v["file_name"], v["file"])
        fields = encode_fields(v)
        signed = fields + field(15, r["signature"])
        compressed = zlib.compress(signed, 6)
        payload = b"\x02\x01" + compressed if len(compressed) < len(signed) else b"\x02\x00" + signed
        token = fernet_token(keys()[v["epoch"]], payload, v["timestamp"], bytes.fromhex(v["iv_hex"]))
        assert f"ftc3:{v['epoch']}:{token}\n" == v["file"]


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
def test_refused_files_are_refused_for_the_stated_reason(v: dict[str, Any]) -> None:
    with pytest.raises(Refused) as refused:
        check_file(v["file_name"], v["file"])
    assert refused.value.code == v["error"]
