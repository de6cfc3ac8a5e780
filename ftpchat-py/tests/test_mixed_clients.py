"""ftpchat and (emulated) FTPChat 1.7 clients writing one 1.7 file at the same time, on real
FTP servers (pyftpdlib, started here; vsftpd, announced by FTPCHAT_TEST_VSFTPD_URL).

Two emulated 1.7 clients (``ftpchat17.py``: random pause, APPE, a reader that stops at
the first line it cannot decrypt) and two ftpchat rooms (``codec="1.7"``) each send their
messages concurrently, every one on its own connections. At the end every client shows
every message of every writer exactly once, in each writer's order, and the emulated
readers never met a complete line they could not decrypt (which would stop a real 1.7
client for good)."""

from __future__ import annotations

import ftplib
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import ftpchat
import pytest
import reference
from ftpchat17 import Client17, FtpAccount
from ftpserver import FtpServer

PASSWORD = "correct horse"
ROOM_MESSAGES = 30  # per ftpchat writer
EMULATED_MESSAGES = 20  # per emulated 1.7 client (0.1-0.8 s pause each)
DEADLINE = 40.0  # seconds for everything after the writers are done


def text_of(writer: str, i: int) -> str:
    """What ``writer`` sends as its message ``i``: some end with white space (1.7 strips
    it), some are not ASCII."""
    if i % 7 == 3:
        return f"{writer} {i} مرحبا ✓  \n"
    if i % 5 == 1:
        return f"{writer} {i} with: a colon\t"
    return f"{writer} {i}"


def shown_as(writer: str, i: int) -> tuple[str, str]:
    """(sender, text) as every reader shows it."""
    return writer, text_of(writer, i).rstrip()


@pytest.fixture(params=["pyftpdlib", "vsftpd"])
def chat_location(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(URL of the directory, name of a chat file no other test uses)."""
    if request.param == "pyftpdlib":
        server: FtpServer = request.getfixturevalue("ftp_server")
        yield server.url(), "chat.txt"
        return
    url: str = request.getfixturevalue("vsftpd_url")
    file = f"mixed-{uuid.uuid4().hex[:12]}.txt"
    yield url, file
    account = FtpAccount.from_url(url)
    try:
        ftp = account.connect()
        try:
            ftp.delete(file)
        finally:
            ftp.quit()
    except ftplib.all_errors:
        pass


def download(account: FtpAccount, file: str) -> bytes:
    ftp = account.connect()
    try:
        chunks: list[bytes] = []
        ftp.retrbinary(f"RETR {file}", chunks.append)
        return b"".join(chunks)
    finally:
        ftp.quit()


def in_thread(errors: list[BaseException], target: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as e:  # reported by the test
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_ftpchat_and_17_clients_share_a_file(chat_location: tuple[str, str]) -> None:
    url, file = chat_location
    started = time.monotonic()
    account = FtpAccount.from_url(url)
    key = reference.fernet_key(PASSWORD)  # the real clients' salt and iterations

    emulated = [Client17(account, file, f"emu{n}", key, seed=n) for n in (1, 2)]
    room_names = ["py-A", "py-B"]
    rooms = {
        name: ftpchat.open(url, file, name=name, layout="shared", codec="1.7", password=PASSWORD)
        for name in room_names
    }
    received: dict[str, list[ftpchat.Message]] = {name: [] for name in room_names}
    confirmed: dict[str, set[str]] = {name: set() for name in room_names}
    sent_ids: dict[str, list[str]] = {name: [] for name in room_names}
    events: list[ftpchat.Event] = []

    def room_writer(name: str) -> None:
        room, rng = rooms[name], random.Random(name)
        for i in range(ROOM_MESSAGES):
            sent_ids[name].append(room.send(text_of(name, i)))
            time.sleep(rng.uniform(0.05, 0.3))
            update = room.sync()
            received[name] += update.messages
            confirmed[name].update(update.confirmed)
            events.extend(update.events)

    def emulated_writer(client: Client17) -> None:
        for i in range(EMULATED_MESSAGES):
            client.send(text_of(client.username, i))

    errors: list[BaseException] = []
    stop_readers = threading.Event()
    readers = [in_thread(errors, partial(c.run_reader, stop_readers)) for c in emulated]
    writers = [in_thread(errors, partial(room_writer, n)) for n in room_names]
    writers += [in_thread(errors, partial(emulated_writer, c)) for c in emulated]
    try:
        for thread in writers:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in writers), "a writer hung"
        assert errors == [], errors

        expected = Counter(shown_as(w, i) for w in room_names for i in range(ROOM_MESSAGES))
        expected += Counter(shown_as(c.username, i) for c in emulated for i in range(EMULATED_MESSAGES))
        total = sum(expected.values())

        # Everyone catches up: the rooms deliver what is left and read; the readers poll.
        deadline = time.monotonic() + DEADLINE
        for name, room in rooms.items():
            while len(confirmed[name]) < ROOM_MESSAGES or len(received[name]) < total - ROOM_MESSAGES:
                assert time.monotonic() < deadline, f"{name} did not catch up"
                update = room.sync()
                received[name] += update.messages
                confirmed[name].update(update.confirmed)
                events.extend(update.events)
                time.sleep(0.1)
        while any(len(c.reader.shown) < total for c in emulated) and time.monotonic() < deadline:
            if any(c.reader.failed_complete_lines for c in emulated):
                break  # stuck for good: the checks below say on what
            time.sleep(0.1)
        stop_readers.set()
        for thread in readers:
            thread.join(timeout=10)
        assert errors == [], errors

        data = download(account, file)

        # The file holds only 1.7 lines under the room's key, one per message.
        lines = [line for line in data.split(b"\n") if line.strip()]
        assert len(lines) == total
        plaintexts = [reference.decode_17(line, key) for line in lines]
        assert Counter(p[17:].split(": ", 1)[0] for p in plaintexts) == Counter(
            {**{n: ROOM_MESSAGES for n in room_names}, **{c.username: EMULATED_MESSAGES for c in emulated}}
        )

        # Each emulated 1.7 reader: every message once, in each writer's order, and no
        # complete line it could not decrypt (it would have stopped there for good).
        for client in emulated:
            reader = client.reader
            assert reader.failed_complete_lines == [], reader.failed_complete_lines[:3]
            assert reader.offset == len(data)
            assert Counter(reader.shown) == expected
            for writer in room_names + [c.username for c in emulated]:
                mine = [t for s, t in reader.shown if s == writer]
                count = ROOM_MESSAGES if writer in room_names else EMULATED_MESSAGES
                assert mine == [shown_as(writer, i)[1] for i in range(count)]
            assert client.appe_failures == 0
            assert client.sent == [shown_as(client.username, i)[1] for i in range(EMULATED_MESSAGES)]

        # Each ftpchat room: its own messages confirmed, everyone else's received once
        # (over all its syncs), and a history of every message once, in file order.
        for name, room in rooms.items():
            assert confirmed[name] == set(sent_ids[name])
            others = Counter((m.sender, m.text) for m in received[name])
            assert others == expected - Counter(shown_as(name, i) for i in range(ROOM_MESSAGES))
            assert all(m.codec is ftpchat.Codec.FTPCHAT_17 for m in received[name])
            history = room.history(limit=10 * total)
            assert Counter((m.sender, m.text) for m in history) == expected
            assert [(m.sender, m.text) for m in history] == [
                (p[17:].split(": ", 1)[0], p[17:].split(": ", 1)[1]) for p in plaintexts
            ]
            assert all(m.status is ftpchat.MessageStatus.CONFIRMED for m in history)
        # Nothing undecodable, hidden or refused on the way.
        assert [e for e in events if e.kind not in ("delivery_retry", "retrying", "reconnected")] == []
    finally:
        stop_readers.set()
        for room in rooms.values():
            room.close(flush=False)
        for client in emulated:
            client.close()
    assert time.monotonic() - started < 60


def test_the_emulated_17_client_stores_the_file_whole_when_appe_fails(tmp_path: Any) -> None:
    """The 1.7 client's fallback (download, add the line, STOR) on a server that refuses
    APPE: ftpchat reads the result like any 1.7 file."""
    root = tmp_path / "no-append"
    root.mkdir()
    server = FtpServer(root, perm="elrdfmwMT")  # everything but "a" (APPE)
    try:
        key = reference.fernet_key(PASSWORD)
        client = Client17(FtpAccount.from_url(server.url()), "chat.txt", "Mona", key, seed=7)
        try:
            for text in ["first", "second  \n", "   ", "third ✓"]:
                client.send(text)
        finally:
            client.close()
        assert client.appe_failures == 3  # the blank message is not sent
        lines = (root / "chat.txt").read_bytes().split(b"\n")
        assert lines[-1] == b"" and all(line.startswith(b"gAAAAA") for line in lines[:-1])
        with ftpchat.open(str(root), "chat.txt", name="reader", layout="shared", password=PASSWORD) as room:
            update = room.sync()
        assert [(m.sender, m.text, m.codec) for m in update.messages] == [
            ("Mona", "first", ftpchat.Codec.FTPCHAT_17),
            ("Mona", "second", ftpchat.Codec.FTPCHAT_17),
            ("Mona", "third ✓", ftpchat.Codec.FTPCHAT_17),
        ]
        assert update.events == ()
    finally:
        server.stop()
