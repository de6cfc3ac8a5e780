"""What the core gives the bindings (issue 13), through the Python API: a non-blocking
cancel, close(), every update handed out exactly once across consumers, and errors whose
classes and transience come from the core's error kinds (the same table as Kotlin's)."""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import ftpchat
import pytest
from ftpchat import _ftpchat

PASSWORD = "correct horse battery staple"
FAST = 1000
PROMPT = 2.0  # "returns promptly", while something else stays blocked until released
PATIENCE = 30.0


def native(location: str, name: str, **kwargs: object) -> ftpchat.Room:
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("iterations", FAST)
    return ftpchat.open(location, "api", name=name, **kwargs)  # type: ignore[arg-type]


def test_cancel_and_stop_from_inside_a_callback_return_at_once(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        alice.send("wake up")
        alice.sync()
        done = threading.Event()
        took: list[float] = []
        holder: list[ftpchat.Subscription] = []
        ready = threading.Event()

        def on_message(_m: ftpchat.Message) -> None:
            ready.wait(PATIENCE)
            start = time.monotonic()
            holder[0].cancel()
            holder[0].stop()  # the watcher's own thread: must not wait for itself
            took.append(time.monotonic() - start)
            done.set()

        holder.append(bob.listen(on_message, min_interval=0.01, max_interval=0.05))
        ready.set()
        assert done.wait(PATIENCE)
        assert took[0] < PROMPT
        alice.send("after")
        alice.sync()
        # The cancelled watcher took nothing more: Bob's own sync has it.
        deadline = time.monotonic() + PATIENCE
        got: list[str] = []
        while "after" not in got and time.monotonic() < deadline:
            got += [m.text for m in bob.sync().messages]
        assert got == ["after"]


def test_cancel_does_not_wait_for_a_blocked_listener(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        alice.send("first")
        alice.sync()
        entered, release = threading.Event(), threading.Event()

        def on_message(_m: ftpchat.Message) -> None:
            entered.set()
            release.wait()

        sub = bob.listen(on_message, min_interval=0.01, max_interval=0.05)
        assert entered.wait(PATIENCE)
        start = time.monotonic()
        sub.cancel()
        assert time.monotonic() - start < PROMPT
        watch = bob.watch(min_interval=0.01)
        start = time.monotonic()
        watch.cancel()
        del watch  # dropping does not wait either
        assert time.monotonic() - start < PROMPT
        release.set()
        sub.stop()
        assert not sub.running


def test_close_semantics(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    room = native(str(server), "Alice")
    watch = room.watch(min_interval=0.01)
    room.close(flush=False)
    assert room.closed and not watch.running
    room.close()  # idempotent
    for call in (lambda: room.send("x"), room.sync, room.flush, room.history, room.watch):
        with pytest.raises(ftpchat.RoomClosed) as info:
            call()
        assert not info.value.transient
    # close() saved the outbox: it goes out after a reopen (no watcher to deliver it first).
    carol = native(str(server), "Carol", state_dir=tmp_path / "state")
    carol.send("kept in the outbox")
    carol.close(flush=False)
    with native(str(server), "Carol", state_dir=tmp_path / "state") as again:
        assert again.outbox_len == 1
        again.sync()
        assert again.outbox_len == 0
    with native(str(server), "Bob") as bob:
        assert [m.text for m in bob.sync().messages] == ["kept in the outbox"]


def test_a_watcher_and_sync_see_every_message_and_confirmation_once(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        by_watcher: list[str] = []
        confirmed_by_watcher: list[str] = []
        sub = bob.listen(
            lambda m: by_watcher.append(m.text),
            on_confirmed=confirmed_by_watcher.append,
            min_interval=0.01,
            max_interval=0.05,
        )
        expected, own, synced, confirmed = [], [], [], []
        for rnd in range(15):
            for i in range(3):
                text = f"a{rnd}-{i}"
                alice.send(text)
                expected.append(text)
            alice.sync()
            own.append(bob.send(f"b{rnd}"))
            result = bob.sync()
            synced += [m.text for m in result.messages]
            confirmed += list(result.confirmed)
        sub.stop()
        result = bob.sync()
        synced += [m.text for m in result.messages]
        confirmed += list(result.confirmed)
        assert Counter(synced + by_watcher) == Counter(expected)
        assert Counter(confirmed + confirmed_by_watcher) == Counter(own)


def test_two_threads_syncing_see_every_message_once(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        stop = threading.Event()
        got: list[list[str]] = [[], []]

        def reader(i: int) -> None:
            while not stop.is_set():
                got[i] += [m.text for m in bob.sync().messages]

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        expected = [f"m{i}" for i in range(60)]
        for i in range(0, 60, 10):
            for text in expected[i : i + 10]:
                alice.send(text)
            alice.sync()
        stop.set()
        for t in threads:
            t.join(PATIENCE)
        rest = [m.text for m in bob.sync().messages]
        assert Counter(got[0] + got[1] + rest) == Counter(expected)


def test_error_classes_come_from_the_core_kinds() -> None:
    # The same table as ChatError in Kotlin/Swift (ftpchat-ffi/src/error.rs).
    table: dict[str, tuple[type[ftpchat.Error], bool]] = {
        "wrong_password": (ftpchat.WrongPassword, False),
        "header_changed": (ftpchat.HeaderChanged, False),
        "not_found": (ftpchat.RoomNotFound, False),
        "invalid_config": (ftpchat.InvalidConfig, False),
        "invalid_name": (ftpchat.InvalidName, False),
        "invalid_path": (ftpchat.InvalidPath, False),
        "message_too_large": (ftpchat.MessageTooLarge, False),
        "local_state": (ftpchat.LocalStateError, False),
        "lock_timeout": (ftpchat.LockTimeout, True),
        "closed": (ftpchat.RoomClosed, False),
        "unsupported": (ftpchat.Unsupported, False),
        "unknown_message": (ftpchat.UnknownMessage, False),
        "not_allowed": (ftpchat.NotAllowed, False),
        "transport:transient": (ftpchat.TransportError, True),
        "transport:not_found": (ftpchat.TransportError, False),
        "transport:permission_denied": (ftpchat.TransportError, False),
        "transport:unsupported": (ftpchat.TransportError, False),
        "transport:permanent": (ftpchat.TransportError, False),
    }
    for kind, (cls, transient) in table.items():
        error = _ftpchat._error_for_kind(kind)
        assert type(error) is cls, (kind, error)
        assert error.transient is transient, kind
    assert _ftpchat._error_for_kind("transport:permission_denied").kind == "permission_denied"  # type: ignore[attr-defined]
    assert isinstance(_ftpchat._error_for_kind("header_changed"), ftpchat.CorruptRoom)


def test_a_lock_on_a_native_room_is_refused_by_the_core(memory_location: str) -> None:
    with pytest.raises(ftpchat.InvalidConfig) as info:
        native(memory_location, "Alice", lock=True)
    assert "lock" in str(info.value) and not info.value.transient


def test_accept_changed_header(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    state = tmp_path / "state"
    native(str(server), "Alice", state_dir=state).close()
    shutil.rmtree(server / "api")
    native(str(server), "Mallory").close()  # a new room (a new header) under the name
    with pytest.raises(ftpchat.HeaderChanged) as info:
        native(str(server), "Alice", state_dir=state)
    assert isinstance(info.value, ftpchat.CorruptRoom) and not info.value.transient
    with native(str(server), "Alice", state_dir=state, accept_changed_header=True) as alice:
        assert [e.kind for e in alice.sync().events].count("header_changed") == 1


def test_a_watch_dropped_unread_gives_its_messages_back(memory_location: str) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        watch = bob.watch(min_interval=0.01, max_interval=0.05)
        for text in ("one", "two", "three"):
            alice.send(text)
        alice.sync()
        deadline = time.monotonic() + PATIENCE
        while len(bob.history()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        watch.stop()  # the watcher has queued them for the iterator, which never reads
        del watch
        assert [m.text for m in bob.sync().messages] == ["one", "two", "three"]


def test_a_wrong_password_reaches_the_listener_as_an_event_beside_the_error(
    memory_location: str,
) -> None:
    """In a FTPChat 1.7 file a wrong password makes every sync fail (nothing may be
    written under a wrong key); the event that explains it still reaches the listener."""

    def shared(name: str, password: str) -> ftpchat.Room:
        return ftpchat.open(
            memory_location, "chat.txt", name=name, layout="shared", codec="1.7",
            password=password, iterations=FAST,
        )

    with shared("Alice", PASSWORD) as alice, shared("Mallory", "guess") as mallory:
        alice.send("hello")
        alice.sync()
        mallory.send("not under a wrong key")
        events: list[str] = []
        errors: list[type] = []
        seen = threading.Event()

        def on_event(e: ftpchat.Event) -> None:
            events.append(e.kind)
            if e.kind == "wrong_password":
                seen.set()

        with mallory.listen(
            on_event=on_event,
            on_error=lambda e: errors.append(type(e)),
            min_interval=0.01,
            max_interval=0.05,
        ):
            assert seen.wait(PATIENCE), events
        assert ftpchat.WrongPassword in errors
        assert mallory.outbox_len == 1
        mallory.close(flush=False)
