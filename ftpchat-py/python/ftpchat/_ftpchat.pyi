"""Type stubs for the native module ``ftpchat._ftpchat`` (import ``ftpchat`` instead)."""

import os
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Final, Literal, final

from typing_extensions import Buffer, Self

from ftpchat._errors import Error
from ftpchat._types import (
    CompatMessage,
    Event,
    Member,
    Message,
    PresenceInfo,
    PresenceState,
    SeenBy,
    SyncResult,
)

__all__ = [
    "DEFAULT_MAX_ATTACHMENT_SIZE",
    "DEFAULT_NATIVE_ITERATIONS",
    "FTPCHAT_ITERATIONS",
    "FTPCHAT_SALT",
    "Identity",
    "MAX_NAME_LEN",
    "MAX_TEXT_LEN",
    "Room",
    "Subscription",
    "Transfer",
    "Watch",
    "__version__",
    "_error_for_kind",
    "_stop_all_watches",
    "decode_15",
    "decode_16",
    "decode_17",
    "derive_key",
    "encode_15",
    "encode_16",
    "encode_17",
    "fernet_decrypt",
    "fernet_encrypt",
    "fingerprint",
    "format_plaintext",
    "open",
    "parse_plaintext",
    "safety_number",
]

MAX_TEXT_LEN: Final[int]
MAX_NAME_LEN: Final[int]
FTPCHAT_SALT: Final[bytes]
FTPCHAT_ITERATIONS: Final[int]
DEFAULT_NATIVE_ITERATIONS: Final[int]
DEFAULT_MAX_ATTACHMENT_SIZE: Final[int]
__version__: Final[str]

_BytesLike = str | Buffer
_StrPath = str | os.PathLike[str]
_Progress = Callable[[int, int], object]

def open(
    location: str | None,
    room: str,
    *,
    name: str,
    password: str | None = None,
    key: str | None = None,
    layout: Literal["native", "shared"] = "native",
    codec: Literal["1.5", "1.6", "1.7"] | None = None,
    salt: _BytesLike | None = None,
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
) -> Room:
    """Opens (or creates) a room; releases the GIL while connecting and deriving the key.

    ``location``: ``ftp://``, ``ftps://``, ``ftpes://``, ``sftp://``, ``webdav://``,
    ``webdavs://``, ``s3://bucket/prefix`` (endpoint and access key from the ``AWS_*``
    environment variables), a folder, or ``memory://name``. On S3 and WebDAV a native
    room uses the segment layout; a shared FTPChat file raises Unsupported.

    With ``identity``: a member room (no password); with ``invitation`` too, joins it
    (``location=None`` takes the invitation's location). ``presence`` and
    ``read_receipts`` (member rooms only) turn presence and read positions off.
    ``max_attachment_size`` (native and member rooms): the largest file in bytes
    :meth:`Room.send_file` sends and :meth:`Room.save_attachment` downloads (default
    ``DEFAULT_MAX_ATTACHMENT_SIZE``, 100 MiB); larger ones raise FileTooLarge."""

@final
class Identity:
    """A device identity (long-term keys); the repr shows the fingerprint only."""

    @staticmethod
    def load_or_create(dir: str | os.PathLike[str]) -> Identity:
        """The identity kept in ``dir``, created on first use (GIL released)."""
    @staticmethod
    def generate() -> Identity:
        """A new identity in memory."""
    @staticmethod
    def import_backup(text: str, passphrase: str) -> Identity:
        """The identity in an armored backup; raises WrongPassphrase or InvalidBackup."""
    def export_backup(self, passphrase: str) -> str:
        """An armored backup encrypted under ``passphrase`` (GIL released)."""
    @property
    def public(self) -> str:
        """The public identity text, ``ftpchat-id1:...``."""
    @property
    def fingerprint(self) -> str:
        """Six groups of five digits, compared out of band."""

def safety_number(a: str, b: str) -> str:
    """The safety number of two public identity texts (the same either way round)."""

def fingerprint(public: str) -> str:
    """The fingerprint of a public identity text."""

@final
class Room:
    """A chat room; create one with :func:`ftpchat.open`. Thread-safe; a context manager."""

    def send(self, text: str) -> str:
        """Queues ``text``; returns the message id. No network I/O."""
    def send_file(
        self,
        path: _StrPath,
        caption: str = "",
        *,
        progress: _Progress | None = None,
        transfer: Transfer | None = None,
    ) -> str:
        """Uploads the file (encrypted, under the room's ``files/``), then queues its
        message with ``caption`` and returns the message id, as :meth:`send` does.
        Blocks, GIL released. ``progress(done, total)`` is called on this thread at the
        start, about every MiB and at ``done == total``; with tqdm::

            from tqdm import tqdm
            with tqdm(total=os.path.getsize(path), unit="B", unit_scale=True) as bar:
                room.send_file(path, progress=lambda done, total: bar.update(done - bar.n))

        With rich: ``progress=lambda done, total: p.update(task, completed=done,
        total=total)`` (``p`` a ``rich.progress.Progress``, ``task = p.add_task(...)``).
        ``transfer.cancel()`` (any thread, or the callback) raises TransferCancelled
        and queues nothing; an exception raised by ``progress`` cancels too and is
        raised from here. Raises FileTooLarge (before any transfer), LocalFileError,
        MessageTooLarge (caption), Unsupported (shared file), TransportError."""
    def save_attachment(
        self,
        message_id: str,
        path: _StrPath,
        *,
        progress: _Progress | None = None,
        transfer: Transfer | None = None,
    ) -> None:
        """Downloads the attachment of ``message_id`` to ``path`` (replacing it), verified,
        through a ``.part`` file beside it that a later call resumes after a cancel or a
        cut; ``path`` is only written once all of it verified. Blocks, GIL released.
        ``progress`` and ``transfer`` as for :meth:`send_file`. Raises UnknownMessage,
        Unsupported (no attachment, or deleted), FileTooLarge, BadAttachment (missing,
        altered, wrong size or hash), LocalFileError, TransferCancelled,
        TransportError."""
    def edit(self, message_id: str, text: str) -> str:
        """Replaces the text of one of this user's messages; returns the edit's id. Queued,
        no network I/O. Raises Unsupported (shared file), UnknownMessage, NotAllowed."""
    def delete(self, message_id: str) -> str:
        """Deletes one of this user's messages (final); returns the delete's id. Queued,
        no network I/O. Raises Unsupported (shared file), UnknownMessage, NotAllowed."""
    def react(self, message_id: str, reaction: str) -> str:
        """Sets this user's reaction to a message (``""`` withdraws it); returns the
        reaction's id. Queued, no network I/O. Raises Unsupported, UnknownMessage."""
    def sync(self) -> SyncResult:
        """Delivers the outbox and reads what is new (GIL released). Each new message is
        handed out once per Room: to sync() or a watcher, whichever reads it first."""
    def flush(self) -> None:
        """Delivers the outbox without reading (GIL released)."""
    def history(self, limit: int = 100, *, before: str | None = None) -> list[Message]:
        """Up to ``limit`` messages of the room's conversation before ``before`` (or the
        newest), oldest first: not private messages, not those of blocked members. With
        ``state_dir`` it reads the local store, without the server."""
    def search(
        self, query: str, limit: int = 50, *, before: str | None = None
    ) -> list[Message]:
        """Up to ``limit`` messages of the room's conversation containing every word of
        ``query`` (case and accents ignored; a word matches the words it starts), newest
        first, starting just before message id ``before``. Reads the local store of
        ``state_dir`` (``Unsupported`` without one); a damaged store raises
        ``LocalStateError`` whose message says how to recover."""
    def send_private(self, member_id: str, text: str) -> str:
        """Member rooms: queues a private message to a member; returns its id. No I/O."""
    def private_history(
        self, member_id: str, limit: int = 100, *, before: str | None = None
    ) -> list[Message]:
        """Member rooms: the private conversation with a member, like :meth:`history`."""
    def block(self, member_id: str) -> None:
        """Member rooms: hides a member's messages on this member's devices. No I/O."""
    def unblock(self, member_id: str) -> None:
        """Member rooms: undoes :meth:`block`. No I/O."""
    def blocked(self) -> list[str]:
        """Member rooms: the ids of the members this member blocks."""
    def presence(self) -> list[PresenceInfo]:
        """Member rooms: every member's presence now, by member id. No I/O."""
    def set_presence(
        self, state: PresenceState | Literal["online", "away", "offline", "typing"]
    ) -> None:
        """Member rooms: sets this device's presence (published at the next sync)."""
    def set_typing(self, typing: bool) -> None:
        """Member rooms: this device's user is typing, or stopped."""
    def mark_read(self, message_id: str) -> bool:
        """Member rooms: read up to this message; ``False`` when it is not after the read
        position. Published at the next sync."""
    def seen_by(self, message_id: str) -> SeenBy:
        """Member rooms: which members (other than the author) have read the message."""
    def message(self, id: str) -> Message | None:
        """The message with this id, if seen."""
    def watch(self, *, min_interval: float = 0.25, max_interval: float = 1.0) -> Watch:
        """Starts a background watcher; iterate it for new messages from others (not
        confirmations, events or changes: use :meth:`listen` for those)."""
    def listen(
        self,
        on_message: Callable[[Message], object] | None = None,
        *,
        on_confirmed: Callable[[str], object] | None = None,
        on_changed: Callable[[Message], object] | None = None,
        on_event: Callable[[Event], object] | None = None,
        on_error: Callable[[Error], object] | None = None,
        min_interval: float = 0.25,
        max_interval: float = 1.0,
    ) -> Subscription:
        """Starts a background watcher calling the callbacks on its thread; it runs until
        stopped or the room is closed (keeping the Subscription is not needed)."""
    def members(self) -> list[Member]:
        """Member rooms: the members as of the last sync (no I/O)."""
    def invite(self, role: Literal["admin", "member"] = "member", *, location: str) -> str:
        """Member rooms (admins): a one-time invitation URL (a secret)."""
    def add_member(
        self,
        public: str,
        role: Literal["admin", "member"] = "member",
        *,
        share_history: bool = False,
    ) -> int:
        """Member rooms (admins): adds a device as a new member; returns the new epoch."""
    def link_device(self, public: str, *, share_history: bool = False) -> int:
        """Member rooms: links another device of this member; returns the new epoch."""
    def remove_member(self, member_id: str) -> int:
        """Member rooms: removes a member (or leaves); returns the new epoch."""
    def promote(self, member_id: str) -> int:
        """Member rooms (admins): makes a member an admin; returns the new epoch."""
    @property
    def identity(self) -> Identity | None: ...
    def close(self, *, flush: bool = True) -> None:
        """Stops watchers, delivers the outbox (unless ``flush=False``), closes the core
        room (saving its state) and disconnects. Idempotent; later calls raise
        :class:`RoomClosed`."""
    @property
    def closed(self) -> bool: ...
    @property
    def name(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def outbox_len(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        _exc_value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> bool: ...

@final
class Transfer:
    """Cancels :meth:`Room.send_file` / :meth:`Room.save_attachment` calls given it as
    ``transfer=``, from any thread or from their progress callback; stays cancelled."""

    def __init__(self) -> None: ...
    def cancel(self) -> None:
        """Stops the calls running with it (they raise TransferCancelled) and any later
        one. Returns at once."""
    @property
    def cancelled(self) -> bool:
        """``True`` once :meth:`cancel` was called."""

@final
class Watch:
    """Iterator over messages from others, fed by a background watcher."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> Message: ...
    def get(self, timeout: float | None = None) -> Message | None:
        """The next message within ``timeout`` seconds, or ``None``."""
    def stop(self) -> None:
        """Stops the watcher and waits for its thread; queued messages can still be read."""
    def cancel(self) -> None:
        """Stops the watcher without waiting (returns at once)."""
    @property
    def running(self) -> bool: ...
    @property
    def last_error(self) -> Error | None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

@final
class Subscription:
    """A background watcher calling Python callbacks (see :meth:`Room.listen`); runs until
    ``stop()``, the end of a ``with`` block, or the room's ``close()``."""

    def stop(self) -> None:
        """Stops the watcher and waits for its thread (not when called from a callback)."""
    def cancel(self) -> None:
        """Stops the watcher without waiting: returns at once, also inside a callback."""
    @property
    def running(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *_args: object) -> bool: ...

def derive_key(
    password: str, salt: _BytesLike | None = None, iterations: int | None = None
) -> str:
    """PBKDF2-HMAC-SHA256 Fernet key (URL-safe base64), as FTPChat 1.6 and 1.7 derive it
    (default salt and iterations: ``FTPCHAT_SALT``, ``FTPCHAT_ITERATIONS``)."""

def encode_15(plaintext: str) -> str:
    """A FTPChat 1.5 line (no key: anyone can read it)."""

def decode_15(line: _BytesLike) -> str:
    """The plaintext of a FTPChat 1.5 line."""

def encode_16(
    plaintext: str,
    *,
    password: str | None = None,
    key: str | None = None,
    salt: _BytesLike | None = None,
    iterations: int | None = None,
    timestamp: int | None = None,
) -> str:
    """A FTPChat 1.6 line: standard base64 of the Fernet token (``Z0FBQUFB...``)."""

def decode_16(
    line: _BytesLike,
    *,
    password: str | None = None,
    key: str | None = None,
    salt: _BytesLike | None = None,
    iterations: int | None = None,
) -> str:
    """The plaintext of a FTPChat 1.6 line (base64 of a Fernet token)."""

def encode_17(
    plaintext: str,
    *,
    password: str | None = None,
    key: str | None = None,
    salt: _BytesLike | None = None,
    iterations: int | None = None,
    timestamp: int | None = None,
) -> str:
    """A FTPChat 1.7 line: the Fernet token (``gAAAAA...``) of ``plaintext.rstrip()``."""

def decode_17(
    line: _BytesLike,
    *,
    password: str | None = None,
    key: str | None = None,
    salt: _BytesLike | None = None,
    iterations: int | None = None,
) -> str:
    """The plaintext of a FTPChat 1.7 line (a Fernet token)."""

def fernet_encrypt(key: str, data: bytes, *, timestamp: int | None = None) -> str:
    """A Fernet token of ``data``."""

def fernet_decrypt(key: str, token: _BytesLike) -> tuple[bytes, int]:
    """``(data, timestamp)`` of a Fernet token."""

def parse_plaintext(plaintext: str) -> CompatMessage:
    """Splits a FTPChat plaintext."""

def format_plaintext(local_time: datetime, username: str, text: str) -> str:
    """Formats a FTPChat plaintext."""

def _stop_all_watches() -> None: ...
def _error_for_kind(kind: str) -> Error:
    """The exception raised for a core error of this kind (not raised); for tests."""
