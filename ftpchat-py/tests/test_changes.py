"""Edits, deletes and reactions (SPEC §8.4.1) through the Python API: two clients on a
real FTP server (pyftpdlib on 127.0.0.1), a listener's ``on_changed``, the typed
refusals (``NotAllowed``, ``UnknownMessage``, ``Unsupported``), and an edit forged by
someone who holds the password, refused by readers and reported as a
``"change_refused"`` event."""

from __future__ import annotations

import base64
import os
import queue
import time
from pathlib import Path

import ftpchat
import pytest
from ftpchat import _ftpchat
from ftpserver import FtpServer

PASSWORD = "correct horse battery staple"
FAST = 1000
PATIENCE = 30.0
ROOM = "changes"


def native(location: str, name: str, **kwargs: object) -> ftpchat.Room:
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("iterations", FAST)
    return ftpchat.open(location, ROOM, name=name, **kwargs)  # type: ignore[arg-type]


def sync_until_changed(room: ftpchat.Room, message_id: str) -> ftpchat.SyncResult:
    """Syncs until a result's ``changed`` holds `message_id`; returns that result."""
    deadline = time.monotonic() + PATIENCE
    while True:
        result = room.sync()
        if any(m.id == message_id for m in result.changed):
            return result
        assert time.monotonic() < deadline, f"no change of {message_id} arrived"


def test_edit_react_delete_between_two_clients_on_ftp(ftp_server: FtpServer) -> None:
    url = ftp_server.url()
    with native(url, "Alice") as alice, native(url, "Bob") as bob:
        message_id = alice.send("helo")
        alice.sync()
        (first,) = bob.sync().messages
        assert (first.id, first.text) == (message_id, "helo")
        assert not first.edited and not first.deleted and first.reactions == ()

        # The author edits: her timeline at once, Bob's listener once it reads the edit.
        changed: queue.Queue[ftpchat.Message] = queue.Queue()
        with bob.listen(on_changed=changed.put, min_interval=0.02, max_interval=0.2):
            edit_id = alice.edit(message_id, "hello")
            assert len(edit_id) == 32 and edit_id != message_id
            mine = alice.message(message_id)
            assert mine is not None and mine.edited and mine.text == "hello"
            alice.sync()
            got = changed.get(timeout=PATIENCE)
        assert isinstance(got, ftpchat.Message)
        assert (got.id, got.text, got.edited, got.deleted) == (message_id, "hello", True, False)

        # Any member reacts; sync() returns the message in `changed`, not `messages`.
        bob.react(message_id, "👍")
        bob.sync()
        result = sync_until_changed(alice, message_id)
        assert result.messages == () and result
        (now,) = result.changed
        assert now.reactions == (ftpchat.Reaction(reaction="👍", senders=("Bob",), own=False),)
        assert isinstance(now.reactions[0], ftpchat.Reaction)
        alice.react(message_id, "👍 🎉")
        mine = alice.message(message_id)
        assert mine is not None
        assert [(r.reaction, r.senders, r.own) for r in mine.reactions] == [
            ("👍", ("Bob", "Alice"), True),
            ("🎉", ("Alice",), True),
        ]
        alice.sync()
        bob.react(message_id, "")  # withdraws Bob's reaction
        bob.sync()
        (now,) = sync_until_changed(alice, message_id).changed
        assert [(r.reaction, r.senders) for r in now.reactions] == [
            ("👍", ("Alice",)),
            ("🎉", ("Alice",)),
        ]

        # Only the author may edit or delete.
        with pytest.raises(ftpchat.NotAllowed) as info:
            bob.edit(message_id, "pwned")
        assert not info.value.transient
        with pytest.raises(ftpchat.NotAllowed):
            bob.delete(message_id)
        assert bob.outbox_len == 0

        # The author deletes, for good; a newcomer reads the message as it is now.
        alice.delete(message_id)
        alice.sync()
        (gone,) = sync_until_changed(bob, message_id).changed
        assert gone.deleted and not gone.edited and gone.text == "" and gone.reactions == ()
        with pytest.raises(ftpchat.NotAllowed):
            alice.edit(message_id, "back")
        with native(url, "Carol") as carol:
            (shown,) = carol.sync().messages
            assert shown.id == message_id and shown.deleted and shown.text == ""


def test_refusals_are_typed_and_queue_nothing(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        message_id = alice.send("mine")
        alice.sync()
        bob.sync()
        for call in (
            lambda: bob.edit(message_id, "x"),
            lambda: bob.delete(message_id),
        ):
            with pytest.raises(ftpchat.NotAllowed) as not_allowed:
                call()
            assert isinstance(not_allowed.value, ftpchat.Error)
            assert "author" in str(not_allowed.value)
        unknown = "07" * 16
        for call in (
            lambda: bob.edit(unknown, "x"),
            lambda: bob.delete(unknown),
            lambda: bob.react(unknown, "👍"),
        ):
            with pytest.raises(ftpchat.UnknownMessage) as info:
                call()
            assert not info.value.transient
        with pytest.raises(ftpchat.InvalidConfig):
            bob.react("not hex", "👍")
        with pytest.raises(ftpchat.MessageTooLarge):
            bob.react(message_id, "👍" * 17)  # 68 bytes: over the 64-byte limit
        assert bob.outbox_len == 0
        bob.close()
        with pytest.raises(ftpchat.RoomClosed):
            bob.react(message_id, "👍")


def test_a_shared_file_refuses_changes_as_unsupported(ftp_server: FtpServer) -> None:
    with ftpchat.open(
        ftp_server.url(), "chat.txt", name="Carol", layout="shared", password=PASSWORD
    ) as room:
        own = room.send("hi")
        for call in (
            lambda: room.edit(own, "x"),
            lambda: room.delete(own),
            lambda: room.react(own, "👍"),
        ):
            with pytest.raises(ftpchat.Unsupported) as info:
                call()
            assert not info.value.transient and isinstance(info.value, ftpchat.Error)
        assert room.outbox_len == 1


def test_new_error_kinds_map_one_to_one() -> None:
    # The same table as ChatError in Kotlin/Swift (ftpchat-ffi/src/error.rs).
    for kind, cls in [
        ("unsupported", ftpchat.Unsupported),
        ("unknown_message", ftpchat.UnknownMessage),
        ("not_allowed", ftpchat.NotAllowed),
    ]:
        error = _ftpchat._error_for_kind(kind)
        assert type(error) is cls and not error.transient, kind


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fields(*items: tuple[int, bytes]) -> bytes:
    return b"".join(varint(tag) + varint(len(value)) + value for tag, value in items)


def forge_edit(room_dir: Path, target: str, text: str) -> str:
    """Appends to a new writer's log a native record (SPEC §8.1-8.4) that edits message
    `target`, as anyone holding the password can; returns the record's id."""
    header = dict(
        line.split(": ", 1)
        for line in (room_dir / "room.ftpchat").read_text().splitlines()
        if ": " in line
    )
    key = ftpchat.derive_key(
        PASSWORD,
        salt=base64.urlsafe_b64decode(header["salt"]),
        iterations=int(header["iterations"]),
    )
    record_id, writer = os.urandom(16), os.urandom(16)
    now_ms = int(time.time() * 1000)
    body = fields((1, bytes.fromhex(target)), (2, text.encode()))
    payload = b"\x01\x00" + fields(
        (1, record_id),
        (2, bytes.fromhex(header["room-id"])),
        (3, writer),
        (4, varint(1)),
        (5, varint(now_ms << 16)),
        (6, b"Mallory"),
        (7, varint(2)),  # kind 2: edit
        (8, body),
    )
    token = ftpchat.fernet_encrypt(key, payload, timestamp=now_ms // 1000)
    with open(room_dir / "logs" / f"{writer.hex()}.log", "a") as log:
        log.write(f"ftc2:{token}\n")
    return record_id.hex()


def test_a_forged_edit_is_refused_and_reported(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    with native(str(server), "Alice") as alice, native(str(server), "Bob") as bob:
        message_id = alice.send("I owe Mallory nothing")
        alice.sync()
        assert [m.text for m in bob.sync().messages] == ["I owe Mallory nothing"]
        events: queue.Queue[ftpchat.Event] = queue.Queue()
        changed: list[ftpchat.Message] = []
        forged = forge_edit(server / ROOM, message_id, "I owe Mallory 1000")
        with bob.listen(
            on_event=events.put, on_changed=changed.append, min_interval=0.02, max_interval=0.2
        ):
            event = events.get(timeout=PATIENCE)
            while event.kind != "change_refused":
                event = events.get(timeout=PATIENCE)
        assert (event.target, event.change) == (message_id, forged)
        assert "author" in event.description and message_id in event.description
        assert changed == []
        shown = bob.message(message_id)
        assert shown is not None and shown.text == "I owe Mallory nothing" and not shown.edited
        # A sync sees the same (Alice's room had not read it yet).
        result = alice.sync()
        refused = [e for e in result.events if e.kind == "change_refused"]
        assert [(e.target, e.change) for e in refused] == [(message_id, forged)], result


def test_sync_result_counts_changes() -> None:
    message = ftpchat.Message(
        id="00" * 16,
        sender="A",
        text="",
        timestamp=None,
        local_time=None,
        status=ftpchat.MessageStatus.CONFIRMED,
        codec=ftpchat.Codec.NATIVE,
        is_own=False,
        deleted=True,
    )
    assert not ftpchat.SyncResult()
    assert ftpchat.SyncResult(changed=(message,))
