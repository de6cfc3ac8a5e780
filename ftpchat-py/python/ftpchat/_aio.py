"""The asyncio API: :func:`open_async` and :class:`AsyncRoom`, an adapter over the
blocking :class:`~ftpchat.Room`.

Every call that may wait (network, local files, key derivation, a lock a sync holds)
runs the blocking call on a worker thread of a thread pool (the native module releases
the GIL there) and returns its result to the event loop, so the loop never waits on
ftpchat. :meth:`AsyncRoom.updates` turns a background watcher's callbacks into an async
iterator. No protocol or session logic lives here: it is all in the Rust core.

Cancelling an awaited call stops waiting for it, not the call: the blocking call runs to
completion on its worker thread (a message given to :meth:`AsyncRoom.send` is queued in
the outbox and delivered by the next sync, flush or watcher; an upload finishes; a room
being opened is closed again). What a cancelled :meth:`AsyncRoom.sync` read is not lost:
the next :meth:`AsyncRoom.sync` returns it, or the next :meth:`AsyncRoom.updates` yields
it. To stop a transfer itself, pass a :class:`~ftpchat.Transfer` and cancel that. (A
task cancelled before it first ran never made the call: ``asyncio.create_task(room.send(
text))`` followed at once by ``task.cancel()`` queues nothing.)
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import deque
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, Generic, Literal, Sequence, TypeVar, Union

from . import _ftpchat
from ._errors import Error
from ._ftpchat import Identity, Room, Subscription, Transfer
from ._types import Event, Member, Message, PresenceInfo, PresenceState, SeenBy, SyncResult


__all__ = [
    "AsyncRoom",
    "ChangedUpdate",
    "ConfirmedUpdate",
    "ErrorUpdate",
    "EventUpdate",
    "MessageUpdate",
    "Update",
    "Updates",
    "open_async",
]

_T = TypeVar("_T")

#: Worker threads of the thread pool a room makes for itself (``executor=None``).
DEFAULT_WORKERS = 4


@dataclass(frozen=True)
class MessageUpdate:
    """A new message from someone else (what ``listen(on_message=...)`` receives)."""

    message: Message
    """The message."""


@dataclass(frozen=True)
class ConfirmedUpdate:
    """One of this client's messages is now confirmed on the server
    (``listen(on_confirmed=...)``)."""

    id: str
    """The message id, as :meth:`AsyncRoom.send` returned it."""


@dataclass(frozen=True)
class ChangedUpdate:
    """A message handed out before was edited, deleted or reacted to; this is how it is
    now (``listen(on_changed=...)``)."""

    message: Message
    """The message as it is now (``edited``, ``deleted``, ``reactions``)."""


@dataclass(frozen=True)
class EventUpdate:
    """Something worth knowing that is not an error (``listen(on_event=...)``)."""

    event: Event
    """The event."""


@dataclass(frozen=True)
class ErrorUpdate:
    """The watcher's last poll failed (``listen(on_error=...)``); it keeps retrying with
    backoff, so iteration goes on."""

    error: Error
    """The exception, as the blocking API would raise it (not raised here)."""


Update = Union[MessageUpdate, ConfirmedUpdate, ChangedUpdate, EventUpdate, ErrorUpdate]
"""What :meth:`AsyncRoom.updates` yields."""


class _Call(Generic[_T]):
    """One blocking call on a worker thread whose caller may stop waiting for it.

    ``abandoned(result)`` runs exactly once when the caller was cancelled, with the
    call's result, never on the event loop: on the call's own thread when it finishes
    after the cancellation, or on a new thread when it had already finished.
    """

    def __init__(
        self,
        executor: Executor,
        fn: Callable[[], _T],
        abandoned: Callable[[_T], object] | None,
    ) -> None:
        self._lock = threading.Lock()
        self._gave_up = False
        self._finished = False
        self._abandoned = abandoned
        self._executor = executor
        self._future = executor.submit(self._run, fn)

    def _run(self, fn: Callable[[], _T]) -> _T:
        result = fn()
        with self._lock:
            self._finished = True
            hand_over = self._gave_up
        if hand_over and self._abandoned is not None:
            self._abandoned(result)
        return result

    async def result(self) -> _T:
        inner = asyncio.wrap_future(self._future)
        try:
            # shield: a cancelled caller must not cancel a call that has not started yet
            # (a queued send would then never be queued).
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            # Nobody awaits it now: retrieve its exception so asyncio does not log it.
            inner.add_done_callback(lambda f: f.cancelled() or f.exception())
            with self._lock:
                self._gave_up = True
                finished = self._finished
            if finished and self._abandoned is not None:
                future, abandoned = self._future, self._abandoned

                def late() -> None:
                    if future.exception() is None:
                        abandoned(future.result())

                # Not on the executor: it may be shut down by now (the room closed).
                threading.Thread(target=late, name="ftpchat-async-abandoned").start()
            raise


class AsyncRoom:
    """A room for asyncio code; create one with :func:`open_async`.

    Awaitable methods run the blocking :class:`~ftpchat.Room` call of the same name on a
    worker thread and raise the same :class:`~ftpchat.Error` subclasses. Methods that do
    no I/O (:meth:`message`, :meth:`members`, :meth:`presence`, ...) are plain calls.
    An async context manager: leaving ``async with`` closes the room, delivering the
    outbox unless the block raised.

    Cancelling an awaited call does not stop the blocking call (see the module notes):
    :meth:`send` and the other queueing calls still queue, :meth:`sync` keeps what it read
    for the next :meth:`sync` or :meth:`updates`, :meth:`close` still closes.
    """

    def __init__(self, room: Room, executor: Executor, *, owns_executor: bool) -> None:
        """Wraps an open blocking room (use :func:`open_async` instead)."""
        self._room = room
        self._executor = executor
        self._owns_executor = owns_executor
        self._backlog_lock = threading.Lock()
        self._backlog: list[Update] = []
        # Weak: an iterator dropped without aclose() cancels its watcher when collected.
        self._iterators: weakref.WeakSet[Updates] = weakref.WeakSet()

    @property
    def blocking(self) -> Room:
        """The blocking :class:`~ftpchat.Room` this wraps (same room, same state)."""
        return self._room

    async def _call(
        self, fn: Callable[[], _T], abandoned: Callable[[_T], object] | None = None
    ) -> _T:
        if self._room.closed:
            # Raises RoomClosed (or does nothing: close) at once, without I/O; the room's
            # own thread pool is shut down by now.
            return fn()
        return await _Call(self._executor, fn, abandoned).result()

    # -- what a cancelled sync or a closed iterator read: the next consumer gets it --

    def _keep(self, updates: Sequence[Update]) -> None:
        if updates:
            with self._backlog_lock:
                self._backlog.extend(updates)

    def _keep_result(self, result: SyncResult) -> None:
        self._keep(_updates_of(result))

    def _take_backlog(self) -> list[Update]:
        with self._backlog_lock:
            taken, self._backlog = self._backlog, []
        return taken

    # -- calls with I/O --

    async def send(self, text: str) -> str:
        """Queues ``text`` and returns the message id (:meth:`Room.send`). Cancelled, the
        message is still queued and delivered by the next sync, flush or watcher."""
        return await self._call(lambda: self._room.send(text))

    async def send_file(
        self,
        path: str | os.PathLike[str],
        caption: str = "",
        *,
        progress: Callable[[int, int], object] | None = None,
        transfer: Transfer | None = None,
    ) -> str:
        """Uploads a file and queues its message (:meth:`Room.send_file`).

        ``progress(done, total)`` runs on the worker thread, not on the event loop: to
        touch loop objects from it use ``loop.call_soon_threadsafe``. Cancelling the
        await does not stop the upload (it finishes and its message is queued); to stop
        it, pass a :class:`~ftpchat.Transfer` and call its ``cancel()``."""
        return await self._call(
            lambda: self._room.send_file(path, caption, progress=progress, transfer=transfer)
        )

    async def save_attachment(
        self,
        message_id: str,
        path: str | os.PathLike[str],
        *,
        progress: Callable[[int, int], object] | None = None,
        transfer: Transfer | None = None,
    ) -> None:
        """Downloads an attachment to ``path`` (:meth:`Room.save_attachment`); ``progress``
        and cancelling as for :meth:`send_file` (a cancelled await lets the download
        finish; ``transfer.cancel()`` stops it, and a later call resumes)."""
        await self._call(
            lambda: self._room.save_attachment(
                message_id, path, progress=progress, transfer=transfer
            )
        )

    async def edit(self, message_id: str, text: str) -> str:
        """Queues an edit of one of this user's messages (:meth:`Room.edit`); returns its
        id. Cancelled, it is still queued."""
        return await self._call(lambda: self._room.edit(message_id, text))

    async def delete(self, message_id: str) -> str:
        """Queues the deletion of one of this user's messages (:meth:`Room.delete`);
        returns its id. Cancelled, it is still queued."""
        return await self._call(lambda: self._room.delete(message_id))

    async def react(self, message_id: str, reaction: str) -> str:
        """Queues this user's reaction (``""`` withdraws it; :meth:`Room.react`); returns
        its id. Cancelled, it is still queued."""
        return await self._call(lambda: self._room.react(message_id, reaction))

    async def send_private(self, member_id: str, text: str) -> str:
        """Member rooms: queues a private message (:meth:`Room.send_private`); returns its
        id. Cancelled, it is still queued."""
        return await self._call(lambda: self._room.send_private(member_id, text))

    async def sync(self) -> SyncResult:
        """Delivers the outbox and reads what is new (:meth:`Room.sync`).

        Also returns, first, what a cancelled earlier ``sync()`` read and what an
        :meth:`updates` iterator received but had not yielded when it closed. Cancelled,
        the sync still completes and what it read goes to the next ``sync()`` or
        :meth:`updates`; an error it raises then is dropped."""
        result = await self._call(self._room.sync, self._keep_result)
        kept = self._take_backlog()
        return _merge(kept, result) if kept else result

    async def flush(self) -> None:
        """Delivers the outbox without reading (:meth:`Room.flush`). Cancelled, the
        delivery still completes."""
        await self._call(self._room.flush)

    async def history(self, limit: int = 100, *, before: str | None = None) -> list[Message]:
        """Up to ``limit`` messages before ``before`` (or the newest), oldest first
        (:meth:`Room.history`); may download older history."""
        return await self._call(lambda: self._room.history(limit, before=before))

    async def search(
        self, query: str, limit: int = 50, *, before: str | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of the room's conversation that contain every word of
        ``query``, newest first, read from the local store (:meth:`Room.search`)."""
        return await self._call(lambda: self._room.search(query, limit, before=before))

    async def private_history(
        self, member_id: str, limit: int = 100, *, before: str | None = None
    ) -> list[Message]:
        """Member rooms: the private conversation with a member
        (:meth:`Room.private_history`)."""
        return await self._call(
            lambda: self._room.private_history(member_id, limit, before=before)
        )

    async def block(self, member_id: str) -> None:
        """Member rooms: hides a member's messages on this member's devices
        (:meth:`Room.block`; saves local state). Cancelled, it still applies."""
        await self._call(lambda: self._room.block(member_id))

    async def unblock(self, member_id: str) -> None:
        """Member rooms: undoes :meth:`block` (:meth:`Room.unblock`)."""
        await self._call(lambda: self._room.unblock(member_id))

    async def invite(self, role: Literal["admin", "member"] = "member", *, location: str) -> str:
        """Member rooms (admins): a one-time invitation URL, a secret
        (:meth:`Room.invite`). Cancelled, the invitation is still published; its URL is
        lost (it expires unused)."""
        return await self._call(lambda: self._room.invite(role, location=location))

    async def add_member(
        self,
        public: str,
        role: Literal["admin", "member"] = "member",
        *,
        share_history: bool = False,
    ) -> int:
        """Member rooms (admins): adds a device as a new member; returns the new epoch
        (:meth:`Room.add_member`). Cancelled, the change still completes."""
        return await self._call(
            lambda: self._room.add_member(public, role, share_history=share_history)
        )

    async def link_device(self, public: str, *, share_history: bool = False) -> int:
        """Member rooms: links another device of this member; returns the new epoch
        (:meth:`Room.link_device`). Cancelled, the change still completes."""
        return await self._call(
            lambda: self._room.link_device(public, share_history=share_history)
        )

    async def remove_member(self, member_id: str) -> int:
        """Member rooms: removes a member (or leaves); returns the new epoch
        (:meth:`Room.remove_member`). Cancelled, the change still completes."""
        return await self._call(lambda: self._room.remove_member(member_id))

    async def promote(self, member_id: str) -> int:
        """Member rooms (admins): makes a member an admin; returns the new epoch
        (:meth:`Room.promote`). Cancelled, the change still completes."""
        return await self._call(lambda: self._room.promote(member_id))

    async def close(self, *, flush: bool = True) -> None:
        """Closes the room (:meth:`Room.close`): ends the :meth:`updates` iterators (after
        what they hold), delivers the outbox unless ``flush=False``, saves the state and
        disconnects; then shuts down the room's own thread pool. Idempotent; later calls
        raise :class:`~ftpchat.RoomClosed`. Cancelled, the room still closes."""
        for it in list(self._iterators):
            it._end()
        try:
            await self._call(lambda: self._room.close(flush=flush))
        finally:
            if self._owns_executor:
                self._executor.shutdown(wait=False)

    # -- the watcher --

    def updates(self, *, min_interval: float = 0.25, max_interval: float = 1.0) -> Updates:
        """Starts a background watcher and returns an async iterator over what it
        receives, as :meth:`Room.listen` would call back: new messages from others
        (:class:`MessageUpdate`), confirmations of this client's messages
        (:class:`ConfirmedUpdate`), changed messages (:class:`ChangedUpdate`), events
        (:class:`EventUpdate`) and failed polls (:class:`ErrorUpdate`; the watcher
        retries)::

            async for update in room.updates():
                if isinstance(update, ftpchat.MessageUpdate):
                    print(update.message.sender, update.message.text)

        Each update is yielded once (each is handed out once per room: to a sync or a
        watcher, whichever reads it first). The iterator ends when :meth:`close` closes
        the room. Cancelling the task that awaits the next update (or ``break`` inside
        ``async with room.updates() as updates:``, or ``await updates.aclose()``) stops
        the watcher and waits for its thread; updates it received and did not yield go
        to the next :meth:`sync` or :meth:`updates` (errors are dropped)."""
        it = Updates(self, min_interval, max_interval)
        self._iterators.add(it)
        return it

    # -- calls without I/O --

    def message(self, id: str) -> Message | None:
        """The message with this id, if seen (:meth:`Room.message`; no I/O)."""
        return self._room.message(id)

    def members(self) -> list[Member]:
        """Member rooms: the members as of the last sync (no I/O)."""
        return self._room.members()

    def blocked(self) -> list[str]:
        """Member rooms: the ids of the members this member blocks (no I/O)."""
        return self._room.blocked()

    def presence(self) -> list[PresenceInfo]:
        """Member rooms: every member's presence as of the last sync (no I/O)."""
        return self._room.presence()

    def set_presence(
        self, state: PresenceState | Literal["online", "away", "offline", "typing"]
    ) -> None:
        """Member rooms: sets this device's presence, published at the next sync."""
        self._room.set_presence(state)

    def set_typing(self, typing: bool) -> None:
        """Member rooms: this device's user is typing, or stopped (published at the next
        sync)."""
        self._room.set_typing(typing)

    def mark_read(self, message_id: str) -> bool:
        """Member rooms: read up to this message (:meth:`Room.mark_read`)."""
        return self._room.mark_read(message_id)

    def seen_by(self, message_id: str) -> SeenBy:
        """Member rooms: which members have read the message (:meth:`Room.seen_by`)."""
        return self._room.seen_by(message_id)

    @property
    def identity(self) -> Identity | None:
        """The device identity of a member room, else ``None``."""
        return self._room.identity

    @property
    def closed(self) -> bool:
        """``True`` once the room was closed."""
        return self._room.closed

    @property
    def name(self) -> str:
        """This client's display name."""
        return self._room.name

    @property
    def location(self) -> str:
        """Where the room is (without a password)."""
        return self._room.location

    @property
    def outbox_len(self) -> int:
        """How many queued records wait for delivery."""
        return self._room.outbox_len

    async def __aenter__(self) -> AsyncRoom:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.closed:
            await self.close(flush=exc_type is None)

    def __repr__(self) -> str:
        return f"<ftpchat.AsyncRoom {self._room!r}>"


def _updates_of(result: SyncResult) -> list[Update]:
    out: list[Update] = [MessageUpdate(m) for m in result.messages]
    out += [ConfirmedUpdate(i) for i in result.confirmed]
    out += [ChangedUpdate(m) for m in result.changed]
    out += [EventUpdate(e) for e in result.events]
    return out


def _merge(kept: list[Update], result: SyncResult) -> SyncResult:
    """``result`` with the kept updates in front (errors are not part of a sync)."""
    return SyncResult(
        messages=tuple(u.message for u in kept if isinstance(u, MessageUpdate))
        + result.messages,
        confirmed=tuple(u.id for u in kept if isinstance(u, ConfirmedUpdate))
        + result.confirmed,
        events=tuple(u.event for u in kept if isinstance(u, EventUpdate)) + result.events,
        changed=tuple(u.message for u in kept if isinstance(u, ChangedUpdate))
        + result.changed,
    )


class Updates:
    """The async iterator :meth:`AsyncRoom.updates` returns; also an async context
    manager (leaving it closes the iterator and stops its watcher)."""

    # How often a waiting iterator checks that its watcher still runs (it stops when the
    # blocking room is closed directly).
    _CHECK = 0.5

    def __init__(self, room: AsyncRoom, min_interval: float, max_interval: float) -> None:
        self._room = room
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._items: deque[Update] = deque(room._take_backlog())
        self._wakeup = asyncio.Event()
        self._open = True
        self._subscription: Subscription | None = None
        self._subscription = room.blocking.listen(
            lambda m: self._put(MessageUpdate(m)),
            on_confirmed=lambda i: self._put(ConfirmedUpdate(i)),
            on_changed=lambda m: self._put(ChangedUpdate(m)),
            on_event=lambda e: self._put(EventUpdate(e)),
            on_error=lambda e: self._put(ErrorUpdate(e)),
            min_interval=min_interval,
            max_interval=max_interval,
        )

    def _put(self, update: Update) -> None:
        """Runs on the watcher's thread."""
        with self._lock:
            if not self._open:
                if not isinstance(update, ErrorUpdate):
                    self._room._keep([update])
                return
            self._items.append(update)
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the loop is closed; the item waits in the queue
            pass

    @property
    def running(self) -> bool:
        """``True`` while the watcher runs."""
        sub = self._subscription
        return sub is not None and sub.running

    def __aiter__(self) -> Updates:
        return self

    async def __anext__(self) -> Update:
        while True:
            self._wakeup.clear()
            with self._lock:
                if self._items:
                    return self._items.popleft()
                if not self._open:
                    raise StopAsyncIteration
            if not self.running:  # the room was closed (or the watcher ended)
                self._end()
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._CHECK)
            except asyncio.TimeoutError:
                pass
            except asyncio.CancelledError:
                await self.aclose()
                raise

    def _end(self) -> None:
        """No more items enter; what is queued is still yielded, then iteration ends."""
        with self._lock:
            self._open = False
        sub = self._subscription
        if sub is not None:
            sub.cancel()  # returns at once; no callback starts after it
        self._wakeup.set()

    async def aclose(self) -> None:
        """Stops the watcher, waits for its thread (on a worker thread) and ends the
        iteration; what it received and did not yield goes to the room's next
        :meth:`AsyncRoom.sync` or :meth:`AsyncRoom.updates`. Idempotent."""
        self._end()
        with self._lock:
            left = [u for u in self._items if not isinstance(u, ErrorUpdate)]
            self._items.clear()
        self._room._keep(left)
        self._room._iterators.discard(self)
        sub, self._subscription = self._subscription, None
        if sub is not None:
            # stop() waits for the watcher thread (a poll in progress): not on the loop.
            await asyncio.shield(self._loop.run_in_executor(None, sub.stop))

    async def __aenter__(self) -> Updates:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        sub = self._subscription
        if sub is not None:
            sub.cancel()


async def open_async(
    location: str | None,
    room: str,
    *,
    name: str,
    password: str | None = None,
    key: str | None = None,
    layout: Literal["native", "shared"] = "native",
    codec: Literal["1.5", "1.6", "1.7"] | None = None,
    salt: str | bytes | bytearray | memoryview | None = None,
    iterations: int | None = None,
    show_unauthenticated: bool = False,
    create: bool = True,
    lock: bool = False,
    accept_changed_header: bool = False,
    state_dir: str | os.PathLike[str] | None = None,
    ca_pem: str | None = None,
    identity: Identity | None = None,
    invitation: str | None = None,
    presence: bool = True,
    read_receipts: bool = True,
    max_attachment_size: int | None = None,
    executor: Executor | None = None,
) -> AsyncRoom:
    """Opens (or creates) a room as :func:`ftpchat.open` does (same arguments), on a
    worker thread (connecting and deriving the key do not block the event loop)::

        async with await ftpchat.open_async(url, "lobby", name="Alice",
                                            password="correct horse") as room:
            await room.send("hello")
            await room.sync()

    ``executor`` runs the room's blocking calls; by default the room makes its own
    thread pool (``DEFAULT_WORKERS`` threads) and shuts it down when it closes. Cancelled,
    the room being opened is closed again once open (without delivering anything)."""
    own = executor is None
    pool: Executor = (
        ThreadPoolExecutor(max_workers=DEFAULT_WORKERS, thread_name_prefix="ftpchat-async")
        if executor is None
        else executor
    )

    def blocking_open() -> Room:
        return _ftpchat.open(
            location,
            room,
            name=name,
            password=password,
            key=key,
            layout=layout,
            codec=codec,
            salt=salt,
            iterations=iterations,
            show_unauthenticated=show_unauthenticated,
            create=create,
            lock=lock,
            accept_changed_header=accept_changed_header,
            state_dir=state_dir,
            ca_pem=ca_pem,
            identity=identity,
            invitation=invitation,
            presence=presence,
            read_receipts=read_receipts,
            max_attachment_size=max_attachment_size,
        )

    def close_unused(opened: Room) -> None:
        opened.close(flush=False)

    try:
        opened = await _Call(pool, blocking_open, close_unused).result()
    except BaseException:
        if own:
            # Lets a running open finish (and close_unused close its room).
            pool.shutdown(wait=False)
        raise
    return AsyncRoom(opened, pool, owns_executor=own)

