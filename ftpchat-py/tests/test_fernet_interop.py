"""Fernet both ways with Python's `cryptography`: what ftpchat writes, cryptography reads,
and the reverse; the same for FTPChat 1.6 and 1.7 lines and derived keys."""

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


def test_16_and_17_lines_both_ways_with_a_derived_key() -> None:
    salt, iterations, password = b"any salt", 1000, "pässword"
    key = reference.fernet_key(password, salt, iterations)
    assert ftpchat.derive_key(password, salt, iterations) == key.decode()
    kdf = dict(password=password, salt=salt, iterations=iterations)
    plaintext = "2026-01-02 03:04:Zoë: hello\nsecond line\n"
    # 1.6: standard base64 of the token's ASCII text.
    ours = ftpchat.encode_16(plaintext, **kdf)  # type: ignore[arg-type]
    assert ours.startswith("Z0FBQUFB")
    assert zlib.decompress(Fernet(key).decrypt(base64.b64decode(ours))).decode() == plaintext
    theirs = base64.b64encode(Fernet(key).encrypt(zlib.compress(plaintext.encode())))
    assert ftpchat.decode_16(theirs, **kdf) == plaintext  # type: ignore[arg-type]
    assert ftpchat.decode_16(theirs, key=key.decode()) == plaintext
    # 1.7: the token itself, of the rstripped text.
    ours = ftpchat.encode_17(plaintext, **kdf)  # type: ignore[arg-type]
    assert ours.startswith("gAAAAA")
    assert zlib.decompress(Fernet(key).decrypt(ours)).decode() == plaintext.rstrip()
    theirs = Fernet(key).encrypt(zlib.compress(plaintext.rstrip().encode()))
    assert ftpchat.decode_17(theirs, **kdf) == plaintext.rstrip()  # type: ignore[arg-type]
    assert ftpchat.decode_17(theirs.decode(), key=key.decode()) == plaintext.rstrip()
    # A str salt is its UTF-8 bytes.
    assert ftpchat.derive_key(password, "any salt", iterations) == key.decode()


def test_defaults_are_the_real_clients() -> None:
    assert ftpchat.FTPCHAT_SALT == reference.FTPCHAT_SALT
    assert ftpchat.FTPCHAT_ITERATIONS == 100_000
    assert not hasattr(ftpchat, "DEFAULT_16_SALT")
    key = reference.fernet_key("pw")  # the real clients' salt and iterations
    assert ftpchat.derive_key("pw") == key.decode()
    line16 = ftpchat.encode_16("2026-01-01 00:00:a: b\n", password="pw", timestamp=123)
    assert Fernet(key).extract_timestamp(base64.b64decode(line16)) == 123
    assert reference.decode_16(line16.encode(), key) == "2026-01-01 00:00:a: b\n"
    line17 = ftpchat.encode_17("2026-01-01 00:00:a: b\n", password="pw", timestamp=456)
    assert Fernet(key).extract_timestamp(line17.encode()) == 456
    assert reference.decode_17(line17.encode(), key) == "2026-01-01 00:00:a: b"
    # Without a timestamp, the current time (Python readers with a TTL accept it).
    assert Fernet(key).decrypt(ftpchat.encode_17("x", password="pw").encode(), ttl=60)


def test_key_and_password_arguments_are_checked() -> None:
    key = base64.urlsafe_b64encode(bytes(32)).decode()
    for encode, decode in [(ftpchat.encode_16, ftpchat.decode_16), (ftpchat.encode_17, ftpchat.decode_17)]:
        with pytest.raises(ftpchat.InvalidConfig):
            encode("x")
        with pytest.raises(ftpchat.InvalidConfig):
            encode("x", password="pw", key=key)
        with pytest.raises(ftpchat.InvalidConfig):
            encode("x", password="pw", iterations=0)
        with pytest.raises(ftpchat.InvalidConfig):
            decode(encode("x", key=key))
    with pytest.raises(ValueError):  # InvalidConfig is a ValueError too
        ftpchat.derive_key("pw", b"s" * 2000, 1)
