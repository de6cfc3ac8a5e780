"""Rooms on stores that cannot append, from Python: ``ftpchat.open("s3://...")`` against the
moto server and ``ftpchat.open("webdav://...")`` against the wsgidav server that
`.ci/ftp-servers.sh` starts (``FTPCHAT_TEST_S3_*``, ``FTPCHAT_TEST_WEBDAV_*``). A native
room works there in the segment layout (SPEC §9.5); a shared FTPChat file is refused."""

from __future__ import annotations

import os
import time
import urllib.parse

import pytest

import ftpchat
from conftest import external_url


def _chat(location: str) -> None:
    room_dir = f"py-{os.getpid()}-{time.monotonic_ns()}"
    alice = ftpchat.open(location, room_dir, name="alice", password="pw", iterations=1000)
    bob = ftpchat.open(location, room_dir, name="bob", password="pw", iterations=1000)
    try:
        alice.send("hello from Python")
        alice.sync()
        got = bob.sync()
        assert [m.text for m in got.messages] == ["hello from Python"]
        assert got.messages[0].sender == "alice"
        bob.send("hi back")
        bob.sync()
        assert [m.text for m in alice.sync().messages] == ["hi back"]
        # A room reopened by a third client reads the whole history from the segments.
        carol = ftpchat.open(location, room_dir, name="carol", password="pw")
        assert [m.text for m in carol.sync().messages] == ["hello from Python", "hi back"]
        carol.close()
        with pytest.raises(ftpchat.Unsupported, match="cannot append"):
            ftpchat.open(location, room_dir + ".txt", name="alice", password="pw",
                         layout="shared")
    finally:
        alice.close()
        bob.close()


def test_a_room_on_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    url = external_url("FTPCHAT_TEST_S3_URL")
    for ours, aws in [
        ("FTPCHAT_TEST_S3_ENDPOINT", "AWS_ENDPOINT_URL"),
        ("FTPCHAT_TEST_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
        ("FTPCHAT_TEST_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
    ]:
        monkeypatch.setenv(aws, external_url(ours))
    monkeypatch.setenv("AWS_REGION", os.environ.get("FTPCHAT_TEST_S3_REGION", "us-east-1"))
    _chat(url)


def test_a_room_on_webdav() -> None:
    url = external_url("FTPCHAT_TEST_WEBDAV_URL")
    user = urllib.parse.quote(external_url("FTPCHAT_TEST_WEBDAV_USER"), safe="")
    password = urllib.parse.quote(external_url("FTPCHAT_TEST_WEBDAV_PASSWORD"), safe="")
    scheme, rest = url.split("://", 1)
    _chat(f"{scheme}://{user}:{password}@{rest}")


def test_a_wrong_webdav_password_is_a_typed_error_without_the_password() -> None:
    url = external_url("FTPCHAT_TEST_WEBDAV_URL")
    user = urllib.parse.quote(external_url("FTPCHAT_TEST_WEBDAV_USER"), safe="")
    scheme, rest = url.split("://", 1)
    with pytest.raises(ftpchat.TransportError) as caught:
        ftpchat.open(f"{scheme}://{user}:not-the-password-xyz@{rest}", "r", name="a",
                     password="pw")
    assert caught.value.kind == "permission_denied"
    assert "not-the-password-xyz" not in str(caught.value)
