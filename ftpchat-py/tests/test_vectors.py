"""The shared vectors (made by the original FTPChat 1.5, 1.6 and 1.7 code and Python's
`cryptography`), read from the test data folder the Rust tests use."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import ftpchat
import pytest
import reference
from testdata import TESTDATA, jsonl


def test_legacy_15_lines_decode_and_round_trip() -> None:
    vectors = jsonl("legacy-v1.5.jsonl")
    assert len(vectors) == 55
    same_bytes = 0
    for v in vectors:
        assert ftpchat.decode_15(v["line"]) == v["plaintext"]
        assert ftpchat.decode_15(v["line"].encode()) == v["plaintext"]
        ours = ftpchat.encode_15(v["plaintext"])
        assert ftpchat.decode_15(ours) == v["plaintext"]
        # The reference decoder (zlib + base64 + the published table) reads our lines.
        assert reference.decode_15(ours.encode()) == v["plaintext"]
        same_bytes += ours == v["line"]
    # zlib implementations may compress differently; the Rust core matches CPython on
    # short texts, so at least some lines are byte-identical.
    assert same_bytes > 0


def test_legacy_15_invalid_lines_raise_corrupt_record() -> None:
    for line in ["this line is not an encrypted record", "eJwz9DR01dUz1PV0VfAs", ""]:
        with pytest.raises(ftpchat.CorruptRecord):
            ftpchat.decode_15(line)


def test_legacy_15_chat_file_in_a_shared_room(tmp_path: Path) -> None:
    expected = json.loads((TESTDATA / "legacy-v1.5-chat.expected.json").read_text("utf-8"))
    shutil.copy(TESTDATA / "legacy-v1.5-chat.txt", tmp_path / "chat.txt")
    with ftpchat.open(str(tmp_path), "chat.txt", name="reader", layout="shared", codec="1.5") as room:
        update = room.sync()
    got = [
        (m.local_time.strftime("%Y-%m-%d %H:%M") if m.local_time else None, m.sender, m.text)
        for m in update.messages
    ]
    # Readers hide the one trailing LF FTPChat's GUI leaves (SPEC.md).
    want = [(m["timestamp"], m["username"], m["text"].removesuffix("\n")) for m in expected["messages"]]
    assert got == want
    assert all(m.codec is ftpchat.Codec.FTPCHAT_15 for m in update.messages)
    assert all(m.status is ftpchat.MessageStatus.CONFIRMED for m in update.messages)
    assert all(m.timestamp is None and not m.is_own for m in update.messages)
    undecodable = [e for e in update.events if e.kind == "undecodable_line"]
    assert len(undecodable) == len(expected["undecodable_complete_lines"])
    assert undecodable[0].file == "chat.txt"


def test_pbkdf2_keys_match_python() -> None:
    vectors = jsonl("pbkdf2-sha256.jsonl")
    assert len(vectors) == 7
    for v in vectors:
        salt = bytes.fromhex(v["salt_hex"])
        assert ftpchat.derive_key(v["password"], salt, v["iterations"]) == v["fernet_key"]


def test_fernet_tokens_from_python_decrypt() -> None:
    vectors = jsonl("fernet.jsonl")
    valid = [v for v in vectors if "invalid" not in v]
    invalid = [v for v in vectors if "invalid" in v]
    assert valid and invalid
    for v in valid:
        data, timestamp = ftpchat.fernet_decrypt(v["key"], v["token"])
        assert data == bytes.fromhex(v["plaintext_hex"])
        assert timestamp == v["timestamp"]
    expected = {
        "tampered_ciphertext": ftpchat.WrongPassword,
        "tampered_hmac": ftpchat.WrongPassword,
        "wrong_key": ftpchat.WrongPassword,
        "wrong_version": ftpchat.CorruptRecord,
        "truncated": ftpchat.CorruptRecord,
        "not_base64": ftpchat.CorruptRecord,
    }
    seen = set()
    for v in invalid:
        with pytest.raises(expected.get(v["invalid"], ftpchat.Error)):
            ftpchat.fernet_decrypt(v["key"], v["token"])
        seen.add(v["invalid"])
    assert seen >= {"tampered_ciphertext", "tampered_hmac", "wrong_version", "truncated"}


@pytest.mark.parametrize(
    ("version", "encode", "decode", "reference_encode"),
    [
        ("1.6", ftpchat.encode_16, ftpchat.decode_16, reference.encode_16),
        ("1.7", ftpchat.encode_17, ftpchat.decode_17, reference.encode_17),
    ],
)
def test_original_client_lines_decode_and_encode(
    version: str, encode: Any, decode: Any, reference_encode: Any
) -> None:
    """The real clients' own lines (their `encrypt` with a fixed IV and time) decode with
    nothing but the password; ftpchat's line for the same plaintext and time is the
    original byte for byte once sealed with the original IV (ftpchat has no fixed-IV
    encoder: it is the random part)."""
    vectors = jsonl(f"ftpchat-{version}-original.jsonl")
    assert len(vectors) == 5
    prefix = "Z0FBQUFB" if version == "1.6" else "gAAAAA"
    for v in vectors:
        password, line, plaintext = v["password"], v["line"], v["plaintext"]
        assert line.startswith(prefix)
        assert decode(line, password=password) == plaintext
        assert decode(line.encode() + b"\r\n", password=password) == plaintext
        key = reference.fernet_key(password)
        iv = bytes.fromhex(v["iv_hex"])
        # The reference encoder, written from the facts, is the client byte for byte.
        assert reference_encode(plaintext, key, v["timestamp"], iv).decode() == line

        ours = encode(plaintext, password=password, timestamp=v["timestamp"])
        assert ours.startswith(prefix) and len(ours) == len(line) and ours != line
        payload, at = reference.token_payload(ours.encode(), key)
        assert (payload, at) == reference.token_payload(line.encode(), key)
        sealed = reference.fernet_token(key, payload, at, iv)
        assert (base64.b64encode(sealed) if version == "1.6" else sealed).decode() == line
        # The same with a derived key instead of the password.
        assert encode(plaintext, key=key.decode(), timestamp=1).startswith(prefix)
        assert decode(line, key=key.decode()) == plaintext


def test_the_17_encoder_strips_and_the_16_encoder_keeps_trailing_white_space() -> None:
    key = reference.fernet_key("pw", b"s", 1000)
    kdf: dict[str, Any] = dict(password="pw", salt=b"s", iterations=1000)
    text = "2026-02-01 10:15:Ahmed: two\nlines \t\n"
    assert reference.decode_17(ftpchat.encode_17(text, **kdf).encode(), key) == text.rstrip()
    assert reference.decode_16(ftpchat.encode_16(text, **kdf).encode(), key) == text
    # Each decoder takes its own client's lines only.
    with pytest.raises(ftpchat.CorruptRecord):
        ftpchat.decode_17(ftpchat.encode_16(text, **kdf), **kdf)
    with pytest.raises(ftpchat.CorruptRecord):
        ftpchat.decode_16(ftpchat.encode_17(text, **kdf), **kdf)


def test_original_client_lines_with_a_wrong_password_or_salt() -> None:
    v = jsonl("ftpchat-1.7-original.jsonl")[0]
    with pytest.raises(ftpchat.WrongPassword) as info:
        ftpchat.decode_17(v["line"], password="not-" + v["password"])
    assert "not-" + v["password"] not in str(info.value)
    with pytest.raises(ftpchat.WrongPassword):
        ftpchat.decode_17(v["line"], password=v["password"], salt=b"ftpchat")
    w = jsonl("ftpchat-1.6-original.jsonl")[0]
    with pytest.raises(ftpchat.WrongPassword):
        ftpchat.decode_16(w["line"], password="not-" + w["password"])


def test_the_mixed_16_17_chat_file_shows_every_message_with_only_a_password(tmp_path: Path) -> None:
    """The file the two real clients wrote over FTP, taking turns: opened with the password
    alone, every message shows with its sender, local time and text (a 1.6 message's
    trailing newline, from its text box, hidden as for 1.5)."""
    expected = json.loads((TESTDATA / "ftpchat-1.6-1.7-chat.expected.json").read_text("utf-8"))
    assert expected["salt"].encode() == ftpchat.FTPCHAT_SALT == reference.FTPCHAT_SALT
    assert expected["iterations"] == ftpchat.FTPCHAT_ITERATIONS
    original = (TESTDATA / "ftpchat-1.6-1.7-chat.txt").read_bytes()
    (tmp_path / "chat.txt").write_bytes(original)
    with ftpchat.open(
        str(tmp_path), "chat.txt", name="reader", layout="shared", password=expected["password"]
    ) as room:
        update = room.sync()
    assert update.events == ()
    records = expected["records"]
    assert len(update.messages) == len(records) == 6
    for m, r in zip(update.messages, records):
        stamp, rest = r["plaintext"][:16], r["plaintext"][17:]
        sender, text = rest.split(": ", 1)
        assert sender == r["sender"]
        assert (m.sender, m.text) == (sender, text.removesuffix("\n"))
        assert m.local_time == datetime.strptime(stamp, "%Y-%m-%d %H:%M")
        assert m.codec is (ftpchat.Codec.FTPCHAT_16 if r["client"] == "1.6" else ftpchat.Codec.FTPCHAT_17)
        assert m.timestamp is not None and not m.is_own
    assert "last: ends with spaces   " in [m.text for m in update.messages]
    # Reading wrote nothing.
    assert (tmp_path / "chat.txt").read_bytes() == original


def test_parameterised_raw_token_vectors() -> None:
    """`ftpchat-1.6.jsonl`: 1.7's line shape (a raw token) with other KDF parameters."""
    vectors = jsonl("ftpchat-1.6.jsonl")
    assert len(vectors) == 18
    for v in vectors:
        salt = bytes.fromhex(v["salt_hex"])
        kdf = dict(password=v["password"], salt=salt, iterations=v["iterations"])
        assert ftpchat.decode_17(v["line"], **kdf) == v["plaintext"]
        ours = ftpchat.encode_17(v["plaintext"], **kdf)
        # The reference decoder (cryptography's Fernet + zlib) reads our line, rstripped.
        key = reference.fernet_key(v["password"], salt, v["iterations"])
        assert reference.decode_17(ours.encode(), key) == v["plaintext"].rstrip()
        # The same with a derived key instead of the password.
        assert ftpchat.decode_17(v["line"], key=key.decode()) == v["plaintext"]


def test_plaintexts_parse_and_format() -> None:
    for v in jsonl("ftpchat-1.6.jsonl") + jsonl("ftpchat-1.6-original.jsonl"):
        parsed = ftpchat.parse_plaintext(v["plaintext"])
        assert parsed.local_time is not None and parsed.username is not None
        again = ftpchat.format_plaintext(parsed.local_time, parsed.username, parsed.text)
        assert again == v["plaintext"]
    assert ftpchat.parse_plaintext("no structure") == ftpchat.CompatMessage(None, None, "no structure")
    odd = ftpchat.parse_plaintext("2025-12-05 07:01:user:odd: colon in name\n")
    assert odd == ftpchat.CompatMessage(datetime(2025, 12, 5, 7, 1), "user:odd", "colon in name\n")
    with pytest.raises(ftpchat.InvalidName):
        ftpchat.format_plaintext(datetime(2025, 1, 1), "a: b", "x")
    # FTPChat 1.7 strips an empty message down to "ts:name:": that name, no text.
    empty = [v for v in jsonl("ftpchat-1.7-original.jsonl") if v["plaintext"].endswith("Zed:")]
    assert len(empty) == 1
    bare = ftpchat.parse_plaintext(empty[0]["plaintext"])
    assert (bare.username, bare.text) == ("Zed", "")
