"""Rooms in memory and in a local folder: the API, values and errors."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import ftpchat
import pytest
import reference

PASSWORD = "correct horse battery staple"
FAST = 1000  # PBKDF2 iterations for rooms the tests create (the default is 600,000)


def native(location: str, name: str, **kwargs: object) -> ftpchat.Room:
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("iterations", FAST)
    return ftpchat.open(location, "lobby", name=name, **kwargs)  # type: ignore[arg-type]


def test_send_sync_confirm_and_read(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        assert (alice.name, bob.name) == ("Alice", "Bob")
        before = datetime.now(timezone.utc)
        mid = alice.send("hello, Bob")
        assert len(mid) == 32 and int(mid, 16) >= 0
        pending = alice.message(mid)
        assert pending is not None
        assert pending.status is ftpchat.MessageStatus.PENDING
        assert isinstance(pending.status, str) and pending.status.value == "pending"
        assert alice.outbox_len == 1

        result = alice.sync()
        assert result.confirmed == (mid,)
        assert result.messages == ()  # own messages come back as confirmations
        assert alice.outbox_len == 0
        confirmed = alice.message(mid)
        assert confirmed is not None and confirmed.status is ftpchat.MessageStatus.CONFIRMED

        received = bob.sync().messages
        assert [(m.id, m.sender, m.text, m.is_own) for m in received] == [(mid, "Alice", "hello, Bob", False)]
        msg = received[0]
        assert msg.codec is ftpchat.Codec.NATIVE
        assert msg.local_time is None
        assert msg.timestamp is not None and msg.timestamp.tzinfo is not None
        assert msg.timestamp.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=5) <= msg.timestamp <= datetime.now(timezone.utc) + timedelta(seconds=5)
        assert not bob.sync()  # nothing new: a falsy SyncResult

        bob.send("hi Alice")
        bob.sync()
        assert [m.text for m in alice.sync().messages] == ["hi Alice"]
        assert [m.text for m in alice.history()] == ["hello, Bob", "hi Alice"]
        assert [m.is_own for m in alice.history()] == [True, False]


def test_messages_are_frozen_values(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice:
        mid = alice.send("x")
        msg = alice.message(mid)
        assert msg is not None
        with pytest.raises(dataclasses.FrozenInstanceError):
            msg.text = "changed"  # type: ignore[misc]
        assert msg == alice.message(mid)
        assert hash(msg) == hash(alice.message(mid))
        assert alice.message("0" * 32) is None
        with pytest.raises(ValueError):
            alice.message("not hex")


def test_history_pages(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice:
        for i in range(5):
            alice.send(f"m{i}")
        alice.sync()
        last = alice.history(limit=2)
        assert [m.text for m in last] == ["m3", "m4"]
        earlier = alice.history(limit=2, before=last[0].id)
        assert [m.text for m in earlier] == ["m1", "m2"]


def test_wrong_password_and_missing_room(memory_location: str) -> None:
    native(memory_location, "Alice").close()
    with pytest.raises(ftpchat.WrongPassword) as info:
        native(memory_location, "Eve", password="guess")
    assert "guess" not in str(info.value) and not info.value.transient
    with pytest.raises(ftpchat.RoomNotFound):
        ftpchat.open(memory_location, "elsewhere", name="A", password=PASSWORD, create=False)


def test_invalid_arguments(memory_location: str, tmp_path: Path) -> None:
    with pytest.raises(ftpchat.InvalidPath):
        ftpchat.open(memory_location, "../escape", name="A", password=PASSWORD)
    with pytest.raises(ValueError):  # InvalidPath is a ValueError
        ftpchat.open(memory_location, "a\nb", name="A", password=PASSWORD)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, "r", name="A", password=PASSWORD, layout="bogus")  # type: ignore[arg-type]
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, "r", name="A", password=PASSWORD, codec="1.5")
    for codec in ("1.6", "1.7", None):
        with pytest.raises(ftpchat.InvalidConfig):  # keyed codecs need a password
            ftpchat.open(memory_location, "chat.txt", name="A", layout="shared", codec=codec)  # type: ignore[arg-type]
    with pytest.raises(ftpchat.InvalidConfig) as bad_codec:
        ftpchat.open(memory_location, "chat.txt", name="A", layout="shared", codec="1.8", password="p")  # type: ignore[arg-type]
    assert '"1.7"' in str(bad_codec.value)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, "r", name="A", password=PASSWORD, show_unauthenticated=True)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, "chat.txt", name="A", layout="shared", password="p", iterations=0)
    with pytest.raises(ftpchat.InvalidName):
        ftpchat.open(memory_location, "r", name="line\nbreak", password=PASSWORD)
    with pytest.raises(ftpchat.InvalidName):  # FTPChat readers would split "a: b" wrongly
        ftpchat.open(memory_location, "chat.txt", name="a: b", layout="shared", codec="1.5")
    with pytest.raises(ftpchat.TransportError) as info:
        ftpchat.open("gopher://example", "r", name="A", password=PASSWORD)
    assert info.value.kind == "unsupported"
    with native(memory_location, "Alice") as alice:
        with pytest.raises(ftpchat.MessageTooLarge):
            alice.send("x" * (ftpchat.MAX_TEXT_LEN + 1))
        with pytest.raises(ftpchat.InvalidConfig):
            alice.watch(min_interval=0)


def test_close_and_context_manager(memory_location: str) -> None:
    alice = native(memory_location, "Alice")
    with alice as entered:
        assert entered is alice
        alice.send("delivered by close")
    assert alice.closed
    assert "closed" in repr(alice)
    alice.close()  # idempotent
    for call in (lambda: alice.send("x"), alice.sync, alice.flush, alice.history):
        with pytest.raises(ftpchat.RoomClosed):
            call()
    with native(memory_location, "Bob") as bob:
        assert [m.text for m in bob.sync().messages] == ["delivered by close"]


def test_leaving_with_an_exception_does_not_deliver(memory_location: str) -> None:
    with pytest.raises(RuntimeError):
        with native(memory_location, "Alice") as alice:
            alice.send("never delivered")
            raise RuntimeError("boom")
    assert alice.closed
    with native(memory_location, "Bob") as bob:
        assert bob.sync().messages == ()


def test_state_dir_keeps_the_outbox(tmp_path: Path) -> None:
    location, state = str(tmp_path / "server"), tmp_path / "state"
    (tmp_path / "server").mkdir()
    alice = native(location, "Alice", state_dir=state)
    mid = alice.send("sent after a restart")
    # The server breaks for a while (a file where the logs folder was): delivery fails
    # with a permanent error, and the outbox is saved in the state folder.
    logs = tmp_path / "server" / "lobby" / "logs"
    logs.rename(tmp_path / "away")
    logs.touch()
    with pytest.raises(ftpchat.TransportError) as info:
        alice.sync()
    assert not info.value.transient and info.value.operation
    assert alice.outbox_len == 1
    alice.close(flush=False)
    logs.unlink()
    (tmp_path / "away").rename(logs)
    with native(location, "Bob") as bob:
        assert bob.sync().messages == ()
    with native(location, "Alice", state_dir=state) as alice2:
        assert alice2.outbox_len == 1
        assert alice2.sync().confirmed == (mid,)
    with native(location, "Bob") as bob:
        assert [m.text for m in bob.sync().messages] == ["sent after a restart"]


def test_state_dir_pages_and_searches_the_local_store(tmp_path: Path) -> None:
    location, state = str(tmp_path / "server"), tmp_path / "state"
    (tmp_path / "server").mkdir()
    with native(location, "Alice") as alice:
        for i in range(40):
            alice.send(f"lunch at {i}" if i % 10 == 0 else f"note {i}")
        alice.sync()
    with native(location, "Bob", state_dir=state) as bob:
        assert len(bob.sync().messages) == 40
    with native(location, "Carol") as carol, pytest.raises(ftpchat.Unsupported):
        carol.search("lunch")
    # Reopened: paging and searching read the local store.
    with native(location, "Bob", state_dir=state) as bob:
        newest = bob.history(5)
        assert [m.text for m in newest] == [f"note {i}" for i in range(35, 40)]
        older = bob.history(5, before=newest[0].id)
        assert [m.text for m in older] == ["lunch at 30"] + [f"note {i}" for i in range(31, 35)]
        hits = bob.search("LUNCH", 2)
        assert [m.text for m in hits] == ["lunch at 30", "lunch at 20"]
        assert [m.text for m in bob.search("lunch", 5, before=hits[-1].id)] == ["lunch at 10", "lunch at 0"]
        assert bob.search("") == []
    # A damaged store is a LocalStateError that says how to recover.
    store = state / "store.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(str(store) + suffix).unlink(missing_ok=True)
    store.write_bytes(b"\x5a" * 8192)
    with pytest.raises(ftpchat.LocalStateError, match="damaged"):
        native(location, "Bob", state_dir=state)


def test_a_long_sync_with_a_state_dir_reports_what_it_left_out(tmp_path: Path) -> None:
    location, state = str(tmp_path / "server"), tmp_path / "state"
    (tmp_path / "server").mkdir()
    with native(location, "Alice") as alice:
        for i in range(1_100):
            alice.send(f"m{i}")
        alice.sync()
    with native(location, "Bob", state_dir=state) as bob:
        update = bob.sync()
        assert len(update.messages) == 1_000 and update.messages[0].text == "m100"
        left_out = [e for e in update.events if e.kind == "messages_left_out"]
        assert len(left_out) == 1 and "100 older" in left_out[0].description
        older = bob.history(500, before=update.messages[0].id)
        assert [m.text for m in older] == [f"m{i}" for i in range(100)]


def test_shared_file_in_a_folder_mixes_16_and_17(tmp_path: Path) -> None:
    kdf: dict[str, Any] = dict(password="pw", salt=b"room salt", iterations=2000)

    def shared(name: str, codec: str, **kwargs: Any) -> ftpchat.Room:
        return ftpchat.open(str(tmp_path), "chat.txt", name=name, layout="shared", codec=codec, **kwargs)  # type: ignore[arg-type]

    with shared("Old", "1.6", **kdf) as old, shared("New", "1.7", **kdf) as new:
        old.send("from a 1.6 writer\n")
        old.sync()
        new.send("from a 1.7 writer  ")
        new.sync()
        assert [(m.sender, m.text, m.codec) for m in new.history()] == [
            ("Old", "from a 1.6 writer", ftpchat.Codec.FTPCHAT_16),
            ("New", "from a 1.7 writer", ftpchat.Codec.FTPCHAT_17),
        ]
        got = old.sync().messages
        assert [(m.sender, m.text) for m in got] == [("New", "from a 1.7 writer")]
        assert got[0].local_time is not None and got[0].timestamp is not None
    key = reference.fernet_key("pw", b"room salt", 2000)
    data = (tmp_path / "chat.txt").read_bytes()
    line16, line17 = data.splitlines()
    assert line16.startswith(b"Z0FBQUFB") and line17.startswith(b"gAAAAA")
    assert reference.decode_16(line16, key).endswith(":Old: from a 1.6 writer\n")
    assert reference.decode_17(line17, key).endswith(":New: from a 1.7 writer")

    # A 1.5 writer (no key) in the same file: its line is hidden in the keyed rooms unless
    # asked for; a 1.5 room shows it, and cannot read the keyed lines.
    with shared("Keyless", "1.5") as keyless:
        keyless.send("anyone could have written this")
        update = keyless.sync()
        assert update.messages == ()
        assert [(e.kind, e.codec) for e in update.events] == [
            ("undecodable_line", ftpchat.Codec.FTPCHAT_16),
            ("undecodable_line", ftpchat.Codec.FTPCHAT_17),
        ]
        assert "no password" in update.events[0].description
    with shared("Reader", "1.7", **kdf) as reader:
        update = reader.sync()
        assert [m.sender for m in update.messages] == ["Old", "New"]
        assert [(e.kind, e.offset) for e in update.events] == [("unauthenticated_line", len(data))]
    with shared("Reader", "1.7", show_unauthenticated=True, **kdf) as reader:
        update = reader.sync()
        assert [(m.sender, m.codec) for m in update.messages] == [
            ("Old", ftpchat.Codec.FTPCHAT_16),
            ("New", ftpchat.Codec.FTPCHAT_17),
            ("Keyless", ftpchat.Codec.FTPCHAT_15),
        ]
        assert update.events == ()


def test_a_new_shared_room_writes_17_with_the_clients_kdf(tmp_path: Path) -> None:
    with ftpchat.open(str(tmp_path), "chat.txt", name="Ahmed", layout="shared", password="pw") as room:
        room.send("hello  \n")
        assert room.sync().confirmed
        assert [m.text for m in room.history()] == ["hello"]  # shown as every reader shows it
    line = (tmp_path / "chat.txt").read_bytes()
    assert line.startswith(b"gAAAAA") and line.endswith(b"\n") and line.count(b"\n") == 1
    assert reference.decode_17(line.strip(), reference.fernet_key("pw")).endswith(":Ahmed: hello")


def test_a_wrong_password_holds_the_outbox_across_restarts(tmp_path: Path) -> None:
    server, state = tmp_path / "server", tmp_path / "state"
    server.mkdir()
    key = reference.fernet_key("right")
    (server / "chat.txt").write_bytes(reference.encode_17("2026-01-01 10:00:Mona: hi", key) + b"\n")
    before = (server / "chat.txt").read_bytes()

    def shared(password: str) -> ftpchat.Room:
        return ftpchat.open(str(server), "chat.txt", name="Ahmed", layout="shared", password=password, state_dir=state)

    with shared("right") as room:
        assert [m.text for m in room.sync().messages] == ["hi"]
    wrong = shared("wrnog")
    wrong.send("typed with the wrong password")
    with pytest.raises(ftpchat.WrongPassword):
        wrong.sync()
    wrong.close(flush=False)
    assert (server / "chat.txt").read_bytes() == before

    # The right password again: the message written under the wrong key stays unsent.
    with shared("right") as room:
        update = room.sync()
        held = [e for e in update.events if e.kind == "outbox_held"]
        assert len(held) == 1 and "1 unsent" in held[0].description
        assert "wrnog" not in held[0].description
        assert room.outbox_len == 0
    assert (server / "chat.txt").read_bytes() == before


def test_open_with_a_derived_key(tmp_path: Path) -> None:
    key = ftpchat.derive_key("pw", b"s", 1000)
    with ftpchat.open(str(tmp_path), "chat.txt", name="K", layout="shared", key=key) as room:
        room.send("with a key")
        room.sync()
    line = (tmp_path / "chat.txt").read_bytes().strip()
    assert ftpchat.decode_17(line, password="pw", salt=b"s", iterations=1000).endswith(":K: with a key")


def test_native_room_iterations(memory_location: str) -> None:
    assert ftpchat.DEFAULT_NATIVE_ITERATIONS == 600_000
    with pytest.raises(ftpchat.InvalidConfig):
        native(memory_location, "A", iterations=10**12)
    native(memory_location, "A", iterations=1500).close()
    # Opening an existing room uses the iterations in its header.
    with native(memory_location, "B", iterations=None) as b:
        assert b.sync() is not None
