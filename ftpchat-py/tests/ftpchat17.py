"""An emulated FTPChat 1.7 client, written from the facts in the test data README (not from
ftpchat), with ``ftplib``, ``zlib`` and ``cryptography``:

- **sending**: for each message, a random pause of 0.1-0.8 s; the plaintext
  ``"{YYYY-MM-DD HH:MM}:{username}: {message}"`` is ``rstrip()``-ped (an empty message is
  not sent), compressed and encrypted to a Fernet token under the clients' key
  (``reference.fernet_key``); ``APPE`` of ``token + "\\n"``, and if ``APPE`` fails, ``RETR``
  of the whole file and ``STOR`` of it with the line added;
- **reading**: every poll, ``SIZE``, then ``RETR`` with ``REST`` at the byte offset read up
  to; the new bytes are split into lines, blank ones skipped, the rest decrypted; **if any
  line fails to decrypt, nothing of the batch is shown and the offset is kept** (so a bad
  complete line stops the reader for good).

The real client tries FTPS first and falls back to plain FTP; the emulator does the same.
It polls faster than the real client's 5 s so that tests stay short. After a batch that
decrypts, the offset moves past the bytes received (the facts do not say whether the
client uses the SIZE it read or the bytes it received; the two differ only when a line
arrives between SIZE and RETR, and using the bytes received never shows a line twice).
"""

from __future__ import annotations

import ftplib
import io
import random
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken


# What a failed FTPS attempt raises (ftplib's errors, TLS errors are OSErrors).
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (*ftplib.all_errors, ValueError)


@dataclass(frozen=True)
class FtpAccount:
    """Where the chat file is: host, port, login and directory."""

    host: str
    port: int
    user: str
    password: str
    directory: str

    @classmethod
    def from_url(cls, url: str) -> FtpAccount:
        """From an ``ftp://[user[:password]@]host[:port]/dir`` URL (anonymous without a
        user)."""
        parts = urlsplit(url)
        assert parts.scheme == "ftp", "the emulator speaks plain FTP (after trying FTPS)"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 21,
            user=unquote(parts.username) if parts.username else "anonymous",
            password=unquote(parts.password) if parts.password else "",
            directory=unquote(parts.path) or "/",
        )

    def connect(self) -> ftplib.FTP:
        """A logged-in connection in binary mode: FTPS with ``PROT P`` if the server offers
        it, else plain FTP, as the client does."""
        try:
            tls = ftplib.FTP_TLS()
            tls.connect(self.host, self.port, timeout=10)
            try:
                tls.auth()
                tls.login(self.user, self.password)
                tls.prot_p()
            except BaseException:
                tls.close()
                raise
            ftp: ftplib.FTP = tls
        except _CONNECT_ERRORS:
            ftp = ftplib.FTP()
            ftp.connect(self.host, self.port, timeout=10)
            ftp.login(self.user, self.password)
        ftp.voidcmd("TYPE I")
        if self.directory not in ("", "/"):
            ftp.cwd(self.directory)
        return ftp


def split_plaintext(plaintext: str) -> tuple[str, str]:
    """``(username, message)`` of a plaintext (the message is empty after an rstripped
    ``"ts:name:"``)."""
    rest = plaintext[17:]
    if ": " in rest:
        user, text = rest.split(": ", 1)
        return user, text
    return rest.removesuffix(":"), ""


@dataclass
class Reader17:
    """The 1.7 reader: one connection, a byte offset, and what it has shown."""

    account: FtpAccount
    file: str
    key: bytes
    offset: int = 0
    shown: list[tuple[str, str]] = field(default_factory=list)
    polls: int = 0
    failed_batches: int = 0
    """Polls whose batch had a line that did not decrypt (nothing shown, offset kept)."""
    failed_complete_lines: list[bytes] = field(default_factory=list)
    """Lines that did not decrypt although a newline ended them: a real 1.7 reader would
    be stuck on them for good (a line that lacks its newline may still be in transfer)."""

    def __post_init__(self) -> None:
        self._fernet = Fernet(self.key)
        self._ftp: ftplib.FTP | None = None

    def _connection(self) -> ftplib.FTP:
        if self._ftp is None:
            self._ftp = self.account.connect()
        return self._ftp

    def close(self) -> None:
        if self._ftp is not None:
            try:
                self._ftp.quit()
            except ftplib.all_errors:
                self._ftp.close()
            self._ftp = None

    def poll(self) -> int:
        """One poll; returns how many messages it showed."""
        self.polls += 1
        ftp = self._connection()
        try:
            size = ftp.size(self.file)
        except ftplib.error_perm:
            return 0  # no chat file yet
        if size is None or size <= self.offset:
            return 0
        out = io.BytesIO()
        ftp.retrbinary(f"RETR {self.file}", out.write, rest=self.offset)
        data = out.getvalue()
        batch: list[tuple[str, str]] = []
        failed = False
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                plaintext = zlib.decompress(self._fernet.decrypt(line.strip())).decode("utf-8")
            except (InvalidToken, zlib.error, UnicodeDecodeError):
                failed = True
                if i < len(lines) - 1:
                    self.failed_complete_lines.append(line)
                continue
            batch.append(split_plaintext(plaintext))
        if failed:
            self.failed_batches += 1
            return 0
        self.shown.extend(batch)
        self.offset += len(data)
        return len(batch)


class Client17:
    """A FTPChat 1.7 client: a sender (its own connection) and a :class:`Reader17`."""

    def __init__(
        self, account: FtpAccount, file: str, username: str, key: bytes, seed: int | None = None
    ) -> None:
        self.account = account
        self.file = file
        self.username = username
        self.key = key
        self.reader = Reader17(account, file, key)
        self.sent: list[str] = []
        self.appe_failures = 0
        self._fernet = Fernet(key)
        self._random = random.Random(seed)
        self._ftp: ftplib.FTP | None = None

    def line(self, message: str) -> bytes | None:
        """The line for ``message`` (None for an empty message, which is not sent)."""
        plaintext = f"{datetime.now():%Y-%m-%d %H:%M}:{self.username}: {message}".rstrip()
        if not message.strip():
            return None
        return self._fernet.encrypt(zlib.compress(plaintext.encode("utf-8")))

    def send(self, message: str) -> None:
        time.sleep(self._random.uniform(0.1, 0.8))
        line = self.line(message)
        if line is None:
            return
        if self._ftp is None:
            self._ftp = self.account.connect()
        try:
            self._ftp.storbinary(f"APPE {self.file}", io.BytesIO(line + b"\n"))
        except ftplib.all_errors:
            # APPE refused: download the file and upload it whole with the line added.
            self.appe_failures += 1
            old = io.BytesIO()
            try:
                self._ftp.retrbinary(f"RETR {self.file}", old.write)
            except ftplib.error_perm:
                pass  # no file yet
            self._ftp.storbinary(f"STOR {self.file}", io.BytesIO(old.getvalue() + line + b"\n"))
        self.sent.append(message.rstrip())

    def close(self) -> None:
        self.reader.close()
        if self._ftp is not None:
            try:
                self._ftp.quit()
            except ftplib.all_errors:
                self._ftp.close()
            self._ftp = None

    def run_reader(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Polls until ``stop`` is set (for a thread)."""
        while not stop.is_set():
            self.reader.poll()
            stop.wait(interval)
