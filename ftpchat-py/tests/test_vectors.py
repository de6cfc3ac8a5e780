"""The shared vectors (made by the original FTPChat code and Python's `cryptography`),
read from the test data folder the Rust tests use."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

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


def test_ftpchat_16_lines_decode_and_encode() -> None:
    vectors = jsonl("ftpchat-1.6.jsonl")
    assert len(vectors) == 18
    for v in vectors:
        salt = bytes.fromhex(v["salt_hex"])
        kdf = dict(password=v["password"], salt=salt, iterations=v["iterations"])
        assert ftpchat.decode_16(v["line"], **kdf) == v["plaintext"]
        ours = ftpchat.encode_16(v["plaintext"], **kdf)
        # The reference decoder (cryptography's Fernet + zlib) reads our line.
        key = reference.key_16(v["password"], salt, v["iterations"])
        assert reference.decode_16(ours.encode(), key) == v["plaintext"]
        # The same with a derived key instead of the password.
        assert ftpchat.decode_16(v["line"], key=key.decode()) == v["plaintext"]


def test_ftpchat_16_wrong_password() -> None:
    v = jsonl("ftpchat-1.6.jsonl")[0]
    salt = bytes.fromhex(v["salt_hex"])
    with pytest.raises(ftpchat.WrongPassword) as info:
        ftpchat.decode_16(v["line"], password="not-" + v["password"], salt=salt, iterations=v["iterations"])
    assert "not-" + v["password"] not in str(info.value)


def test_plaintexts_parse_and_format() -> None:
    for v in jsonl("ftpchat-1.6.jsonl"):
        parsed = ftpchat.parse_plaintext(v["plaintext"])
        assert parsed.local_time is not None and parsed.username is not None
        again = ftpchat.format_plaintext(parsed.local_time, parsed.username, parsed.text)
        assert again == v["plaintext"]
    assert ftpchat.parse_plaintext("no structure") == ftpchat.CompatMessage(None, None, "no structure")
    odd = ftpchat.parse_plaintext("2025-12-05 07:01:user:odd: colon in name\n")
    assert odd == ftpchat.CompatMessage(datetime(2025, 12, 5, 7, 1), "user:odd", "colon in name\n")
    with pytest.raises(ftpchat.InvalidName):
        ftpchat.format_plaintext(datetime(2025, 1, 1), "a: b", "x")
