"""The ftpchat exception hierarchy.

Every error ftpchat raises is an :class:`Error`. The core classifies its errors (one
``ErrorKind`` each, and whether it is transient); the native module maps each kind to one
class here in one table (``ftpchat-py/src/errors.rs``), the same table as the Kotlin/Swift
``ChatError`` variants. Messages never contain
passwords or keys; locations appear without their password.

::

    Error
    ├── WrongPassword          the password (or key) does not open the room / line
    ├── CorruptRecord          a line or token that does not decode
    │   └── CorruptRoom        a native room header that is invalid or hostile
    │       └── HeaderChanged  the room header changed since this device opened it
    ├── TransportError         the server or folder failed (.transient, .kind, .operation)
    ├── InvalidPath            a refused path (CR, LF, NUL, "..", absolute...)  [ValueError]
    ├── InvalidConfig          arguments that cannot work                      [ValueError]
    ├── InvalidName            a refused display name                          [ValueError]
    ├── MessageTooLarge        text longer than MAX_TEXT_LEN bytes             [ValueError]
    ├── RoomNotFound           a native room that does not exist (create=False)
    ├── LockTimeout            a shared-file lock stayed taken too long (transient)
    ├── LocalStateError        the local state folder failed
    └── RoomClosed             the room was closed
"""

from __future__ import annotations

__all__ = [
    "Error",
    "WrongPassword",
    "CorruptRecord",
    "CorruptRoom",
    "HeaderChanged",
    "TransportError",
    "InvalidPath",
    "InvalidConfig",
    "InvalidName",
    "MessageTooLarge",
    "RoomNotFound",
    "LockTimeout",
    "LocalStateError",
    "RoomClosed",
]


class Error(Exception):
    """Base class of every ftpchat error.

    ``transient`` is ``True`` when retrying later may succeed (a dropped connection, a
    timeout, a busy server); unsent messages stay in the outbox either way.
    """

    transient: bool

    def __init__(self, message: str = "", *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    @property
    def message(self) -> str:
        """The error message."""
        return str(self.args[0]) if self.args else ""


class WrongPassword(Error):
    """The password or key does not open the room; for a single line or token: wrong key,
    or the line was altered.

    In a shared (FTPChat) room, raised by ``sync()`` and ``flush()`` once the file's keyed
    lines all fail authentication: nothing is written under that key (a line a 1.7 reader
    cannot decrypt would stop it for good); unsent messages stay queued."""


class CorruptRecord(Error):
    """A line or token that does not decode (not a record, malformed, corrupt data)."""


class CorruptRoom(CorruptRecord):
    """A native room header that is invalid or hostile (e.g. absurd KDF parameters)."""


class HeaderChanged(CorruptRoom):
    """The native room's header is not the one this device opened before (the room was
    re-created, or replaced by someone who knows the password). Nothing was read or
    written; open with ``accept_changed_header=True`` to trust the new header."""


class TransportError(Error):
    """The server or folder failed.

    ``kind`` is one of ``"transient"``, ``"not_found"``, ``"permission_denied"``,
    ``"already_exists"``, ``"invalid_path"``, ``"unsupported"``, ``"permanent"``;
    ``operation`` names what failed (``"append"``, ``"size"``, ``"connect"``...).
    """

    kind: str
    operation: str | None

    def __init__(
        self,
        message: str = "",
        *,
        transient: bool = False,
        kind: str = "permanent",
        operation: str | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.kind = kind
        self.operation = operation


class InvalidPath(Error, ValueError):
    """A room path, file name or location was refused before anything was sent."""

    kind: str
    operation: str | None

    def __init__(
        self,
        message: str = "",
        *,
        transient: bool = False,
        kind: str = "invalid_path",
        operation: str | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.kind = kind
        self.operation = operation


class InvalidConfig(Error, ValueError):
    """The arguments cannot work (e.g. a 1.6/1.7 room without a password, bad KDF
    parameters, an unknown layout)."""


class InvalidName(Error, ValueError):
    """A display name was refused (control characters, too long, or ``": "`` in a
    FTPChat name)."""


class MessageTooLarge(Error, ValueError):
    """The text is longer than ``ftpchat.MAX_TEXT_LEN`` bytes."""


class RoomNotFound(Error):
    """The native room does not exist and ``create=False`` was given."""


class LockTimeout(Error):
    """The shared-file lock stayed taken longer than the configured wait. Always
    ``transient``: another client held it; retry later."""


class LocalStateError(Error):
    """The local state folder (``state_dir``) could not be read or written."""


class RoomClosed(Error):
    """The room was closed."""
