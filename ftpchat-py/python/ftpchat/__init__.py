"""ftpchat: encrypted chat whose only server is a plain file server.

Open a room on an FTP/FTPS server, a local (or synced) folder, or in memory::

    import ftpchat

    with ftpchat.open("ftps://alice:secret@ftp.example.org/chat", "lobby",
                      name="Alice", password="room password") as room:
        room.send("hello")
        for msg in room.sync().messages:
            print(msg.sender, msg.text)

Rooms are *native* (a directory with one append-only log per device; safe on every
server) or *shared* (FTPChat's single file, read and written by the FTPChat clients)::

    room = ftpchat.open("ftp://user:pass@host/dir", "chat.txt", name="Alice",
                        layout="shared", password="room password")  # codec="1.7"

A shared room writes the lines of one FTPChat client and reads them all:

- ``codec="1.7"`` (default): the FTPChat 1.7 client's lines, a Fernet token of the
  ``rstrip()``-ped text (``gAAAAA...``);
- ``codec="1.6"``: the FTPChat 1.6 client's lines, standard base64 of a Fernet token
  (``Z0FBQUFB...``);
- ``codec="1.5"``: the FTPChat 1.5 client's lines, which have **no key** (anyone can read
  and write them); in a 1.6/1.7 room they are hidden unless ``show_unauthenticated=True``.

1.6 and 1.7 derive the key with PBKDF2-HMAC-SHA256 from the password, the clients' constant
salt :data:`FTPCHAT_SALT` and :data:`FTPCHAT_ITERATIONS` (100,000); ``salt=`` and
``iterations=`` override them for files written with other values. A 1.7 reader stops
showing anything at the first line it cannot decrypt, so write ``"1.7"`` whenever a 1.7
client reads the file. A password the file proves wrong makes ``sync()`` raise
:class:`WrongPassword`, and nothing is written.

The codecs are also usable on their own: :func:`encode_15`, :func:`decode_15`,
:func:`encode_16`, :func:`decode_16`, :func:`encode_17`, :func:`decode_17`,
:func:`derive_key`, :func:`fernet_encrypt`, :func:`fernet_decrypt`.

Member rooms (SPEC §17) have members instead of a password: each device has an
:class:`Identity` whose key signs its messages, admins invite, add, remove and promote::

    me = ftpchat.Identity.load_or_create("~/.ftpchat")
    room = ftpchat.open(url, "team", name="Alice", identity=me, state_dir="state")
    link = room.invite(location=url)          # a secret: share it over a trusted channel
    # on the invitee's device:
    room = ftpchat.open(None, "team", name="Bob", identity=bob, invitation=link,
                        state_dir="state")
    # each Message.signer is the fingerprint of the device that signed it

In native rooms the author of a message may edit or delete it and anyone may react::

    room.edit(msg_id, "fixed text")     # NotAllowed for someone else's message
    room.react(msg_id, "👍")            # "" withdraws the reaction
    room.delete(msg_id)                 # final
    for msg in room.sync().changed:     # earlier messages as they are now
        print(msg.id, msg.text, msg.edited, msg.deleted, msg.reactions)

Native rooms carry files: :meth:`Room.send_file` encrypts and uploads one (blocking,
GIL released) and queues its message; readers see :attr:`Message.attachment` and
download it with :meth:`Room.save_attachment`, verified, resumable. Both take
``progress(done, total)`` and a :class:`Transfer` to cancel from another thread::

    from tqdm import tqdm
    with tqdm(total=os.path.getsize(path), unit="B", unit_scale=True) as bar:
        room.send_file(path, "the report", progress=lambda done, total: bar.update(done - bar.n))
    for msg in other.sync().messages:
        if msg.attachment:  # name, size, media_type; msg.text is the caption
            other.save_attachment(msg.id, os.path.join("downloads", msg.attachment.name))

Member rooms also carry private messages, blocking, presence and seen receipts::

    room.send_private(bob_id, "just for you")   # Member.id; not in history()
    room.private_history(bob_id)                # the conversation with Bob
    room.block(spammer_id)                      # hidden on this member's devices
    room.set_presence(ftpchat.PresenceState.AWAY)
    room.mark_read(last_id)                     # published at the next sync
    for p in room.presence():
        print(p.display_name, p.state, p.typing, p.last_seen)
    print(room.seen_by(msg_id))                 # SeenBy(readers=(...), of=2)

asyncio code opens an :class:`AsyncRoom` with :func:`open_async` (same arguments): its
I/O methods are coroutines that run the blocking calls on worker threads, and
:meth:`AsyncRoom.updates` is an async iterator over what a background watcher receives::

    async with await ftpchat.open_async(url, "lobby", name="Alice", password=pw) as room:
        await room.send("hello")
        async for update in room.updates():
            if isinstance(update, ftpchat.MessageUpdate):
                print(update.message.sender, update.message.text)

The protocol lives in the Rust core (``ftpchat-core``); this package is a thin binding.
Network I/O and key derivation release the GIL.
"""

from __future__ import annotations

import atexit

from . import _aio, _ftpchat
from ._aio import (
    AsyncRoom,
    ChangedUpdate,
    ConfirmedUpdate,
    ErrorUpdate,
    EventUpdate,
    MessageUpdate,
    Updates,
    open_async,
)
from ._errors import (
    BadAttachment,
    CorruptRecord,
    CorruptRoom,
    Error,
    FileTooLarge,
    HeaderChanged,
    IdentityError,
    IdentityFileError,
    InvalidBackup,
    InvalidConfig,
    InvalidIdentity,
    InvalidInvitation,
    InvalidName,
    InvalidPath,
    LocalFileError,
    LocalStateError,
    LockTimeout,
    MembershipError,
    MessageTooLarge,
    NotAllowed,
    NotAMember,
    RoomClosed,
    RoomNotFound,
    TransferCancelled,
    TransportError,
    UnknownMessage,
    Unsupported,
    WrongPassphrase,
    WrongPassword,
)
from ._ftpchat import (
    Identity,
    Room,
    Subscription,
    Transfer,
    Watch,
    __version__,
    _stop_all_watches,
    decode_15,
    decode_16,
    decode_17,
    derive_key,
    encode_15,
    encode_16,
    encode_17,
    fernet_decrypt,
    fernet_encrypt,
    fingerprint,
    format_plaintext,
    open,
    parse_plaintext,
    safety_number,
)
from ._types import (
    Attachment,
    Codec,
    CompatMessage,
    Event,
    Member,
    Message,
    MessageStatus,
    PresenceInfo,
    PresenceState,
    Reaction,
    SeenBy,
    SyncResult,
)

# Re-bound here so the API reference shows their docstrings.
MAX_TEXT_LEN = _ftpchat.MAX_TEXT_LEN
"""The longest message text accepted, in bytes (UTF-8)."""
MAX_NAME_LEN = _ftpchat.MAX_NAME_LEN
"""The longest display name accepted, in bytes (UTF-8)."""
FTPCHAT_SALT = _ftpchat.FTPCHAT_SALT
"""The PBKDF2 salt of the FTPChat 1.6 and 1.7 clients: one constant for every chat and
every user (so it adds nothing against a dictionary attack)."""
FTPCHAT_ITERATIONS = _ftpchat.FTPCHAT_ITERATIONS
"""The PBKDF2-HMAC-SHA256 iterations of the FTPChat 1.6 and 1.7 clients (100,000)."""
DEFAULT_NATIVE_ITERATIONS = _ftpchat.DEFAULT_NATIVE_ITERATIONS
"""PBKDF2 iterations for new native rooms (600,000, OWASP's 2023 figure)."""
DEFAULT_MAX_ATTACHMENT_SIZE = _ftpchat.DEFAULT_MAX_ATTACHMENT_SIZE
"""The default ``open(..., max_attachment_size=...)``: 100 MiB."""
Update = _aio.Update
"""What :meth:`AsyncRoom.updates` yields: a :class:`MessageUpdate`,
:class:`ConfirmedUpdate`, :class:`ChangedUpdate`, :class:`EventUpdate` or
:class:`ErrorUpdate`."""

# Watcher threads call into Python; stop them before the interpreter finalizes.
atexit.register(_stop_all_watches)

__all__ = [
    # rooms
    "open",
    "Room",
    "Watch",
    "Subscription",
    "Transfer",
    # asyncio
    "open_async",
    "AsyncRoom",
    "Updates",
    "Update",
    "MessageUpdate",
    "ConfirmedUpdate",
    "ChangedUpdate",
    "EventUpdate",
    "ErrorUpdate",
    # member rooms
    "Identity",
    "Member",
    "safety_number",
    "fingerprint",
    # values
    "Message",
    "Attachment",
    "MessageStatus",
    "Reaction",
    "PresenceInfo",
    "PresenceState",
    "SeenBy",
    "Codec",
    "Event",
    "SyncResult",
    "CompatMessage",
    # codecs
    "encode_15",
    "decode_15",
    "encode_16",
    "decode_16",
    "encode_17",
    "decode_17",
    "derive_key",
    "fernet_encrypt",
    "fernet_decrypt",
    "parse_plaintext",
    "format_plaintext",
    # constants
    "MAX_TEXT_LEN",
    "MAX_NAME_LEN",
    "FTPCHAT_SALT",
    "FTPCHAT_ITERATIONS",
    "DEFAULT_NATIVE_ITERATIONS",
    "DEFAULT_MAX_ATTACHMENT_SIZE",
    "__version__",
    # errors
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
