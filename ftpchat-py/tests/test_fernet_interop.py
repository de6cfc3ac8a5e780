"""Fernet both ways with Python's `cryptography`: what ftpchat writes, cryptography reads,
and the reverse; the same for FTPChat 1.6 lines and derived keys."""

from __future__ import annotations

import base64
import os
import time
import zlib

import ftpchat
import pytest
import reference
from cryptography.fernet import Fernet, InvalidToken


def test_ftpchat_token_decrypts_with_cryptography() -> None:
    key = Fernet.generate_key()
    for data in [b"", b"x", b"hello world", os.urandom(1000), "emoji 😀".encode()]:
        token = ftpchat.fernet_encrypt(key.decode(), data, timestamp=1_700_000_000)
        assert token.endswith("=") or len(token) % 4 == 0  # padded, as Python requires
        assert Fernet(key).decrypt(token) == data
        assert Fernet(key).extract_timestamp(token.encode()) == 1_700_000_000
    # Without a timestamp, ftpchat uses the current time (so `ttl` checks pass).
    now_token = ftpchat.fernet_encrypt(key.decode(), b"fresh")
    assert Fernet(key).decrypt(now_token, ttl=60) == b"fresh"
    assert abs(Fernet(key).extract_timestamp(now_token.encode()) - time.time()) < 60


def test_cryptography_token_decrypts_with_ftpchat() -> None:
    key = Fernet.generate_key()
    for data in [b"", b"y", os.urandom(777)]:
        token = Fernet(key).encrypt_at_time(data, 1_600_000_000)
        assert ftpchat.fernet_decrypt(key.decode(), token) == (data, 1_600_000_000)
        assert ftpchat.fernet_decrypt(key.decode(), token.decode()) == (data, 1_600_000_000)


def test_wrong_keys_are_refused_both_ways() -> None:
    key, other = Fernet.generate_key(), Fernet.generate_key()
    ours = ftpchat.fernet_encrypt(key.decode(), b"secret")
    with pytest.raises(InvalidToken):
        Fernet(other).decrypt(ours)
    theirs = Fernet(key).encrypt(b"secret")
    with pytest.raises(ftpchat.WrongPassword):
        ftpchat.fernet_decrypt(other.decode(), theirs)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.fernet_decrypt("not a key", theirs)


def test_16_lines_both_ways_with_a_derived_key() -> None:
    salt, iterations, password = b"any salt", 1000, "pässword"
    key = reference.key_16(password, salt, iterations)
    assert ftpchat.derive_key(password, salt, iterations) == key.decode()
    plaintext = "2026-01-02 03:04:Zoë: hello\nsecond line\n"
    ours = ftpchat.encode_16(plaintext, password=password, salt=salt, iterations=iterations)
    assert zlib.decompress(Fernet(key).decrypt(ours)).decode() == plaintext
    theirs = Fernet(key).encrypt(zlib.compress(plaintext.encode()))
    assert ftpchat.decode_16(theirs, password=password, salt=salt, iterations=iterations) == plaintext
    assert ftpchat.decode_16(theirs, key=key.decode()) == plaintext
    # A str salt is its UTF-8 bytes.
    assert ftpchat.derive_key(password, "any salt", iterations) == key.decode()


def test_16_defaults_are_ftpchats() -> None:
    assert ftpchat.DEFAULT_16_SALT == b"ftpchat"
    assert ftpchat.DEFAULT_16_ITERATIONS == 100_000
    key = reference.key_16("pw", b"ftpchat", 100_000)
    assert ftpchat.derive_key("pw") == key.decode()
    line = ftpchat.encode_16("2026-01-01 00:00:a: b", password="pw", timestamp=123)
    assert Fernet(key).extract_timestamp(line.encode()) == 123


def test_key_and_password_arguments_are_checked() -> None:
    key = base64.urlsafe_b64encode(bytes(32)).decode()
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.encode_16("x")
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.encode_16("x", password="pw", key=key)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.encode_16("x", password="pw", iterations=0)
    with pytest.raises(ValueError):  # InvalidConfig is a ValueError too
        ftpchat.derive_key("pw", b"s" * 2000, 1)
