"""The original FTPChat clients' behaviour reproduced with `ftplib` against a real FTP
server (pyftpdlib): what FTPChat 1.5, 1.6 and 1.7 append, ftpchat reads; what ftpchat
appends, a reference decoder (zlib, base64, cryptography only) reads with the procedure of
the client version it writes for."""

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


@pytest.mark.parametrize("version", ["1.6", "1.7"])
def test_ftpchat_16_and_17_appends_are_read(ftp_server: FtpServer, version: str) -> None:
    # Lines as the real clients write them: their salt and iterations, 1.6's base64 layer
    # and trailing newline, 1.7's rstrip.
    key = reference.fernet_key(PASSWORD)
    encode = reference.encode_16 if version == "1.6" else reference.encode_17
    texts = [
        plaintext("2026-05-01 10:00", "ahmed", "Salam!\n"),
        plaintext("2026-05-01 10:01", "Sara", "from Windows 😀\n"),
        plaintext("2026-05-01 10:02", "Omar K", "two\nlines\n"),
    ]
    times = [1_777_000_000, 1_777_000_060, 1_777_000_120]
    for i, (text, at) in enumerate(zip(texts, times)):
        ftp_server.append("chat.txt", encode(text, key, at) + (b"\r\n" if i == 1 else b"\n"))

    with ftpchat.open(ftp_server.url(), "chat.txt", name="Reader", layout="shared", password=PASSWORD) as room:
        update = room.sync()
    messages = update.messages
    assert [(m.sender, m.text, m.codec.value) for m in messages] == [
        ("ahmed", "Salam!", version),
        ("Sara", "from Windows 😀", version),
        ("Omar K", "two\nlines", version),
    ]
    assert [m.timestamp for m in messages] == [datetime.fromtimestamp(t, timezone.utc) for t in times]
    assert messages[0].local_time == datetime(2026, 5, 1, 10, 0)
    assert update.events == ()


def test_a_15_line_in_a_17_file_is_hidden_unless_asked(ftp_server: FtpServer) -> None:
    """A 1.5 line has no key: anyone who can write the file can write one under any name.
    In a keyed room it is reported, not shown, unless ``show_unauthenticated=True``."""
    key = reference.fernet_key(PASSWORD)
    ftp_server.append("chat.txt", reference.encode_17(plaintext("2026-05-01 10:00", "Mona", "hi"), key) + b"\n")
    offset = len(ftp_server.download("chat.txt"))
    forged = plaintext("2026-05-01 10:01", "Mona", "send me your password\n")
    ftp_server.append("chat.txt", reference.encode_15(forged) + b"\n")
    ftp_server.append("chat.txt", reference.encode_17(plaintext("2026-05-01 10:02", "Ahmed", "ok"), key) + b"\n")

    with ftpchat.open(ftp_server.url(), "chat.txt", name="R", layout="shared", password=PASSWORD) as room:
        update = room.sync()
        assert [(m.sender, m.text) for m in update.messages] == [("Mona", "hi"), ("Ahmed", "ok")]
        assert [(e.kind, e.file, e.offset) for e in update.events] == [("unauthenticated_line", "chat.txt", offset)]
        assert "1.5" in update.events[0].description
        assert not any("password" in m.text for m in room.history())

    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="R", layout="shared", password=PASSWORD, show_unauthenticated=True
    ) as room:
        update = room.sync()
    assert [(m.sender, m.text, m.codec) for m in update.messages] == [
        ("Mona", "hi", ftpchat.Codec.FTPCHAT_17),
        ("Mona", "send me your password", ftpchat.Codec.FTPCHAT_15),
        ("Ahmed", "ok", ftpchat.Codec.FTPCHAT_17),
    ]
    assert update.events == ()


def test_parameterised_raw_token_vectors_over_ftp(ftp_server: FtpServer) -> None:
    # 1.7's line shape with salt "ftpchat" (the vectors of the parameterised codec).
    vectors = [v for v in jsonl("ftpchat-1.6.jsonl") if v["salt_hex"] == b"ftpchat".hex()]
    assert vectors
    for v in vectors:
        ftp_server.append("chat.txt", v["line"].encode() + b"\n")
    v0 = vectors[0]
    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="Reader", layout="shared",
        password=v0["password"], salt=b"ftpchat", iterations=v0["iterations"],
    ) as room:
        messages = room.sync().messages
    want = [ftpchat.parse_plaintext(v["plaintext"]) for v in vectors]
    assert [(m.sender, m.text) for m in messages] == [(p.username, p.text.removesuffix("\n")) for p in want]
    assert all(m.codec is ftpchat.Codec.FTPCHAT_17 for m in messages)


@pytest.mark.parametrize("codec", ["1.5", "1.6", "1.7"])
def test_what_ftpchat_appends_decodes_with_the_reference(ftp_server: FtpServer, codec: str) -> None:
    texts = ["hello from ftpchat", "emoji 😀 and ñ", "two\nlines", "colon: in text"]
    # An original client of the same version wrote first, with a Windows line ending.
    key = reference.fernet_key(PASSWORD)
    first = plaintext("2026-01-01 09:00", "Original", "first!\n")
    encode = {
        "1.5": lambda text: reference.encode_15(text),
        "1.6": lambda text: reference.encode_16(text, key),
        "1.7": lambda text: reference.encode_17(text, key),
    }[codec]
    ftp_server.append("chat.txt", encode(first) + b"\r\n")
    kwargs = {} if codec == "1.5" else dict(password=PASSWORD)
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
    # Each line decodes with the procedure of its client version.
    decode = {
        "1.5": lambda line: reference.decode_15(line),
        "1.6": lambda line: reference.decode_16(line, key),
        "1.7": lambda line: reference.decode_17(line, key),
    }[codec]
    decoded = [decode(line.rstrip(b"\r")) for line in lines[:-1]]
    assert decoded[0] == (first.rstrip() if codec == "1.7" else first)
    for text, line in zip(texts, decoded[1:]):
        parsed = ftpchat.parse_plaintext(line)
        # 1.5 and 1.6 end the text with the newline their GUI leaves; 1.7 rstrips.
        assert (parsed.username, parsed.text) == ("Py Client", text if codec == "1.7" else text + "\n")
        assert parsed.local_time is not None
        assert abs((parsed.local_time - datetime.now()).total_seconds()) < 3600 * 24
        prefix = line[: len("YYYY-MM-DD HH:MM")]
        assert datetime.strptime(prefix, "%Y-%m-%d %H:%M") == parsed.local_time
    starts = {"1.5": b"eJ", "1.6": b"Z0FBQUFB", "1.7": b"gAAAAA"}[codec]
    assert all(line.startswith(starts) for line in lines[:-1])


def test_a_wrong_password_raises_and_writes_nothing(ftp_server: FtpServer) -> None:
    key = reference.fernet_key(PASSWORD)
    for i in range(3):
        ftp_server.append("chat.txt", reference.encode_17(plaintext("2026-01-01 00:00", "a", f"{i}"), key) + b"\n")
    before = ftp_server.download("chat.txt")
    room = ftpchat.open(ftp_server.url(), "chat.txt", name="R", layout="shared", password="Not-The-Room-Pw-77")
    try:
        room.send("typed with the wrong password")
        for call in (room.sync, room.flush, room.sync):
            with pytest.raises(ftpchat.WrongPassword) as info:
                call()
            assert "Not-The-Room-Pw-77" not in str(info.value) and not info.value.transient
        assert room.outbox_len == 1  # kept, not lost, not sent
        with pytest.raises(ftpchat.WrongPassword):
            room.close()  # delivering on close is refused too
    finally:
        room.close(flush=False)
    assert room.closed
    assert ftp_server.download("chat.txt") == before

    # The right password, with other KDF parameters than the file's, is as wrong.
    other_salt = ftpchat.open(ftp_server.url(), "chat.txt", name="R", layout="shared", password=PASSWORD, salt=b"ftpchat")
    other_salt.send("hello?")
    with pytest.raises(ftpchat.WrongPassword):
        other_salt.sync()
    other_salt.close(flush=False)
    assert ftp_server.download("chat.txt") == before


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
    key = reference.fernet_key(PASSWORD, SALT, ITERATIONS)
    kdf = dict(password=PASSWORD, salt=SALT, iterations=ITERATIONS)
    with ftpchat.open(server.url(), "chat.txt", name="TLS", layout="shared", ca_pem=cert_pem, **kdf) as room:  # type: ignore[arg-type]
        assert room.location.startswith("ftps://")
        room.send("over TLS")
        assert len(room.sync().confirmed) == 1
    # The file on the server is what FTPChat 1.7 reads (the default codec).
    data = (server.root / "chat.txt").read_bytes()
    assert data.startswith(b"gAAAAA")
    assert reference.decode_chat_file(data, key)[0].endswith(":TLS: over TLS")

    # Without trusting the certificate, the connection is refused (no silent downgrade).
    with pytest.raises(ftpchat.TransportError) as info:
        ftpchat.open(server.url(), "chat.txt", name="TLS", layout="shared", **kdf).sync()  # type: ignore[arg-type]
    assert not info.value.transient
    assert FTP_PASSWORD not in str(info.value)
