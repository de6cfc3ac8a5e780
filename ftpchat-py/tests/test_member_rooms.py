"""Member rooms (SPEC §16/§17, issue 14) through the Python API, on a real FTP server
(pyftpdlib on 127.0.0.1): identities, invitations, members, removal, signers, backups and
the typed errors. The invitee joins from another process (room_worker.py's sibling,
member_worker.py) as well as from a second Room in this process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import ftpchat
import pytest
from ftpserver import FtpServer

PATIENCE = 30.0
ROOM = "team"


def read_until(room: ftpchat.Room, text: str) -> list[ftpchat.Message]:
    """Syncs until a message with `text` arrives; returns everything read."""
    got: list[ftpchat.Message] = []
    deadline = time.monotonic() + PATIENCE
    while not any(m.text == text for m in got):
        assert time.monotonic() < deadline, f"{text!r} did not arrive: {got}"
        got += room.sync().messages
    return got


def create(url: str, tmp_path: Path, name: str, identity: ftpchat.Identity) -> ftpchat.Room:
    return ftpchat.open(
        url, ROOM, name=name, identity=identity, state_dir=tmp_path / f"state-{name}"
    )


def join(
    location: str | None,
    tmp_path: Path,
    name: str,
    identity: ftpchat.Identity,
    invitation: str,
) -> ftpchat.Room:
    return ftpchat.open(
        location,
        ROOM,
        name=name,
        identity=identity,
        invitation=invitation,
        state_dir=tmp_path / f"state-{name}",
    )


def test_create_invite_join_chat_members_and_removal(
    ftp_server: FtpServer, tmp_path: Path
) -> None:
    url = ftp_server.url()
    alice_id = ftpchat.Identity.generate()
    bob_id = ftpchat.Identity.load_or_create(tmp_path / "bob-identity")
    with create(url, tmp_path, "Alice", alice_id) as alice:
        assert alice.identity is not None
        assert alice.identity.fingerprint == alice_id.fingerprint
        (me,) = alice.members()
        assert me.role == "admin" and me.devices == (alice_id.public,)
        assert me.fingerprints == (alice_id.fingerprint,)
        assert len(me.id) == 32 and int(me.id, 16) >= 0

        link = alice.invite(location=url)
        assert link.startswith("ftpchat://join?") and "role=member" in link
        # The invitee passes None: the location comes from the invitation.
        with join(None, tmp_path, "Bob", bob_id, link) as bob:
            update = alice.sync()
            assert any(e.kind == "membership_changed" and e.epoch for e in update.events)
            roles = {m.fingerprints[0]: m.role for m in alice.members()}
            assert roles == {alice_id.fingerprint: "admin", bob_id.fingerprint: "member"}
            assert {m.id for m in bob.members()} == {m.id for m in alice.members()}

            # Both ways; each message's signer is the sending device's fingerprint.
            alice.send("hello Bob")
            alice.sync()
            (hello,) = [m for m in read_until(bob, "hello Bob") if m.text == "hello Bob"]
            assert hello.sender == "Alice" and hello.signer == alice_id.fingerprint
            bob.send("hi Alice")
            bob.sync()
            (hi,) = [m for m in read_until(alice, "hi Alice") if m.text == "hi Alice"]
            assert hi.signer == bob_id.fingerprint and not hi.is_own
            own = [m for m in alice.history() if m.text == "hello Bob"]
            assert own[0].signer == alice_id.fingerprint

            # Alice removes Bob: he can no longer send and reads nothing new.
            bob_member = next(m for m in alice.members() if bob_id.public in m.devices)
            epoch = alice.remove_member(bob_member.id)
            assert epoch >= 2
            assert [m.role for m in alice.members()] == ["admin"]
            alice.send("after Bob left")
            alice.sync()
            update = bob.sync()
            assert any(e.kind == "removed_from_room" for e in update.events), update
            assert all(m.text != "after Bob left" for m in update.messages)
            with pytest.raises(ftpchat.NotAMember) as info:
                bob.send("still here?")
            assert not info.value.transient
            assert "after Bob left" not in [m.text for m in bob.history()]
            assert all(m.text != "after Bob left" for m in bob.sync().messages)


def test_a_joined_device_hears_of_its_removal_only_once_removed(
    memory_location: str, tmp_path: Path
) -> None:
    alice_id, bob_id = ftpchat.Identity.generate(), ftpchat.Identity.generate()
    with create(memory_location, tmp_path, "Alice", alice_id) as alice:
        link = alice.invite(location=memory_location)
        with join(None, tmp_path, "Bob", bob_id, link) as bob:
            joined = bob.sync()
            assert all(e.kind != "removed_from_room" for e in joined.events), joined
            alice.sync()
            bob_member = next(m for m in alice.members() if bob_id.public in m.devices)
            alice.remove_member(bob_member.id)
            removed = bob.sync()
            assert any(e.kind == "removed_from_room" for e in removed.events), removed


def test_promote_and_admin_invite(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()
    alice_id, carol_id, dave_id = (ftpchat.Identity.generate() for _ in range(3))
    with create(url, tmp_path, "Alice", alice_id) as alice:
        # add_member with a public identity text (no invitation needed).
        epoch = alice.add_member(carol_id.public, share_history=True)
        carol_member = next(m for m in alice.members() if carol_id.public in m.devices)
        assert carol_member.role == "member" and carol_member.joined_epoch == epoch
        with create(url, tmp_path, "Carol", carol_id) as carol:
            carol.sync()
            # A member may not invite; the refusal is a MembershipError.
            with pytest.raises(ftpchat.MembershipError):
                carol.invite(location=url)
            assert alice.promote(carol_member.id) > epoch
            carol.sync()
            roles = {m.fingerprints[0]: m.role for m in carol.members()}
            assert roles[carol_id.fingerprint] == "admin"
            link = carol.invite("admin", location=url)
            assert "role=admin" in link
            with join(url, tmp_path, "Dave", dave_id, link) as dave:
                dave.send("dave here")
                dave.sync()
                got = read_until(alice, "dave here")
                assert [m.signer for m in got if m.text == "dave here"] == [dave_id.fingerprint]


def test_join_from_another_process(ftp_server: FtpServer, tmp_path: Path) -> None:
    url = ftp_server.url()
    alice_id = ftpchat.Identity.generate()
    with create(url, tmp_path, "Alice", alice_id) as alice:
        alice.send("welcome")  # before the invitation: the invitee cannot read it
        alice.sync()
        link = alice.invite(location=url)
        worker = Path(__file__).with_name("member_worker.py")
        proc = subprocess.run(
            [sys.executable, str(worker), str(tmp_path / "worker"), "Bob", "from Bob"],
            input=link,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        got = read_until(alice, "from Bob")
        assert [m.signer for m in got if m.text == "from Bob"] == [out["fingerprint"]]
        # Invited after "welcome", without share_history: it reads from the invitation on.
        assert "welcome" not in out["texts"] and "from Bob" in out["texts"]
        assert out["fingerprint"] != alice_id.fingerprint


def test_member_room_refusals(memory_location: str, tmp_path: Path) -> None:
    me = ftpchat.Identity.generate()
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, ROOM, name="A", identity=me, password="pw")
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(memory_location, ROOM, name="A", identity=me, layout="shared")
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(None, ROOM, name="A", identity=me)
    # Member-room calls on a password room.
    with ftpchat.open(memory_location, "pw", name="A", password="pw", iterations=1000) as room:
        assert room.identity is None
        with pytest.raises(ftpchat.MembershipError):
            room.members()
        with pytest.raises(ftpchat.MembershipError):
            room.invite(location=memory_location)
    with create(memory_location, tmp_path, "Alice", me) as alice:
        for bad_id in ("nothex", "00" * 15, "zz" * 16):
            with pytest.raises(ftpchat.InvalidConfig):
                alice.remove_member(bad_id)
        with pytest.raises(ftpchat.InvalidConfig):
            alice.invite("owner", location=memory_location)  # type: ignore[arg-type]
        with pytest.raises(ftpchat.InvalidIdentity):
            alice.add_member("ftpchat-id1:AAAA")
        # The last admin cannot leave.
        (mine,) = alice.members()
        with pytest.raises(ftpchat.MembershipError):
            alice.remove_member(mine.id)


def test_bad_invitation_urls_are_typed_and_never_echoed(memory_location: str) -> None:
    me = ftpchat.Identity.generate()
    secret_key = "S3cretKeyMaterial" * 4
    bad = [
        "https://example.org/join",
        f"ftpchat://join?v=1&room=00&anchor=00&role=member&key={secret_key}&at=x",
        f"ftpchat://join?v=2&key={secret_key}",
        "ftpchat://join?" + "a" * 5000,
    ]
    for url in bad:
        with pytest.raises(ftpchat.InvalidInvitation) as info:
            ftpchat.open(memory_location, ROOM, name="B", identity=me, invitation=url)
        assert isinstance(info.value, ftpchat.MembershipError)
        assert isinstance(info.value, ValueError)
        assert secret_key not in str(info.value) and secret_key not in repr(info.value)
        assert url not in str(info.value) and url not in repr(info.value)
    with pytest.raises(ftpchat.InvalidConfig):
        ftpchat.open(
            memory_location, ROOM, name="B", password="pw", invitation="ftpchat://join?v=1"
        )


def test_bad_public_identities_are_typed() -> None:
    good = ftpchat.Identity.generate().public
    for bad in ("", "ftpchat-id1:", "ftpchat-id2:" + good[12:], good[:-2], good + "AA", "x" * 99):
        with pytest.raises(ftpchat.InvalidIdentity):
            ftpchat.safety_number(good, bad)
        with pytest.raises(ftpchat.InvalidIdentity) as info:
            ftpchat.fingerprint(bad)
        assert isinstance(info.value, (ftpchat.IdentityError, ValueError))


def test_identity_backup_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    me = ftpchat.Identity.load_or_create(tmp_path / "id")
    again = ftpchat.Identity.load_or_create(tmp_path / "id")
    assert again.public == me.public  # the file is reused
    assert (tmp_path / "id" / "device-identity").stat().st_mode & 0o077 == 0
    assert me.public.startswith("ftpchat-id1:")
    assert len(me.fingerprint.split(" ")) == 6
    assert ftpchat.fingerprint(me.public) == me.fingerprint
    assert me.fingerprint in repr(me) and "ftpchat-id1" not in repr(me)

    passphrase = "a long backup passphrase"
    backup = me.export_backup(passphrase)
    assert passphrase not in backup
    restored = ftpchat.Identity.import_backup(backup, passphrase)
    assert restored.public == me.public and restored.fingerprint == me.fingerprint
    with pytest.raises(ftpchat.WrongPassphrase) as info:
        ftpchat.Identity.import_backup(backup, "not the passphrase")
    assert isinstance(info.value, ftpchat.IdentityError)
    assert "not the passphrase" not in str(info.value)
    with pytest.raises(ftpchat.InvalidBackup):
        ftpchat.Identity.import_backup("not a backup", passphrase)

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "device-identity").write_text("ftpchat-identity 1\ngarbage\n")
    with pytest.raises(ftpchat.IdentityFileError):
        ftpchat.Identity.load_or_create(tmp_path / "bad")


def test_safety_number_is_symmetric() -> None:
    a, b = ftpchat.Identity.generate(), ftpchat.Identity.generate()
    number = ftpchat.safety_number(a.public, b.public)
    assert number == ftpchat.safety_number(b.public, a.public)
    groups = number.split(" ")
    assert len(groups) == 12 and all(len(g) == 5 and g.isdigit() for g in groups)
    digits = sorted([a.fingerprint.replace(" ", ""), b.fingerprint.replace(" ", "")])
    assert number.replace(" ", "") == "".join(digits)


def test_membership_error_kinds_map_one_to_one() -> None:
    from ftpchat import _ftpchat

    error = _ftpchat._error_for_kind("not_a_member")
    assert type(error) is ftpchat.NotAMember and not error.transient
    error = _ftpchat._error_for_kind("membership")
    assert type(error) is ftpchat.MembershipError and not error.transient


def test_link_device(memory_location: str, tmp_path: Path) -> None:
    phone, laptop = ftpchat.Identity.generate(), ftpchat.Identity.generate()
    with create(memory_location, tmp_path, "Alice", phone) as alice:
        epoch = alice.link_device(laptop.public)
        assert epoch >= 1
        (me,) = alice.members()
        assert set(me.devices) == {phone.public, laptop.public}
        assert set(me.fingerprints) == {phone.fingerprint, laptop.fingerprint}
        with create(memory_location, tmp_path, "Alice-laptop", laptop) as second:
            second.send("from the laptop")
            second.sync()
            got = read_until(alice, "from the laptop")
            assert [m.signer for m in got if m.text == "from the laptop"] == [laptop.fingerprint]
