"""The invitee of test_member_rooms.py in its own process:
`python member_worker.py DIR NAME TEXT`, with the invitation URL on standard input.

Loads (creates) its identity in DIR, joins the member room "team" with the invitation
(location=None: the invitation's), sends TEXT and syncs until it is confirmed; prints its
fingerprint and the texts it can read as JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import ftpchat


def main() -> None:
    folder, name, text = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    link = sys.stdin.read().strip()
    me = ftpchat.Identity.load_or_create(folder / "identity")
    with ftpchat.open(
        None, "team", name=name, identity=me, invitation=link, state_dir=folder / "state"
    ) as room:
        sent = room.send(text)
        confirmed: set[str] = set()
        deadline = time.monotonic() + 60
        while sent not in confirmed and time.monotonic() < deadline:
            confirmed.update(room.sync().confirmed)
        texts = [m.text for m in room.history()]
    json.dump({"fingerprint": me.fingerprint, "texts": texts}, sys.stdout)


if __name__ == "__main__":
    main()
