"""ftpchat: encrypted chat whose only server is a plain file server.

Open a room on an FTP/FTPS server, a local (or synced) folder, or in memory::

    import ftpchat

    with ftpchat.open("ftps://alice:secret@ftp.example.org/chat", "lobby",
                      name="Alice", password="room password") as room:
        room.send("hello")
        for msg in room.sync().messages:
            print(msg.sender, msg.text)

Rooms are *native* (a directory with one append-only log per device; safe on every
server) or *shared* (FTPChat's single file, FTPChat 1.5 or 1.6 lines). The codecs are
also usable on their own: :func:`encode_15`, :func:`decode_15`, :func:`encode_16`,
:func:`decode_16`, :func:`derive_key`, :func:`fernet_encrypt`, :func:`fernet_decrypt`.

The protocol lives in the Rust core (``ftpchat-core``); this package is a thin binding.
Network I/O and key derivation release the GIL.
"""

from __future__ import annotations

import atexit

from ._errors import (
    CorruptRecord,
    CorruptRoom,
    Error,
    InvalidConfig,
    InvalidName,
    InvalidPath,
    LocalStateError,
    LockTimeout,
    MessageTooLarge,
    RoomClosed,
    RoomNotFound,
    TransportError,
    WrongPassword,
)
from ._ftpchat import (
    DEFAULT_16_ITERATIONS,
    DEFAULT_16_SALT,
    DEFAULT_NATIVE_ITERATIONS,
    MAX_NAME_LEN,
    MAX_TEXT_LEN,
    Room,
    Subscription,
    Watch,
    __version__,
    _stop_all_watches,
    decode_15,
    decode_16,
    derive_key,
    encode_15,
    encode_16,
    fernet_decrypt,
    fernet_encrypt,
    format_plaintext,
    open,
    parse_plaintext,
)
from ._types import Codec, CompatMessage, Event, Message, MessageStatus, SyncResult

# Watcher threads call into Python; stop them before the interpreter finalizes.
atexit.register(_stop_all_watches)

__all__ = [
    # rooms
    "open",
    "Room",
    "Watch",
    "Subscription",
    # values
    "Message",
    "MessageStatus",
    "Codec",
    "Event",
    "SyncResult",
    "CompatMessage",
    # codecs
    "encode_15",
    "decode_15",
    "encode_16",
    "decode_16",
    "derive_key",
    "fernet_encrypt",
    "fernet_decrypt",
    "parse_plaintext",
    "format_plaintext",
    # constants
    "MAX_TEXT_LEN",
    "MAX_NAME_LEN",
    "DEFAULT_16_SALT",
    "DEFAULT_16_ITERATIONS",
    "DEFAULT_NATIVE_ITERATIONS",
    "__version__",
    # errors
    "Error",
    "WrongPassword",
    "CorruptRecord",
    "CorruptRoom",
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
