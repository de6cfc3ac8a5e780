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
    ├── RoomClosed             the room was closed
    ├── NotAMember             this device is not (or no longer) a member of the member room
    ├── MembershipError        a membership operation was refused, or not a member room
    │   └── InvalidInvitation  a malformed ftpchat://join? URL                 [ValueError]
    ├── Unsupported            the room cannot do this (edits in a FTPChat chat file)
    ├── UnknownMessage         no message with this id in the room's timeline
    ├── NotAllowed             not this user's to change (another's message, a deleted one)
    ├── FileTooLarge           a file over the room's max_attachment_size (.size, .limit)
    ├── TransferCancelled      Transfer.cancel() stopped a send_file / save_attachment
    ├── BadAttachment          an attachment missing on the server, altered or mismatched
    ├── LocalFileError         a local file could not be read or written (.path) [OSError]
    └── IdentityError          a device identity problem
        ├── InvalidIdentity    a malformed "ftpchat-id1:" public identity text [ValueError]
        ├── WrongPassphrase    the passphrase does not open the identity backup
        ├── InvalidBackup      not a backup, truncated, altered or unsupported
        └── IdentityFileError  the identity file is unreadable, corrupt or a symlink

Messages never contain an invitation URL, a passphrase or key material.
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
    "NotAMember",
    "MembershipError",
    "InvalidInvitation",
    "Unsupported",
    "UnknownMessage",
    "NotAllowed",
    "FileTooLarge",
    "TransferCancelled",
    "BadAttachment",
    "LocalFileError",
    "IdentityError",
    "InvalidIdentity",
    "WrongPassphrase",
    "InvalidBackup",
    "IdentityFileError",
]


class Error(Exception):
    """Base class of every ftpchat error.

    ``transient`` is ``True`` when retrying later may succeed (a dropped connection, a
    timeout, a busy server); unsent messages stay in the outbox either way.
    """

    transient: bool
    """``True`` when retrying later may succeed."""

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
    """What kind of failure: ``"transient"``, ``"not_found"``, ``"permission_denied"``,
    ``"already_exists"``, ``"invalid_path"``, ``"unsupported"`` or ``"permanent"``."""
    operation: str | None
    """What failed (``"append"``, ``"size"``, ``"connect"``...), when known."""

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
    """What kind of failure: ``"transient"``, ``"not_found"``, ``"permission_denied"``,
    ``"already_exists"``, ``"invalid_path"``, ``"unsupported"`` or ``"permanent"``."""
    operation: str | None
    """What failed (``"append"``, ``"size"``, ``"connect"``...), when known."""

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


class NotAMember(Error):
    """This device is not (or no longer) a member of the member room: it cannot send,
    and reads nothing sent after its removal."""


class MembershipError(Error):
    """A membership change was refused (not allowed for this device's role, the last
    admin leaving, an unknown member...) or lost a race to another change; or a
    membership operation (``members()``, ``invite()``...) on a password room or shared
    file."""


class InvalidInvitation(MembershipError, ValueError):
    """The text is not a valid ``ftpchat://join?...`` invitation URL. The message says
    what is wrong, never the URL (it carries a secret)."""


class Unsupported(Error):
    """The room cannot do this: e.g. a FTPChat shared-file room (``layout="shared"``)
    carries no edits, deletes or reactions (its readers would stop at a line they cannot
    read). Nothing was queued."""


class UnknownMessage(Error):
    """No message with this id is in the room's timeline (not read yet, or not a text
    message), e.g. for :meth:`Room.edit`, :meth:`Room.delete` or :meth:`Room.react`."""


class NotAllowed(Error):
    """Not allowed for this user: only a message's author may edit or delete it, and a
    deleted message cannot be edited. Nothing was queued."""


class FileTooLarge(Error):
    """The file is larger than the room's attachment limit (``open(...,
    max_attachment_size=...)``, default ``DEFAULT_MAX_ATTACHMENT_SIZE``): refused by
    :meth:`Room.send_file` or :meth:`Room.save_attachment` before anything was sent or
    written. ``size`` is the file's size and ``limit`` the limit, in bytes."""

    size: int | None
    """The file's size in bytes."""
    limit: int | None
    """The room's limit in bytes."""

    def __init__(
        self,
        message: str = "",
        *,
        transient: bool = False,
        size: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.size = size
        self.limit = limit


class TransferCancelled(Error):
    """The transfer was cancelled with :meth:`Transfer.cancel`. A cancelled
    :meth:`Room.send_file` queued nothing; a cancelled :meth:`Room.save_attachment` left
    the target untouched and keeps what it verified, so the next call for the same
    message and path resumes. (When a progress callback raises, its own exception is
    raised instead.)"""


class BadAttachment(Error):
    """The attachment cannot be used: its file is not on the server (never uploaded, or
    removed because its author deleted the message), has the wrong size, was altered, or
    does not match its hash. Nothing was written to the target path."""


class LocalFileError(Error, OSError):
    """A local file could not be read (:meth:`Room.send_file`: missing, not a regular
    file, changed while it was sent) or written (:meth:`Room.save_attachment`). ``path``
    is the file and ``errno`` the operating system's error number, when there is one.
    Also an :class:`OSError`."""

    path: str | None
    """The local file, when known."""

    def __init__(
        self,
        message: str = "",
        *,
        transient: bool = False,
        path: str | None = None,
        errno: int | None = None,
    ) -> None:
        super().__init__(message, transient=transient)
        self.path = path
        self.errno = errno


class IdentityError(Error):
    """A device identity problem (base class of the identity errors)."""


class InvalidIdentity(IdentityError, ValueError):
    """A public identity text is not a valid ``ftpchat-id1:...`` identity (prefix,
    encoding, length, or a weak key)."""


class WrongPassphrase(IdentityError):
    """The passphrase does not open this identity backup."""


class InvalidBackup(IdentityError):
    """The text is not an identity backup, is truncated, was altered, or uses a format
    or key-derivation parameters this version does not accept."""


class IdentityFileError(IdentityError):
    """The identity file cannot be read or written, is corrupt, or is not a regular file
    (it is never replaced by a new identity)."""
