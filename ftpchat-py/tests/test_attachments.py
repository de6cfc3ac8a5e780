"""Attachments (SPEC §8.4.3) through the Python API: ``Room.send_file`` and
``Room.save_attachment`` between two clients, on a real FTP server (pyftpdlib in a thread
of this process, so the transfers must release the GIL for it to serve) and on a local
folder whose ``files/`` the tests inspect; progress callbacks (with real tqdm),
``Transfer.cancel()`` from the callback and from another thread, resuming a cancelled
download, exceptions raised by the callback, and the typed errors (``FileTooLarge``,
``LocalFileError``, ``TransferCancelled``, ``BadAttachment``)."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import threading
from pathlib import Path

import ftpchat
import pytest
from ftpchat import _ftpchat
from ftpserver import FtpServer

PASSWORD = "correct horse battery staple"
FAST = 1000
ROOM = "attachments"
MIB = 1 << 20


def native(location: str, name: str, **kwargs: object) -> ftpchat.Room:
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("iterations", FAST)
    return ftpchat.open(location, ROOM, name=name, **kwargs)  # type: ignore[arg-type]


def random_file(path: Path, size: int) -> str:
    """Writes `size` random bytes to `path`; returns their SHA-256 (hex)."""
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(MIB), b""):
            h.update(block)
    return h.hexdigest()


class Recorder:
    """A progress callback that records what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def check(self, size: int) -> None:
        """Monotonic, the total always `size`, ending at (size, size)."""
        assert self.calls, "progress was never called"
        assert all(total == size for _, total in self.calls), self.calls
        dones = [done for done, _ in self.calls]
        assert dones == sorted(dones), dones
        assert self.calls[-1] == (size, size), self.calls[-1]


def parts_beside(target: Path) -> list[Path]:
    """The partial files of downloads to `target`."""
    return sorted(target.parent.glob(f".{target.name}.*.part"))


def blobs(server: Path) -> list[Path]:
    """The attachment blobs of the room in the local folder `server`."""
    files = server / ROOM / "files"
    return sorted(files.iterdir()) if files.exists() else []


def receive(room: ftpchat.Room, message_id: str) -> ftpchat.Message:
    """Syncs until message `message_id` arrives; returns it."""
    for _ in range(50):
        for msg in room.sync().messages:
            if msg.id == message_id:
                return msg
    raise AssertionError(f"message {message_id} did not arrive")


def test_files_go_both_ways_on_ftp_with_the_same_sha256(
    ftp_server: FtpServer, tmp_path: Path
) -> None:
    url = ftp_server.url()
    report = tmp_path / "report.pdf"
    report_sha = random_file(report, 3 * MIB + 12345)
    photo = tmp_path / "photo.bin"
    photo_sha = random_file(photo, 2 * MIB + 1)
    with native(url, "Alice") as alice, native(url, "Bob") as bob:
        # Alice -> Bob, a str path; the message is hers at once, pending.
        sent = Recorder()
        report_id = alice.send_file(str(report), "the Q3 report", progress=sent)
        assert len(report_id) == 32
        sent.check(report.stat().st_size)
        assert sent.calls[0] == (0, report.stat().st_size)
        mine = alice.message(report_id)
        assert mine is not None and mine.is_own and mine.status == ftpchat.MessageStatus.PENDING
        assert mine.attachment == ftpchat.Attachment(
            name="report.pdf", size=3 * MIB + 12345, media_type="application/pdf"
        )
        assert mine.text == "the Q3 report"
        assert alice.outbox_len == 1
        assert report_id in alice.sync().confirmed

        got = receive(bob, report_id)
        assert isinstance(got.attachment, ftpchat.Attachment)
        assert (got.sender, got.text, got.is_own) == ("Alice", "the Q3 report", False)
        assert got.attachment.name == "report.pdf" and got.attachment.size == 3 * MIB + 12345
        downloads = tmp_path / "bob"
        downloads.mkdir()
        saved = Recorder()
        target = downloads / got.attachment.name
        assert bob.save_attachment(got.id, target, progress=saved) is None
        saved.check(got.attachment.size)
        assert sha256(target) == report_sha
        assert parts_beside(target) == []

        # Bob -> Alice, an os.PathLike path and no caption.
        photo_id = bob.send_file(photo)
        bob.sync()
        back = receive(alice, photo_id)
        assert back.text == "" and back.attachment is not None
        assert back.attachment.media_type == "application/octet-stream"
        target = tmp_path / "alice-photo.bin"
        alice.save_attachment(photo_id, target)
        assert sha256(target) == photo_sha

        # A text message has no attachment.
        text_id = alice.send("just text")
        text = alice.message(text_id)
        assert text is not None and text.attachment is None
        with pytest.raises(ftpchat.Unsupported):
            alice.save_attachment(text_id, tmp_path / "nothing")
        assert not (tmp_path / "nothing").exists()


def test_progress_drives_a_real_tqdm_bar(memory_location: str, tmp_path: Path) -> None:
    from tqdm import tqdm  # installed by .ci/python-tests.sh: a missing tqdm fails

    path = tmp_path / "big.bin"
    digest = random_file(path, 5 * MIB + 7)
    size = path.stat().st_size
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        out = io.StringIO()
        with tqdm(total=size, unit="B", unit_scale=True, file=out) as bar:
            message_id = alice.send_file(
                path, progress=lambda done, total: bar.update(done - bar.n)
            )
            assert bar.n == size
        alice.sync()
        receive(bob, message_id)
        target = tmp_path / "copy.bin"
        with tqdm(total=size, unit="B", unit_scale=True, file=out) as bar:
            bob.save_attachment(
                message_id, target, progress=lambda done, total: bar.update(done - bar.n)
            )
            assert bar.n == size
        assert sha256(target) == digest
        assert "100%" in out.getvalue(), out.getvalue()


def test_cancel_from_the_callback_then_resume(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    path = tmp_path / "video.bin"
    digest = random_file(path, 4 * MIB + 100)
    size = path.stat().st_size
    with native(str(server), "Alice") as alice, native(str(server), "Bob") as bob:
        # An upload cancelled half-way queues nothing and leaves no blob behind.
        transfer = ftpchat.Transfer()
        assert not transfer.cancelled and "not cancelled" in repr(transfer)

        def cancel_after_a_mib(done: int, total: int) -> None:
            if done >= MIB:
                transfer.cancel()

        with pytest.raises(ftpchat.TransferCancelled) as info:
            alice.send_file(path, "cancelled", progress=cancel_after_a_mib, transfer=transfer)
        assert not info.value.transient and isinstance(info.value, ftpchat.Error)
        assert transfer.cancelled and "cancelled" in repr(transfer)
        assert alice.outbox_len == 0 and alice.history() == []
        assert blobs(server) == []
        # A cancelled Transfer stays cancelled: the next call with it fails at once.
        with pytest.raises(ftpchat.TransferCancelled):
            alice.send_file(path, transfer=transfer)
        assert blobs(server) == []

        message_id = alice.send_file(path, "sent")
        alice.sync()
        assert len(blobs(server)) == 1
        receive(bob, message_id)

        # A download cancelled half-way leaves the target alone and keeps its part.
        target = tmp_path / "bob" / "video.bin"
        target.parent.mkdir()
        transfer = ftpchat.Transfer()
        first = Recorder()

        def record_and_cancel(done: int, total: int) -> None:
            first(done, total)
            if done >= MIB:
                transfer.cancel()

        with pytest.raises(ftpchat.TransferCancelled):
            bob.save_attachment(message_id, target, progress=record_and_cancel, transfer=transfer)
        assert not target.exists()
        assert len(parts_beside(target)) == 1
        assert max(done for done, _ in first.calls) < size

        # The next call resumes from what the first one verified.
        second = Recorder()
        bob.save_attachment(message_id, target, progress=second)
        second.check(size)
        assert second.calls[0][0] >= MIB, second.calls[:2]
        assert sha256(target) == digest
        assert parts_beside(target) == []


def test_cancel_from_another_thread(memory_location: str, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    random_file(path, 3 * MIB)
    transfer = ftpchat.Transfer()
    started = threading.Event()

    def wait_for_the_cancel(done: int, total: int) -> None:
        # Holds the upload at its first report until the other thread has cancelled, so
        # that the cancel lands while the transfer runs (the wait releases the GIL).
        started.set()
        for _ in range(1000):
            if transfer.cancelled:
                return
            threading.Event().wait(0.01)
        raise AssertionError("the other thread did not cancel")

    def canceller() -> None:
        assert started.wait(30)
        transfer.cancel()

    with native(memory_location, "Alice") as alice:
        thread = threading.Thread(target=canceller)
        thread.start()
        with pytest.raises(ftpchat.TransferCancelled):
            alice.send_file(path, progress=wait_for_the_cancel, transfer=transfer)
        thread.join(30)
        assert alice.outbox_len == 0


def test_file_too_large_is_refused_before_any_transfer(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    path = tmp_path / "four-k.bin"
    random_file(path, 4096)
    calls = Recorder()
    with native(str(server), "Alice", max_attachment_size=1024) as small:
        with pytest.raises(ftpchat.FileTooLarge) as info:
            small.send_file(path, progress=calls)
        assert (info.value.size, info.value.limit) == (4096, 1024)
        assert not info.value.transient and "4096" in str(info.value)
        assert calls.calls == [] and blobs(server) == [] and small.outbox_len == 0
    assert ftpchat.DEFAULT_MAX_ATTACHMENT_SIZE == 100 * MIB

    # The reader's own limit applies to downloads.
    with native(str(server), "Alice") as alice, native(
        str(server), "Bob", max_attachment_size=1024
    ) as bob:
        message_id = alice.send_file(path)
        alice.sync()
        receive(bob, message_id)
        target = tmp_path / "bob.bin"
        with pytest.raises(ftpchat.FileTooLarge):
            bob.save_attachment(message_id, target)
        assert not target.exists() and parts_beside(target) == []

    # A FTPChat chat file carries no attachments.
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(
            str(server),
            "chat.txt",
            name="A",
            layout="shared",
            password=PASSWORD,
            max_attachment_size=1024,
        )
    with ftpchat.open(
        str(server), "chat.txt", name="A", layout="shared", password=PASSWORD
    ) as chat:
        with pytest.raises(ftpchat.Unsupported):
            chat.send_file(path)


def test_local_file_errors(memory_location: str, tmp_path: Path) -> None:
    with native(memory_location, "Alice") as alice, native(memory_location, "Bob") as bob:
        missing = tmp_path / "missing.bin"
        with pytest.raises(ftpchat.LocalFileError) as info:
            alice.send_file(missing, "nope")
        error = info.value
        assert isinstance(error, OSError) and isinstance(error, ftpchat.Error)
        assert error.errno == errno.ENOENT and error.path == str(missing)
        assert "missing.bin" in str(error) and not error.transient
        assert alice.outbox_len == 0

        with pytest.raises(ftpchat.LocalFileError):
            alice.send_file(tmp_path, "a folder")

        path = tmp_path / "ok.bin"
        random_file(path, 1000)
        message_id = alice.send_file(path)
        alice.sync()
        receive(bob, message_id)
        target = tmp_path / "no-such-folder" / "ok.bin"
        with pytest.raises(ftpchat.LocalFileError) as info:
            bob.save_attachment(message_id, target)
        assert info.value.errno == errno.ENOENT
        assert not target.parent.exists()


class Boom(Exception):
    pass


def test_an_exception_in_the_progress_callback_propagates(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    path = tmp_path / "f.bin"
    random_file(path, 3 * MIB)
    boom = Boom("from the callback")

    def explode(done: int, total: int) -> None:
        if done >= MIB:
            raise boom

    with native(str(server), "Alice") as alice, native(str(server), "Bob") as bob:
        with pytest.raises(Boom) as info:
            alice.send_file(path, progress=explode)
        assert info.value is boom
        assert alice.outbox_len == 0 and blobs(server) == []

        # With a Transfer: it is cancelled too.
        transfer = ftpchat.Transfer()
        with pytest.raises(Boom):
            alice.send_file(path, progress=explode, transfer=transfer)
        assert transfer.cancelled

        message_id = alice.send_file(path)
        alice.sync()
        receive(bob, message_id)
        target = tmp_path / "copy.bin"
        with pytest.raises(Boom) as info:
            bob.save_attachment(message_id, target, progress=explode)
        assert info.value is boom
        assert not target.exists()
        bob.save_attachment(message_id, target)  # resumes, succeeds
        assert sha256(target) == sha256(path)

        with pytest.raises(TypeError):
            alice.send_file(path, progress=42)  # type: ignore[arg-type]
        assert alice.outbox_len == 0


def test_a_deleted_attachment_cannot_be_saved(tmp_path: Path) -> None:
    server = tmp_path / "server"
    server.mkdir()
    path = tmp_path / "secret.txt"
    random_file(path, 70_000)
    with native(str(server), "Alice") as alice, native(str(server), "Bob") as bob:
        message_id = alice.send_file(path, "oops")
        alice.sync()
        assert receive(bob, message_id).attachment is not None
        assert len(blobs(server)) == 1

        alice.delete(message_id)
        alice.sync()  # delivers the delete, then removes the blob
        assert blobs(server) == []
        gone = alice.message(message_id)
        assert gone is not None and gone.deleted and gone.attachment is None
        with pytest.raises(ftpchat.Unsupported):
            alice.save_attachment(message_id, tmp_path / "a.txt")

        # Bob has not read the delete yet: the file is gone from the server.
        target = tmp_path / "b.txt"
        with pytest.raises(ftpchat.BadAttachment) as info:
            bob.save_attachment(message_id, target)
        assert not info.value.transient
        assert not target.exists() and parts_beside(target) == []
        # Once he has, the message has no attachment any more.
        bob.sync()
        now = bob.message(message_id)
        assert now is not None and now.deleted and now.attachment is None
        with pytest.raises(ftpchat.Unsupported):
            bob.save_attachment(message_id, target)

        with pytest.raises(ftpchat.UnknownMessage):
            bob.save_attachment("ab" * 16, target)
        with pytest.raises(ftpchat.InvalidConfig):
            bob.save_attachment("not an id", target)


def test_attachment_error_kinds_map_one_to_one() -> None:
    table: dict[str, type[ftpchat.Error]] = {
        "file_too_large": ftpchat.FileTooLarge,
        "cancelled": ftpchat.TransferCancelled,
        "bad_attachment": ftpchat.BadAttachment,
        "local_file": ftpchat.LocalFileError,
    }
    for kind, cls in table.items():
        error = _ftpchat._error_for_kind(kind)
        assert type(error) is cls and not error.transient, kind
    too_large = _ftpchat._error_for_kind("file_too_large")
    assert isinstance(too_large, ftpchat.FileTooLarge)
    assert (too_large.size, too_large.limit) == (2048, 1024)
    local = _ftpchat._error_for_kind("local_file")
    assert isinstance(local, ftpchat.LocalFileError) and isinstance(local, OSError)
    assert (local.path, local.errno) == ("missing.bin", errno.ENOENT)


def test_a_closed_room_refuses_transfers(memory_location: str, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    random_file(path, 10)
    room = native(memory_location, "Alice")
    room.close()
    with pytest.raises(ftpchat.RoomClosed):
        room.send_file(path)
    with pytest.raises(ftpchat.RoomClosed):
        room.save_attachment("ab" * 16, tmp_path / "x")
