"""The original FTPChat client's behaviour reproduced with `ftplib` against a real FTP
server (pyftpdlib): what FTPChat appends, ftpchat reads; what ftpchat appends, a
reference decoder (zlib, base64, cryptography only) reads."""

from __future__ import annotations

import socket
from datetime import datetime, timezone

import ftpchat
import pytest
import reference
from ftpserver import FTP_PASSWORD, FtpServer
from testdata import jsonl

SALT, ITERATIONS, PASSWORD = b"their salt", 5000, "room password"


def plaintext(ts: str, user: str, text: str) -> str:
    return f"{ts}:{user}: {text}"


def test_ftpchat_15_appends_are_read(ftp_server: FtpServer) -> None:
    # Lines exactly as the original 1.5 client wrote them (the shared vectors), appended
    # one APPE each, from Linux ("\n") and Windows ("\r\n"), with a stray line between.
    originals = [v for v in jsonl("legacy-v1.5.jsonl") if v["plaintext"].startswith("20")]
    assert len(originals) >= 2
    ftp_server.append("chat.txt", originals[0]["line"].encode() + b"\n")
    ftp_server.append("chat.txt", originals[1]["line"].encode() + b"\r\n")
    ftp_server.append("chat.txt", b"not a record\r\n")
    windows = plaintext("2026-03-04 05:06", "Win User", "multi\nline from Windows\n")
    ftp_server.append("chat.txt", reference.encode_15(windows) + b"\r\n")

    with ftpchat.open(ftp_server.url(), "chat.txt", name="Reader", layout="shared", codec="1.5") as room:
        update = room.sync()
        got = [(m.sender, m.text, m.local_time) for m in update.messages]
        want = []
        for text in [originals[0]["plaintext"], originals[1]["plaintext"], windows]:
            parsed = ftpchat.parse_plaintext(text)
            want.append((parsed.username, parsed.text.removesuffix("\n"), parsed.local_time))
        assert got == want
        assert got[2] == ("Win User", "multi\nline from Windows", datetime(2026, 3, 4, 5, 6))
        assert [e.kind for e in update.events] == ["undecodable_line"]

        # Later appends are read incrementally: only what is new comes back.
        ftp_server.append("chat.txt", reference.encode_15(plaintext("2026-03-04 05:07", "Late", "again\n")) + b"\n")
        assert [(m.sender, m.text) for m in room.sync().messages] == [("Late", "again")]
        assert room.sync().messages == ()


def test_ftpchat_16_appends_are_read(ftp_server: FtpServer) -> None:
    key = reference.key_16(PASSWORD, SALT, ITERATIONS)
    texts = [
        plaintext("2026-05-01 10:00", "ahmed", "Salam!\n"),
        plaintext("2026-05-01 10:01", "Sara", "from Windows 😀\n"),
        plaintext("2026-05-01 10:02", "Omar K", "two\nlines\n"),
    ]
    times = [1_777_000_000, 1_777_000_060, 1_777_000_120]
    for i, (text, at) in enumerate(zip(texts, times)):
        token = reference.encode_16(text, key, at)
        ftp_server.append("chat.txt", token + (b"\r\n" if i == 1 else b"\n"))
    # A 1.5 line in the same file is read too.
    ftp_server.append("chat.txt", reference.encode_15(plaintext("2026-05-01 10:03", "old", "1.5 here\n")) + b"\n")

    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="Reader", layout="shared",
        password=PASSWORD, salt=SALT, iterations=ITERATIONS,
    ) as room:
        messages = room.sync().messages
    assert [(m.sender, m.text, m.codec.value) for m in messages] == [
        ("ahmed", "Salam!", "1.6"),
        ("Sara", "from Windows 😀", "1.6"),
        ("Omar K", "two\nlines", "1.6"),
        ("old", "1.5 here", "1.5"),
    ]
    assert [m.timestamp for m in messages[:3]] == [datetime.fromtimestamp(t, timezone.utc) for t in times]
    assert messages[0].local_time == datetime(2026, 5, 1, 10, 0)


def test_ftpchat_16_vectors_over_ftp(ftp_server: FtpServer) -> None:
    vectors = [v for v in jsonl("ftpchat-1.6.jsonl") if v["salt_hex"] == b"ftpchat".hex()]
    assert vectors
    for v in vectors:
        ftp_server.append("chat.txt", v["line"].encode() + b"\n")
    v0 = vectors[0]
    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="Reader", layout="shared",
        password=v0["password"], iterations=v0["iterations"],
    ) as room:
        messages = room.sync().messages
    want = [ftpchat.parse_plaintext(v["plaintext"]) for v in vectors]
    assert [(m.sender, m.text) for m in messages] == [(p.username, p.text.removesuffix("\n")) for p in want]


@pytest.mark.parametrize("codec", ["1.5", "1.6"])
def test_what_ftpchat_appends_decodes_with_the_reference(ftp_server: FtpServer, codec: str) -> None:
    texts = ["hello from ftpchat", "emoji 😀 and ñ", "two\nlines", "colon: in text"]
    # An original client wrote first, with a Windows line ending.
    key = reference.key_16(PASSWORD, SALT, ITERATIONS)
    first = plaintext("2026-01-01 09:00", "Original", "first!\n")
    ftp_server.append("chat.txt", reference.encode_15(first) + b"\r\n")
    kwargs = dict(password=PASSWORD, salt=SALT, iterations=ITERATIONS) if codec == "1.6" else {}
    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="Py Client", layout="shared", codec=codec, **kwargs,  # type: ignore[arg-type]
    ) as room:
        ids = [room.send(t) for t in texts]
        result = room.sync()
        assert set(result.confirmed) == set(ids)
        assert [m.text for m in result.messages] == ["first!"]
        # Every own message is now confirmed (read back from the server).
        assert all(room.message(i).status is ftpchat.MessageStatus.CONFIRMED for i in ids)  # type: ignore[union-attr]

    data = ftp_server.download("chat.txt")
    lines = data.split(b"\n")
    assert lines[-1] == b"" and len(lines) == 1 + len(texts) + 1
    assert all(not line.endswith(b"\r") for line in lines[1:])  # ftpchat writes LF
    decoded = reference.decode_chat_file(data, key)
    assert decoded[0] == first
    for text, line in zip(texts, decoded[1:]):
        parsed = ftpchat.parse_plaintext(line)
        assert (parsed.username, parsed.text) == ("Py Client", text + "\n")  # FTPChat's trailing LF
        assert parsed.local_time is not None
        assert abs((parsed.local_time - datetime.now()).total_seconds()) < 3600 * 24
        prefix = line[: len("YYYY-MM-DD HH:MM")]
        assert datetime.strptime(prefix, "%Y-%m-%d %H:%M") == parsed.local_time
    if codec == "1.6":
        assert all(line.startswith(b"gAAAAA") for line in lines[1:-1])


def test_wrong_16_password_is_reported(ftp_server: FtpServer) -> None:
    key = reference.key_16(PASSWORD, SALT, ITERATIONS)
    for i in range(3):
        ftp_server.append("chat.txt", reference.encode_16(plaintext("2026-01-01 00:00", "a", f"{i}\n"), key) + b"\n")
    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="R", layout="shared",
        password="Not-The-Room-Pw-77", salt=SALT, iterations=ITERATIONS,
    ) as room:
        update = room.sync()
    assert update.messages == ()
    assert [e.kind for e in update.events] == ["wrong_password"]
    assert "Not-The-Room-Pw-77" not in update.events[0].description


def test_native_room_over_ftp(ftp_server: FtpServer) -> None:
    url = ftp_server.url("rooms")
    (ftp_server.root / "rooms").mkdir()
    with ftpchat.open(url, "lobby", name="A", password=PASSWORD, iterations=1000) as a, \
         ftpchat.open(url, "lobby", name="B", password=PASSWORD) as b:  # fmt: skip
        a.send("over FTP")
        a.sync()
        assert [m.text for m in b.sync().messages] == ["over FTP"]
        assert "@127.0.0.1" in a.location and FTP_PASSWORD not in a.location
        assert FTP_PASSWORD not in repr(a)
    assert (ftp_server.root / "rooms" / "lobby" / "room.ftpchat").is_file()


def test_transport_errors_never_show_passwords(ftp_server: FtpServer) -> None:
    bad = "Wrong-FTP-Secret-42"
    with pytest.raises(ftpchat.TransportError) as info:
        room = ftpchat.open(ftp_server.url(password=bad), "lobby", name="A", password="room-Secret-43")
        room.sync()
    err = info.value
    assert isinstance(err, ftpchat.Error) and not err.transient
    for text in (str(err), repr(err), str(err.args)):
        assert bad not in text and "room-Secret-43" not in text

    # Nothing listens on a port that was just freed: a transient error.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ftpchat.TransportError) as info:
        ftpchat.open(f"ftp://alice:{bad}@127.0.0.1:{port}/", "lobby", name="A", password="x").sync()
    assert info.value.transient and info.value.kind == "transient"
    assert bad not in str(info.value) and bad not in repr(info.value)


def test_ftps_with_a_trusted_certificate(ftps_server: tuple[FtpServer, str]) -> None:
    server, cert_pem = ftps_server
    key = reference.key_16(PASSWORD, SALT, ITERATIONS)
    kdf = dict(password=PASSWORD, salt=SALT, iterations=ITERATIONS)
    with ftpchat.open(server.url(), "chat.txt", name="TLS", layout="shared", ca_pem=cert_pem, **kdf) as room:  # type: ignore[arg-type]
        assert room.location.startswith("ftps://")
        room.send("over TLS")
        assert len(room.sync().confirmed) == 1
    # The file on the server is what FTPChat 1.6 reads.
    data = (server.root / "chat.txt").read_bytes()
    assert reference.decode_chat_file(data, key)[0].endswith(":TLS: over TLS\n")

    # Without trusting the certificate, the connection is refused (no silent downgrade).
    with pytest.raises(ftpchat.TransportError) as info:
        ftpchat.open(server.url(), "chat.txt", name="TLS", layout="shared", **kdf).sync()  # type: ignore[arg-type]
    assert not info.value.transient
    assert FTP_PASSWORD not in str(info.value)
