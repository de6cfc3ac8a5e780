"""Private messages, blocking (SPEC §8.4.2), presence and seen receipts (SPEC §18)
through the Python API: three member rooms (Alice creates, Bob and Carol join with
invitations) on a real FTP server (pyftpdlib on 127.0.0.1), and the typed errors of
password rooms."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import ftpchat
import pytest
from ftpserver import FtpServer

PATIENCE = 30.0
ROOM = "team"


@dataclass
class Trio:
    alice: ftpchat.Room
    bob: ftpchat.Room
    carol: ftpchat.Room
    alice_id: str
    bob_id: str
    carol_id: str
    identities: dict[str, ftpchat.Identity]


@contextmanager
def trio(url: str, tmp_path: Path, **options: bool) -> Iterator[Trio]:
    """Alice (admin) creates the room; Bob and Carol join with one-time invitations."""
    ids = {name: ftpchat.Identity.generate() for name in ("Alice", "Bob", "Carol")}
    with ExitStack() as stack:

        def open_room(name: str, invitation: str | None = None) -> ftpchat.Room:
            room = ftpchat.open(
                None if invitation else url,
                ROOM,
                name=name,
                identity=ids[name],
                invitation=invitation,
                state_dir=tmp_path / f"state-{name}",
                **options,
            )
            return stack.enter_context(room)

        alice = open_room("Alice")
        bob = open_room("Bob", alice.invite(location=url))
        carol = open_room("Carol", alice.invite(location=url))
        for room in (alice, bob, carol, alice):
            room.sync()
        member = {m.fingerprints[0]: m.id for m in alice.members()}
        assert len(member) == 3
        yield Trio(
            alice,
            bob,
            carol,
            member[ids["Alice"].fingerprint],
            member[ids["Bob"].fingerprint],
            member[ids["Carol"].fingerprint],
            ids,
        )


def sync_until(
    room: ftpchat.Room, done: Callable[[list[ftpchat.SyncResult]], bool]
) -> list[ftpchat.SyncResult]:
    """Syncs until `done(results so far)`; returns the results."""
    results: list[ftpchat.SyncResult] = []
    deadline = time.monotonic() + PATIENCE
    while not done(results):
        assert time.monotonic() < deadline, f"gave up after {len(results)} syncs: {results[-2:]}"
        results.append(room.sync())
    return results


def texts_of(results: list[ftpchat.SyncResult]) -> list[str]:
    return [m.text for r in results for m in r.messages]


def messages_of(results: list[ftpchat.SyncResult]) -> list[ftpchat.Message]:
    return [m for r in results for m in r.messages]


def read_until(room: ftpchat.Room, *texts: str) -> list[ftpchat.Message]:
    """Syncs until every one of `texts` arrived; returns every message read."""
    results = sync_until(room, lambda rs: set(texts) <= set(texts_of(rs)))
    return messages_of(results)


def texts(messages: list[ftpchat.Message]) -> list[str]:
    return [m.text for m in messages]


def test_a_private_message_reaches_its_recipient_only(
    ftp_server: FtpServer, tmp_path: Path
) -> None:
    with trio(ftp_server.url(), tmp_path) as t:
        secret = t.alice.send_private(t.bob_id, "for Bob only")
        mine = t.alice.message(secret)
        assert mine is not None and mine.private == t.bob_id and mine.is_own
        t.alice.send("hello everyone")
        t.alice.sync()
        assert texts(t.alice.history()) == ["hello everyone"]
        assert texts(t.alice.private_history(t.bob_id)) == ["for Bob only"]

        # Bob reads it, in his conversation with Alice, signed by her device.
        got = read_until(t.bob, "for Bob only", "hello everyone")
        (private,) = [m for m in got if m.private is not None]
        assert private.id == secret and private.text == "for Bob only"
        assert private.private == t.alice_id and not private.is_own
        assert private.signer == t.identities["Alice"].fingerprint
        assert [m.private for m in got if m.text == "hello everyone"] == [None]
        assert texts(t.bob.history()) == ["hello everyone"]
        assert texts(t.bob.private_history(t.alice_id)) == ["for Bob only"]

        # Carol, a member holding the room's keys, sees the room's message only.
        got = read_until(t.carol, "hello everyone")
        assert "for Bob only" not in texts(got)
        assert t.carol.message(secret) is None
        assert t.carol.private_history(t.alice_id) == []
        assert "for Bob only" not in texts(t.carol.history())

        # Bob answers privately: Alice's conversation with Bob has both, in order.
        reply = t.bob.send_private(t.alice_id, "got it")
        t.bob.sync()
        got = read_until(t.alice, "got it")
        assert [m.private for m in got if m.id == reply] == [t.bob_id]
        assert texts(t.alice.private_history(t.bob_id)) == ["for Bob only", "got it"]
        # Paging works as history()'s: the newest first page, then before it.
        assert texts(t.alice.private_history(t.bob_id, 1)) == ["got it"]
        assert texts(t.alice.private_history(t.bob_id, before=reply)) == ["for Bob only"]
        assert texts(t.alice.history()) == ["hello everyone"]
        # A note to oneself is a private conversation with one's own member id.
        t.alice.send_private(t.alice_id, "note to self")
        assert texts(t.alice.private_history(t.alice_id)) == ["note to self"]

        # Refusals are typed and queue nothing.
        outbox = t.carol.outbox_len
        with pytest.raises(ftpchat.MembershipError) as refused:
            t.carol.send_private("55" * 16, "to nobody")
        assert not refused.value.transient
        with pytest.raises(ftpchat.InvalidConfig):
            t.carol.send_private("not a member id", "x")
        with pytest.raises(ftpchat.InvalidConfig):
            t.carol.private_history("abc")
        assert t.carol.outbox_len == outbox
        assert all(m.text != "to nobody" for m in t.bob.sync().messages)


def test_block_hides_a_member_until_unblocked(ftp_server: FtpServer, tmp_path: Path) -> None:
    with trio(ftp_server.url(), tmp_path) as t:
        t.carol.send("before the block")
        t.carol.sync()
        read_until(t.bob, "before the block")

        assert t.bob.blocked() == []
        t.bob.block(t.carol_id)
        assert t.bob.blocked() == [t.carol_id]
        with pytest.raises(ftpchat.NotAllowed):
            t.bob.block(t.bob_id)  # nobody blocks themselves
        with pytest.raises(ftpchat.InvalidConfig):
            t.bob.block("zz" * 16)
        t.bob.sync()

        t.carol.send("after the block")
        t.carol.send_private(t.bob_id, "psst, Bob")
        t.carol.sync()
        t.alice.send("alice still talks")
        t.alice.sync()
        got = read_until(t.bob, "alice still talks")
        assert "after the block" not in texts(got) and "psst, Bob" not in texts(got)
        history = texts(t.bob.history())
        assert "alice still talks" in history
        assert "before the block" not in history and "after the block" not in history
        assert t.bob.private_history(t.carol_id) == []
        # Nobody else is affected, and Carol is not told.
        sync_until(t.alice, lambda _: "after the block" in texts(t.alice.history()))
        assert t.carol.blocked() == []

        t.bob.unblock(t.carol_id)
        t.bob.sync()
        assert t.bob.blocked() == []
        history = texts(t.bob.history())
        assert "before the block" in history and "after the block" in history
        assert texts(t.bob.private_history(t.carol_id)) == ["psst, Bob"]


def presence_of(room: ftpchat.Room, member: str) -> ftpchat.PresenceInfo:
    (info,) = [p for p in room.presence() if p.member == member]
    return info


def test_presence_and_seen_by(ftp_server: FtpServer, tmp_path: Path) -> None:
    with trio(ftp_server.url(), tmp_path) as t:
        # Every device published its presence at its sync; Alice read them at hers.
        presence = t.alice.presence()
        assert [p.member for p in presence] == sorted([t.alice_id, t.bob_id, t.carol_id])
        assert all(p.state is ftpchat.PresenceState.ONLINE and not p.typing for p in presence)
        assert [p.member for p in presence if p.is_self] == [t.alice_id]
        bob = presence_of(t.alice, t.bob_id)
        assert bob.display_name == "Bob"
        assert bob.fingerprint == t.identities["Bob"].fingerprint
        now = datetime.now(timezone.utc)
        assert bob.last_seen is not None and bob.last_seen.tzinfo is not None
        assert bob.last_active is not None and bob.last_active <= now + timedelta(seconds=5)
        assert bob.seen_within(timedelta(0))

        # Bob types, Carol goes away: Alice sees both after a sync, with an event.
        t.bob.set_typing(True)
        t.bob.sync()
        t.carol.set_presence(ftpchat.PresenceState.AWAY)
        t.carol.sync()
        results = sync_until(
            t.alice,
            lambda _: presence_of(t.alice, t.bob_id).typing
            and presence_of(t.alice, t.carol_id).state is ftpchat.PresenceState.AWAY,
        )
        assert any(e.kind == "presence_changed" for r in results for e in r.events), results
        assert presence_of(t.alice, t.bob_id).state is ftpchat.PresenceState.ONLINE
        t.bob.set_typing(False)
        t.bob.sync()
        sync_until(t.alice, lambda _: not presence_of(t.alice, t.bob_id).typing)

        # Carol says goodbye: offline, but seen within the last hour.
        t.carol.set_presence("offline")
        t.carol.sync()
        sync_until(
            t.alice,
            lambda _: presence_of(t.alice, t.carol_id).state is ftpchat.PresenceState.OFFLINE,
        )
        carol = presence_of(t.alice, t.carol_id)
        assert carol.seen_within(timedelta(hours=1))
        assert not carol.seen_within(
            timedelta(hours=1), now=datetime.now(timezone.utc) + timedelta(hours=2)
        )
        with pytest.raises(ftpchat.InvalidConfig):
            t.carol.set_presence("asleep")  # type: ignore[arg-type]

        # Seen receipts: nobody has read it, then Bob marks it read and syncs.
        msg = t.alice.send("read me")
        t.alice.sync()
        read_until(t.bob, "read me")
        read_until(t.carol, "read me")
        assert t.alice.seen_by(msg) == ftpchat.SeenBy(readers=(), of=2)
        assert t.bob.mark_read(msg) is True
        assert t.bob.mark_read(msg) is False  # the read position only moves forward
        t.bob.sync()
        sync_until(t.alice, lambda _: t.alice.seen_by(msg).readers == (t.bob_id,))
        assert t.alice.seen_by(msg).of == 2
        # Carol read it too: "seen by 2 of 2".
        assert t.carol.mark_read(msg)
        t.carol.sync()
        sync_until(t.alice, lambda _: len(t.alice.seen_by(msg).readers) == 2)
        assert t.alice.seen_by(msg).readers == tuple(sorted([t.bob_id, t.carol_id]))

        # A message this device does not know.
        with pytest.raises(ftpchat.UnknownMessage):
            t.alice.seen_by("07" * 16)
        with pytest.raises(ftpchat.UnknownMessage):
            t.alice.mark_read("07" * 16)
        with pytest.raises(ftpchat.InvalidConfig):
            t.alice.mark_read("not an id")


def test_presence_off_and_receipts_off(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()
    me = ftpchat.Identity.generate()
    with ftpchat.open(url, ROOM, name="Alice", identity=me, presence=False) as room:
        room.sync()
        for call in (
            room.presence,
            lambda: room.set_presence("away"),
            lambda: room.set_typing(True),
        ):
            with pytest.raises(ftpchat.InvalidConfig):
                call()
        msg = room.send("hi")
        with pytest.raises(ftpchat.InvalidConfig):
            room.mark_read(msg)
    # Receipts off: presence still works; mark_read moves the position locally.
    with ftpchat.open(url, ROOM, name="Alice", identity=me, read_receipts=False) as room:
        room.sync()
        assert [p.is_self for p in room.presence()] == [True]
        (last,) = room.history(1)
        assert room.mark_read(last.id) is True


def test_password_rooms_refuse_member_room_calls(memory_location: str) -> None:
    with ftpchat.open(
        memory_location, "lobby", name="Alice", password="pw", iterations=1000
    ) as room:
        msg = room.send("hi")
        someone = "ab" * 16
        calls: list[Callable[[], object]] = [
            lambda: room.send_private(someone, "x"),
            lambda: room.block(someone),
            lambda: room.unblock(someone),
            room.presence,
            lambda: room.set_presence(ftpchat.PresenceState.ONLINE),
            lambda: room.set_typing(True),
            lambda: room.mark_read(msg),
            lambda: room.seen_by(msg),
        ]
        for call in calls:
            with pytest.raises(ftpchat.MembershipError) as info:
                call()
            assert not info.value.transient
        assert room.blocked() == []
        assert room.private_history(someone) == []  # no private conversations here
        assert room.outbox_len == 1
    for options in ({"presence": False}, {"read_receipts": False}):
        with pytest.raises(ftpchat.InvalidConfig, match="member rooms"):
            ftpchat.open(memory_location, "lobby", name="Alice", password="pw", **options)


def test_event_kinds_and_value_types() -> None:
    # The new Event field and values default, so existing constructors keep working.
    event = ftpchat.Event(kind="private_record_refused", description="x", record="ab" * 16)
    assert event.record == "ab" * 16 and ftpchat.Event("presence_changed", "y").record is None
    assert ftpchat.PresenceState("typing") is ftpchat.PresenceState.TYPING
    assert ftpchat.PresenceState.AWAY == "away"
    info = ftpchat.PresenceInfo(
        member="00" * 16,
        fingerprint="",
        display_name="",
        is_self=False,
        state=ftpchat.PresenceState.OFFLINE,
        typing=False,
        last_seen=None,
        last_active=None,
    )
    assert not info.seen_within(timedelta(days=365))
