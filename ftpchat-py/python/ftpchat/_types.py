"""Value types the native module returns: frozen dataclasses and enums."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "Attachment",
    "Codec",
    "CompatMessage",
    "Event",
    "Member",
    "Message",
    "MessageStatus",
    "PresenceInfo",
    "PresenceState",
    "Reaction",
    "SeenBy",
    "SyncResult",
]


class MessageStatus(str, enum.Enum):
    """Whether a message is on the server yet."""

    PENDING = "pending"
    """Sent by this client, not yet confirmed on the server (in the outbox)."""
    CONFIRMED = "confirmed"
    """Read back from the server."""


class Codec(str, enum.Enum):
    """The format of the line a message came in, named after the FTPChat client that
    writes it. The value is what ``ftpchat.open(..., codec=...)`` takes."""

    FTPCHAT_15 = "1.5"
    """FTPChat 1.5: substitution + zlib + base64. No key: anyone can read (and write)
    it."""
    FTPCHAT_16 = "1.6"
    """FTPChat 1.6: standard base64 of a Fernet token (AES-128-CBC + HMAC-SHA256) of the
    zlib-compressed text, PBKDF2 key; lines start ``Z0FBQUFB``."""
    FTPCHAT_17 = "1.7"
    """FTPChat 1.7: the Fernet token itself, of the ``rstrip()``-ped text, same key
    derivation as 1.6; lines start ``gAAAAA``."""
    NATIVE = "native"
    """ftpchat's native room records."""


@dataclass(frozen=True)
class Reaction:
    """One reaction to a message and who chose it (see :attr:`Message.reactions`)."""

    reaction: str
    """The reaction, e.g. an emoji."""
    senders: tuple[str, ...]
    """The display names of the authors who chose it, in timeline order of their choice."""
    own: bool
    """``True`` when this user chose it."""


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (see :attr:`Message.attachment`), as its sender
    announced it. Download it with :meth:`Room.save_attachment`."""

    name: str
    """The file's name: one path component (not ``.`` or ``..``; no ``/``, ``\\``,
    ``:`` or control characters), at most 255 bytes, as the reader checked it. Chosen by
    the sender: still check it before using it in a local path."""
    size: int
    """The file's size in bytes."""
    media_type: str
    """The media type the sender announced (from the file's extension), e.g.
    ``"image/png"``; ``"application/octet-stream"`` when unknown."""


@dataclass(frozen=True)
class Message:
    """A chat message. Frozen: compare, hash and keep it freely."""

    id: str
    """32 hex digits; the same message has the same id on every client."""
    sender: str
    """The display name the sender chose (not proof of identity)."""
    text: str
    """The text. FTPChat's GUI usually leaves a trailing newline."""
    timestamp: datetime | None
    """When it was written, UTC-aware, when known (native records; FTPChat 1.6/1.7 token
    time). ``None`` for FTPChat 1.5 lines."""
    local_time: datetime | None
    """The writer's local time written in a FTPChat line (naive, minute precision; the
    writer's time zone is unknown). ``None`` for native records."""
    status: MessageStatus
    """Pending (in this client's outbox) or confirmed (on the server)."""
    codec: Codec
    """The format of its line."""
    is_own: bool
    """``True`` when this client sent it."""
    signer: str | None = None
    """Member rooms: the fingerprint of the device that signed it (compare it with the
    sender's :attr:`Identity.fingerprint`, verified out of band); ``None`` elsewhere."""
    edited: bool = False
    """Its author changed its text (:meth:`Room.edit`); ``text`` is the newest edit's."""
    deleted: bool = False
    """Its author deleted it (:meth:`Room.delete`): ``text`` is empty, ``reactions`` too,
    and ``edited`` is ``False``."""
    reactions: tuple[Reaction, ...] = ()
    """The members' reactions (:meth:`Room.react`), the most chosen first."""
    private: str | None = None
    """Member rooms: for a private message (:meth:`Room.send_private`, SPEC §8.4.2), the
    id of the other member of the private conversation (this member's own id for a note
    to itself); ``None`` for a message to the whole room. Private messages are in
    :meth:`Room.private_history`, not :meth:`Room.history`."""
    attachment: Attachment | None = None
    """The file sent with this message (:meth:`Room.send_file`); ``text`` is then its
    caption. ``None`` for a text message, and once the message is deleted."""


@dataclass(frozen=True)
class Event:
    """Something worth knowing that is not an error of the call: an undecodable line, a
    keyless line hidden in a keyed room, a TLS fallback, a retried delivery..."""

    kind: str
    """One of:

    - ``"undecodable_line"``: a line that is not a record or did not decode (skipped;
      ``codec`` is the client its first bytes point to, ``description`` the likely cause);
    - ``"unauthenticated_line"``: a keyless FTPChat 1.5 line in a 1.6/1.7 room, not shown
      (``open(..., show_unauthenticated=True)`` shows them);
    - ``"wrong_password"``: lines of a shared file fail authentication and none succeeds
      (``sync()`` raises :class:`WrongPassword` meanwhile);
    - ``"outbox_held"``: unsent messages saved by an earlier run under another password,
      kept unsent until the room is opened with that password;
    - ``"messages_left_out"``: a room with a state folder read more new messages than an
      update carries (it returns the 1,000 newest); the older ones are in the local
      store, where ``history()`` pages them (``description`` says how many);
    - member rooms: ``"membership_changed"`` (``epoch`` is the new epoch),
      ``"membership_rejected"`` (an invalid commit of ``epoch``, not applied; nothing after
      it is read), ``"removed_from_room"`` (this device was removed: it reads nothing sent
      afterwards and cannot send), ``"record_refused"`` (a record with a bad signature or
      chain, or from a device the membership does not allow), ``"duplicate_record_id"``;
    - ``"change_refused"``: an edit, delete or reaction was refused (an edit or delete by
      someone other than the message's author, or a change of something that is not a
      text message); ``target`` is the message, ``change`` the refused record's id, and
      the message is unchanged;
    - member rooms: ``"private_record_refused"`` (a private record sealed to this device
      does not open: altered, or sealed wrongly by its sender; ``record`` is its id and it
      is not shown), ``"presence_changed"`` (another device published a new presence or
      read position: call :meth:`Room.presence` or :meth:`Room.seen_by`; expiry changes
      presence without an event);
    - ``"foreign_record"``, ``"replayed_record"``, ``"file_replaced"``,
      ``"header_changed"``, ``"unreadable_file"``, ``"delivery_retry"``,
      ``"stale_lock_removed"``, ``"tls_fallback"``, ``"reconnected"``, ``"retrying"``;
    - ``"other"`` for kinds this version does not name."""
    description: str
    """A sentence for a log or status line (no secrets)."""
    file: str | None = None
    """The file concerned, when there is one."""
    offset: int | None = None
    """The byte offset in ``file``, when known."""
    codec: Codec | None = None
    """For ``"undecodable_line"``: the codec the line's first bytes announce, if any."""
    epoch: int | None = None
    """For ``"membership_changed"`` and ``"membership_rejected"``: the epoch."""
    target: str | None = None
    """For ``"change_refused"``: the id of the message the refused change tried to change."""
    change: str | None = None
    """For ``"change_refused"``: the id of the refused edit, delete or reaction record."""
    record: str | None = None
    """For ``"private_record_refused"``: the id of the refused private record."""


@dataclass(frozen=True)
class Member:
    """A member of a member room, as of the last sync (see :meth:`Room.members`)."""

    id: str
    """The member id: 32 hex digits (what ``remove_member`` and ``promote`` take)."""
    role: str
    """``"admin"`` (may add, invite, remove and promote) or ``"member"``."""
    devices: tuple[str, ...]
    """The public identities (``ftpchat-id1:...``) of its devices."""
    fingerprints: tuple[str, ...]
    """The fingerprints of ``devices``, in the same order (what people compare)."""
    joined_epoch: int
    """The epoch at which it joined."""


class PresenceState(str, enum.Enum):
    """A device's presence (:meth:`Room.set_presence`, :attr:`PresenceInfo.state`)."""

    OFFLINE = "offline"
    """Not present: its state ran out, or it said goodbye."""
    ONLINE = "online"
    """Present."""
    AWAY = "away"
    """Present but away."""
    TYPING = "typing"
    """Present and typing: ``set_presence(TYPING)`` is ``set_typing(True)``;
    :meth:`Room.presence` reports typing as :attr:`PresenceInfo.typing` with ``ONLINE``."""


@dataclass(frozen=True)
class PresenceInfo:
    """A member's presence, over its devices (see :meth:`Room.presence`)."""

    member: str
    """The member id (32 hex digits, :attr:`Member.id`)."""
    fingerprint: str
    """The fingerprint of the member's first device."""
    display_name: str
    """The display name of its newest state record (empty before any)."""
    is_self: bool
    """``True`` for this device's own member."""
    state: PresenceState
    """The best state of its devices now: ``ONLINE`` over ``AWAY`` over ``OFFLINE`` (a
    device whose state ran out is offline). Never ``TYPING``: see :attr:`typing`."""
    typing: bool
    """``True`` while one of its devices is typing."""
    last_seen: datetime | None
    """Until when it was last known present (UTC): its state's valid-until, or now while
    it is online, or the time of its goodbye; ``None`` before any state was read."""
    last_active: datetime | None
    """When its user was last active (sent, read, typed, came online), UTC, as its devices
    said; ``None`` when unknown."""

    def seen_within(self, window: timedelta, now: datetime | None = None) -> bool:
        """``True`` when it is online or away now, or was present within ``window``
        before ``now`` (default: the current time): "who was here in the last hour" is
        ``seen_within(timedelta(hours=1))``. The rule of the core's
        ``PresenceInfo::seen_within``."""
        if self.state != PresenceState.OFFLINE:
            return True
        if now is None:
            now = datetime.now(timezone.utc)
        return self.last_seen is not None and self.last_seen + window >= now


@dataclass(frozen=True)
class SeenBy:
    """Who has seen a message (see :meth:`Room.seen_by`): "seen by ``len(readers)`` of
    ``of``"."""

    readers: tuple[str, ...]
    """The ids of the members (other than its author) one of whose devices has read it or
    a later message, in member id order."""
    of: int
    """How many members there are other than its author."""


@dataclass(frozen=True)
class SyncResult:
    """What :meth:`Room.sync` brought."""

    messages: tuple[Message, ...] = ()
    """Messages from others not returned by an earlier sync, in timeline order."""
    confirmed: tuple[str, ...] = ()
    """Ids of this client's messages now confirmed on the server."""
    events: tuple[Event, ...] = ()
    """Events since the last sync."""
    changed: tuple[Message, ...] = ()
    """Messages returned before (by a sync, a watcher or :meth:`Room.history`) that were
    edited, deleted or reacted to since, as they are now; each at most once."""

    def __bool__(self) -> bool:
        """``True`` when something happened."""
        return bool(self.messages or self.confirmed or self.events or self.changed)


@dataclass(frozen=True)
class CompatMessage:
    """The parts of a FTPChat plaintext ``"YYYY-MM-DD HH:MM:{username}: {text}"``.

    A plaintext that does not follow this pattern is kept whole in ``text`` with
    ``local_time`` and ``username`` set to ``None``.
    """

    local_time: datetime | None
    """The writer's local time (naive, minute precision)."""
    username: str | None
    """The name the writer chose."""
    text: str
    """The message text."""
