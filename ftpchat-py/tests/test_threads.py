"""Threads: the GIL is released during network I/O and key derivation; watchers deliver
messages to an iterator or to callbacks; Ctrl-C interrupts a blocked iteration."""

from __future__ import annotations

import _thread
import gc
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

import ftpchat
import pytest
from ftpserver import FTP_PASSWORD, FtpServer

PASSWORD = "pw"
FAST = 1000


class Counter:
    """A Python thread that counts as fast as the GIL lets it."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.count += 1

    def __enter__(self) -> Counter:
        self._thread.start()
        while self.count == 0:
            time.sleep(0.001)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def counted(call: Callable[[], Any]) -> tuple[float, int]:
    """Runs ``call`` in this thread while a second thread counts; returns the call's
    duration and how far the count advanced meanwhile."""
    with Counter() as counter:
        before, start = counter.count, time.monotonic()
        call()
        return time.monotonic() - start, counter.count - before


def assert_gil_released(call: Callable[[], Any]) -> None:
    """Asserts the other thread kept counting during ``call``.

    The reference is how fast it counts while this thread sleeps (GIL released). A call
    that holds the GIL lets it count only during the switch interval before the call
    starts (about 5 ms: a few percent of a 0.2 s call); a call that releases it lets it
    count at full speed while waiting on the network, and at a share of the CPU while the
    call computes on another core (measured: a quarter or more on 2 busy cores).
    """
    elapsed, advanced = counted(call)
    calibration_time, calibration = counted(lambda: time.sleep(0.2))
    expected = calibration / calibration_time * elapsed
    assert elapsed > 0.2, f"the call took only {elapsed:.3f} s: too short to tell"
    assert advanced > 0.1 * expected, (
        f"the other thread counted {advanced} in {elapsed:.2f} s, "
        f"about {expected:.0f} expected with the GIL released"
    )


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_second_thread_runs_while_a_room_syncs(slow_ftp_port: int) -> None:
    # The server runs in another process and answers every command 50 ms late: a sync
    # spends most of its time waiting on the network. If the binding held the GIL, the
    # counting thread would not advance at all during it.
    url = f"ftp://alice:{FTP_PASSWORD}@127.0.0.1:{slow_ftp_port}/"
    writer = ftpchat.open(url, "lobby", name="W", password=PASSWORD, iterations=FAST)
    reader = ftpchat.open(url, "lobby", name="R", password=PASSWORD)
    try:
        for i in range(5):
            writer.send(f"message {i}")
        assert_gil_released(writer.sync)

        received: list[ftpchat.Message] = []
        assert_gil_released(lambda: received.extend(reader.sync().messages))
        assert [m.text for m in received] == [f"message {i}" for i in range(5)]
    finally:
        writer.close()
        reader.close()


def test_a_second_thread_runs_during_key_derivation(memory_location: str) -> None:
    iterations = 4_000_000  # about 0.5 s
    assert_gil_released(lambda: ftpchat.derive_key("pw", b"salt", iterations))
    assert_gil_released(
        lambda: ftpchat.open(memory_location, "r", name="A", password="pw", iterations=iterations).close()
    )


def rooms(location: str) -> Iterator[tuple[ftpchat.Room, ftpchat.Room]]:
    alice = ftpchat.open(location, "lobby", name="Alice", password=PASSWORD, iterations=FAST)
    bob = ftpchat.open(location, "lobby", name="Bob", password=PASSWORD)
    try:
        yield alice, bob
    finally:
        alice.close()
        bob.close()


@pytest.fixture
def alice_bob(memory_location: str) -> Iterator[tuple[ftpchat.Room, ftpchat.Room]]:
    yield from rooms(memory_location)


def test_watch_iterates_over_new_messages(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    alice, bob = alice_bob
    with bob.watch(min_interval=0.02, max_interval=0.1) as watch:
        assert watch.running and "running" in repr(watch)
        assert watch.get(timeout=0.05) is None  # nothing yet

        def talk() -> None:
            for i in range(3):
                alice.send(f"m{i}")
                alice.sync()

        threading.Thread(target=talk).start()
        got = []
        for msg in watch:  # blocks with the GIL released until each message arrives
            got.append(msg.text)
            if len(got) == 3:
                break
        assert got == ["m0", "m1", "m2"]
        assert watch.last_error is None
    assert not watch.running
    assert list(watch) == []  # stopped: iteration ends


def test_listen_calls_back_on_the_watcher_thread(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    alice, bob = alice_bob
    received: list[tuple[str, int]] = []
    confirmed: list[str] = []
    with bob.listen(lambda m: received.append((m.text, threading.get_ident())), min_interval=0.02), \
         alice.listen(on_confirmed=confirmed.append, min_interval=0.02) as sub:  # fmt: skip
        assert sub.running
        ids = [alice.send("one"), alice.send("two")]  # alice's watcher delivers them
        wait_for(lambda: len(received) == 2 and len(confirmed) == 2)
    assert [text for text, _ in received] == ["one", "two"]
    assert all(ident != threading.get_ident() for _, ident in received)
    assert sorted(confirmed) == sorted(ids)
    assert not sub.running


def test_an_exception_in_a_callback_is_reported_and_the_watcher_goes_on(
    alice_bob: tuple[ftpchat.Room, ftpchat.Room], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = alice_bob
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    texts: list[str] = []

    def on_message(msg: ftpchat.Message) -> None:
        texts.append(msg.text)
        if msg.text == "bad":
            raise RuntimeError("callback failed")

    with bob.listen(on_message, min_interval=0.02):
        alice.send("bad")
        alice.sync()
        wait_for(lambda: texts == ["bad"])
        alice.send("good")
        alice.sync()
        wait_for(lambda: texts == ["bad", "good"])
    assert len(unraisable) == 1 and isinstance(unraisable[0].exc_value, RuntimeError)


def test_watchers_report_errors(ftp_server: FtpServer) -> None:
    room = ftpchat.open(ftp_server.url(), "lobby", name="A", password=PASSWORD, iterations=FAST)
    errors: list[ftpchat.Error] = []
    try:
        with room.watch(min_interval=0.02, max_interval=0.05) as watch, \
             room.listen(on_error=errors.append, min_interval=0.02, max_interval=0.05):  # fmt: skip
            ftp_server.stop()  # the server goes away
            wait_for(lambda: bool(errors) and watch.last_error is not None, timeout=60)
        assert isinstance(errors[0], ftpchat.TransportError)
        assert isinstance(watch.last_error, ftpchat.TransportError)
        assert FTP_PASSWORD not in str(errors[0])
    finally:
        room.close(flush=False)


def test_ctrl_c_interrupts_a_blocked_watch(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    _, bob = alice_bob
    with bob.watch() as watch:
        timer = threading.Timer(0.3, _thread.interrupt_main)
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            next(watch)  # no message will come
        assert time.monotonic() - start < 5
        timer.join()


def test_close_stops_the_rooms_watchers(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    _, bob = alice_bob
    watch = bob.watch(min_interval=0.02)
    sub = bob.listen(lambda m: None, min_interval=0.02)
    assert watch.running and sub.running
    bob.close()
    assert not watch.running and not sub.running
    assert watch.get(timeout=1) is None
    with pytest.raises(ftpchat.RoomClosed):
        bob.watch()


def test_dropped_watches_stop_without_blocking(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    alice, bob = alice_bob
    for _ in range(20):
        watch = bob.watch(min_interval=0.01)
        del watch  # stopped in the background, without blocking this thread
    alice.send("still fine")
    alice.sync()
    # A dropped watch may still be finishing its last sync and take the message first (one
    # consumer per Room): what must hold is that Bob's room has it exactly once.
    bob.sync()
    assert [m.text for m in bob.history()] == ["still fine"]


def test_a_listener_runs_without_keeping_its_subscription(
    alice_bob: tuple[ftpchat.Room, ftpchat.Room],
) -> None:
    alice, bob = alice_bob
    received: list[str] = []
    bob.listen(lambda m: received.append(m.text), min_interval=0.02)
    gc.collect()
    alice.send("heard")
    alice.sync()
    wait_for(lambda: received == ["heard"])


def test_rooms_are_usable_from_several_threads(alice_bob: tuple[ftpchat.Room, ftpchat.Room]) -> None:
    alice, bob = alice_bob
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            for i in range(20):
                alice.send(f"t{n}-{i}")
                if i % 5 == 0:
                    alice.sync()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    alice.sync()
    texts = sorted(m.text for m in bob.sync().messages)
    assert texts == sorted(f"t{n}-{i}" for n in range(4) for i in range(20))


def test_the_interpreter_exits_cleanly_with_running_watchers() -> None:
    # Watchers left running at exit are stopped by an atexit hook before Python
    # finalizes (a watcher thread calling into a finalizing interpreter would hang).
    script = """
import time, ftpchat
a = ftpchat.open("memory://exit", "r", name="A", password="p", iterations=1000)
b = ftpchat.open("memory://exit", "r", name="B", password="p")
c = ftpchat.open("memory://exit", "r", name="C", password="p")
heard = []
b.listen(lambda m: heard.append(m.text), min_interval=0.01)
w = c.watch(min_interval=0.01)
a.send("hi")
a.sync()
print("iterator", next(w).text, flush=True)
while not heard:
    time.sleep(0.01)
print("callback", heard[0], flush=True)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.splitlines()) == ["callback hi", "iterator hi"]
