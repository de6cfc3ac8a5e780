"""The asyncio API (open_async, AsyncRoom, updates()) against real pyftpdlib servers: it
exchanges messages, never blocks the event loop (a loop-lag probe), and cancellation
stops watchers and loses nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import ftpchat
import pytest
from ftpserver import FTP_PASSWORD, FTP_USER, FtpServer

PASSWORD = "correct horse"
FAST = 0.05
T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]], timeout: float = 120.0) -> T:
    """Runs ``main()`` on a new event loop, failing after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def watcher_threads() -> int:
    """How many threads of this process are ftpchat watchers (the core names them)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                count += f.read().strip() == "ftpchat-watch"
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return count


async def next_message(updates: ftpchat.Updates, timeout: float = 20.0) -> ftpchat.Message:
    """The next new message the iterator yields (skipping other updates)."""

    async def first() -> ftpchat.Message:
        async for update in updates:
            if isinstance(update, ftpchat.MessageUpdate):
                return update.message
        raise AssertionError("the iterator ended")

    return await asyncio.wait_for(first(), timeout)


def test_two_rooms_exchange_messages(ftp_server: FtpServer) -> None:
    url = ftp_server.url()

    async def main() -> None:
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD
            ) as bob:
                assert isinstance(alice, ftpchat.AsyncRoom)
                hello = await alice.send("Hello, Bob!")
                assert alice.outbox_len == 1
                first = await alice.sync()
                assert first.confirmed == (hello,)
                assert alice.outbox_len == 0

                got = await bob.sync()
                assert [(m.id, m.sender, m.text) for m in got.messages] == [
                    (hello, "Alice", "Hello, Bob!")
                ]
                reply = await bob.send("Hi Alice")
                await bob.flush()
                assert bob.outbox_len == 0

                assert [m.text for m in (await alice.sync()).messages] == ["Hi Alice"]
                page = await alice.history(10)
                assert [(m.id, m.text) for m in page] == [(hello, "Hello, Bob!"), (reply, "Hi Alice")]
                assert alice.message(reply) == page[1]
        assert alice.closed and bob.closed

    run(main)


def test_search_reads_the_local_store(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()

    async def main() -> None:
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            for text in ["lunch at noon", "a note", "lunch moved"]:
                await alice.send(text)
            await alice.flush()
        async with await ftpchat.open_async(
            url, "lobby", name="Bob", password=PASSWORD, state_dir=str(tmp_path)
        ) as bob:
            assert len((await bob.sync()).messages) == 3
            found = await bob.search("Lunch")
            assert [m.text for m in found] == ["lunch moved", "lunch at noon"]
            older = await bob.search("lunch", 5, before=found[0].id)
            assert [m.text for m in older] == ["lunch at noon"]

    run(main)


def test_async_for_receives_what_another_room_sends(ftp_server: FtpServer) -> None:
    url = ftp_server.url()

    async def main() -> None:
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD
            ) as bob:
                async with bob.updates(min_interval=FAST, max_interval=FAST) as updates:
                    sent = await alice.send("over the watcher")
                    await alice.flush()
                    msg = await next_message(updates)
                    assert (msg.id, msg.sender, msg.text) == (sent, "Alice", "over the watcher")
                    assert msg.status is ftpchat.MessageStatus.CONFIRMED

                    # Bob's own message comes back as a confirmation from his watcher.
                    own = await bob.send("mine")

                    async def confirmation() -> str:
                        async for update in updates:
                            if isinstance(update, ftpchat.ConfirmedUpdate):
                                return update.id
                        raise AssertionError("the iterator ended")

                    assert await asyncio.wait_for(confirmation(), 20) == own
                assert not updates.running
                # Handed out once: a sync does not return it again.
                assert (await bob.sync()).messages == ()

    run(main)


def test_updates_end_when_the_room_closes(ftp_server: FtpServer) -> None:
    async def main() -> None:
        room = await ftpchat.open_async(ftp_server.url(), "lobby", name="A", password=PASSWORD)
        updates = room.updates(min_interval=FAST, max_interval=FAST)
        consumer = asyncio.ensure_future(updates.__anext__())
        await asyncio.sleep(0.2)
        assert not consumer.done()
        await room.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(consumer, 10)
        assert not updates.running

    run(main)


class LagProbe:
    """A task that sleeps 5 ms at a time and records how much later than asked it woke:
    the event loop's lag."""

    def __init__(self) -> None:
        self.max_lag = 0.0
        self.wakeups = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            self.max_lag = max(self.max_lag, time.perf_counter() - start - 0.005)
            self.wakeups += 1

    async def __aenter__(self) -> LagProbe:
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0.02)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await asyncio.sleep(0.02)  # let it notice a late wakeup
        assert self._task is not None
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task


MAX_LAG = 0.05


@pytest.fixture
def ftp_process_url(tmp_path: Path) -> Iterator[str]:
    """An FTP server in another process (so that serving does not take this process's
    GIL from the event loop the test measures)."""
    root = tmp_path / "ftp-root"
    root.mkdir()
    script = Path(__file__).with_name("ftpserver.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{port}/"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_event_loop_keeps_running_during_kdf_sync_and_history(ftp_process_url: str) -> None:
    url = ftp_process_url
    count = 3000
    with ftpchat.open(url, "lobby", name="Writer", password=PASSWORD) as writer:
        for i in range(count):
            writer.send(f"message {i} " + "x" * 100)
        writer.sync()
        assert writer.outbox_len == 0

    async def main() -> tuple[LagProbe, float, LagProbe, float]:
        # The async API: open (PBKDF2, 600,000 iterations), sync and read everything.
        async with LagProbe() as async_probe:
            start = time.perf_counter()
            async with await ftpchat.open_async(
                url, "lobby", name="Reader", password=PASSWORD
            ) as room:
                assert len((await room.sync()).messages) == count
                assert len(await room.history(count)) == count
            async_elapsed = time.perf_counter() - start
        # The same blocking calls made on the loop: the probe must see them.
        async with LagProbe() as blocking_probe:
            start = time.perf_counter()
            with ftpchat.open(url, "lobby", name="Reader2", password=PASSWORD) as blocking:
                assert len(blocking.sync().messages) == count
                assert len(blocking.history(count)) == count
            blocking_elapsed = time.perf_counter() - start
        return async_probe, async_elapsed, blocking_probe, blocking_elapsed

    async_probe, async_elapsed, blocking_probe, blocking_elapsed = run(main)
    print(
        f"async: {async_elapsed:.3f} s, max loop lag {async_probe.max_lag * 1000:.1f} ms "
        f"({async_probe.wakeups} wakeups); blocking on the loop: {blocking_elapsed:.3f} s, "
        f"max lag {blocking_probe.max_lag * 1000:.1f} ms"
    )
    assert blocking_probe.max_lag > MAX_LAG, "the probe did not see a blocked loop"
    assert blocking_probe.max_lag > 0.5 * blocking_elapsed
    assert async_probe.max_lag < MAX_LAG
    # It kept waking about every 5 ms meanwhile (at least a third of the time).
    assert async_probe.wakeups > async_elapsed / 0.005 / 3


def test_cancelling_the_consumer_stops_the_watcher(ftp_server: FtpServer) -> None:
    url = ftp_server.url()

    async def main() -> None:
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD
            ) as bob:
                before = watcher_threads()
                updates = bob.updates(min_interval=FAST, max_interval=FAST)
                received: list[ftpchat.Update] = []

                async def consume() -> None:
                    async for update in updates:
                        received.append(update)

                task = asyncio.ensure_future(consume())
                await asyncio.sleep(0.3)
                assert updates.running
                assert watcher_threads() == before + 1
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                # Stopped and joined by the time the cancelled task ended.
                assert not updates.running
                assert watcher_threads() == before
                assert received == []
                # The iterator is closed: it yields nothing more.
                with pytest.raises(StopAsyncIteration):
                    await updates.__anext__()

                # Nothing is read for it any more: Alice's message waits for Bob's sync.
                sent = await alice.send("after the cancel")
                await alice.flush()
                await asyncio.sleep(0.3)
                assert [m.id for m in (await bob.sync()).messages] == [sent]

    run(main)


def test_updates_received_but_not_yielded_go_to_the_next_sync(ftp_server: FtpServer) -> None:
    url = ftp_server.url()

    async def main() -> None:
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD
            ) as bob:
                ids = [await alice.send(f"m{i}") for i in range(3)]
                await alice.flush()
                updates = bob.updates(min_interval=FAST, max_interval=FAST)
                first = await next_message(updates)
                assert first.id == ids[0]
                await asyncio.sleep(0.2)  # the other two are in the iterator's queue
                await updates.aclose()
                assert [m.id for m in (await bob.sync()).messages] == ids[1:]
                assert (await bob.sync()).messages == ()

    run(main)


def test_a_cancelled_call_still_completes(slow_ftp_port: int) -> None:
    """Cancelling the await does not cancel the blocking call: a send queued behind a
    busy worker is still queued, and what a cancelled sync read comes with the next."""
    url = f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{slow_ftp_port}/"

    async def main() -> None:
        one_worker = ThreadPoolExecutor(max_workers=1)
        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD, executor=one_worker
            ) as bob:
                sent = await alice.send("read by a cancelled sync")
                await alice.flush()

                # Bob's only worker is busy with a slow sync (every command waits 50 ms).
                sync = asyncio.ensure_future(bob.sync())
                await asyncio.sleep(0.1)
                send = asyncio.ensure_future(bob.send("sent by a cancelled task"))
                await asyncio.sleep(0.05)
                assert not sync.done() and not send.done()
                sync.cancel()
                send.cancel()
                for task in (sync, send):
                    with pytest.raises(asyncio.CancelledError):
                        await task
                assert sync.cancelled() and send.cancelled()

                # The next sync waits for both; it returns what the cancelled one read and
                # delivers the message of the cancelled send.
                result = await bob.sync()
                assert [m.id for m in result.messages] == [sent]
                assert len(result.confirmed) == 1
                (page,) = [m for m in await bob.history() if m.sender == "Bob"]
                assert page.text == "sent by a cancelled task"
                assert page.status is ftpchat.MessageStatus.CONFIRMED
                assert [m.text for m in (await alice.sync()).messages] == [
                    "sent by a cancelled task"
                ]
        one_worker.shutdown()

    run(main)


def test_errors_are_the_package_exceptions(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()
    ftp_server.append("chat.txt", (ftpchat.encode_17("2024-01-01 10:00:Al: hi", password="right") + "\n").encode())

    async def main() -> None:
        with pytest.raises(ftpchat.RoomNotFound):
            await ftpchat.open_async(url, "nowhere", name="A", password=PASSWORD, create=False)
        with pytest.raises(ftpchat.InvalidConfig):  # a native room refuses the lock
            await ftpchat.open_async(url, "lobby", name="A", password=PASSWORD, lock=True)

        shared = await ftpchat.open_async(
            url, "chat.txt", name="A", layout="shared", password="wrong"
        )
        try:
            with pytest.raises(ftpchat.WrongPassword) as e:
                await shared.sync()
            assert isinstance(e.value, ftpchat.Error) and not e.value.transient
        finally:
            await shared.close(flush=False)

        room = await ftpchat.open_async(url, "lobby", name="A", password=PASSWORD)
        with pytest.raises(ftpchat.UnknownMessage):
            await room.edit("0" * 32, "x")
        with pytest.raises(ftpchat.LocalFileError):
            await room.send_file(tmp_path / "missing.bin")
        await room.close()
        assert room.closed
        with pytest.raises(ftpchat.RoomClosed):
            await room.send("too late")
        with pytest.raises(ftpchat.RoomClosed):
            await room.sync()

    run(main)


def test_send_file_and_save_attachment_with_progress(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 5))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reports: list[tuple[int, int]] = []
        threads: set[bool] = set()

        def progress(done: int, total: int) -> None:
            threads.add(_on_loop_thread(loop))
            reports.append((done, total))

        async with await ftpchat.open_async(url, "lobby", name="Alice", password=PASSWORD) as alice:
            async with await ftpchat.open_async(
                url, "lobby", name="Bob", password=PASSWORD
            ) as bob:
                sent = await alice.send_file(source, "the data", progress=progress)
                assert reports[-1] == (source.stat().st_size, source.stat().st_size)
                await alice.flush()
                (msg,) = (await bob.sync()).messages
                assert msg.id == sent and msg.attachment is not None
                target = tmp_path / "copy.bin"
                await bob.save_attachment(msg.id, target, progress=progress)
                assert target.read_bytes() == source.read_bytes()

                transfer = ftpchat.Transfer()
                transfer.cancel()
                with pytest.raises(ftpchat.TransferCancelled):
                    await bob.save_attachment(msg.id, tmp_path / "other.bin", transfer=transfer)
        # The callback ran on worker threads, never on the loop's.
        assert threads == {False}

    run(main)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def test_updates_yield_the_watchers_errors_and_events(ftp_server: FtpServer) -> None:
    """A failed poll is an ErrorUpdate holding the exception the blocking call raises
    (the watcher goes on), beside the events the poll reported."""
    line = ftpchat.encode_17("2024-01-01 10:00:Al: hi", password="right") + "\n"
    ftp_server.append("chat.txt", line.encode())

    async def main() -> None:
        room = await ftpchat.open_async(
            ftp_server.url(), "chat.txt", name="A", layout="shared", password="wrong"
        )
        try:
            errors: list[ftpchat.Error] = []
            events: list[ftpchat.Event] = []
            async with room.updates(min_interval=FAST, max_interval=FAST) as updates:
                async for update in updates:
                    if isinstance(update, ftpchat.ErrorUpdate):
                        errors.append(update.error)
                    elif isinstance(update, ftpchat.EventUpdate):
                        events.append(update.event)
                    else:
                        raise AssertionError(f"unexpected {update!r}")
                    if len(errors) == 2:  # the watcher retried
                        break
                assert updates.running
            assert not updates.running
            assert all(isinstance(e, ftpchat.WrongPassword) for e in errors), errors
            assert "wrong_password" in [e.kind for e in events]
            with pytest.raises(ftpchat.WrongPassword):
                await room.sync()
        finally:
            await room.close(flush=False)  # flushing checks the password too

    run(main)
