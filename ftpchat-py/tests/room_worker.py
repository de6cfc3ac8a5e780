"""One of the processes of test_processes.py: `python room_worker.py URL NAME COUNT PEER`.

Opens the native room "lobby" at URL as NAME, sends COUNT messages (syncing as it goes),
then syncs until it has read COUNT messages from PEER; prints what it saw as JSON."""

from __future__ import annotations

import json
import sys
import time

import ftpchat


def main() -> None:
    url, name, count, peer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    seen: list[list[str]] = []
    confirmed: set[str] = set()
    with ftpchat.open(url, "lobby", name=name, password="shared secret", create=False) as room:
        sent = []
        for i in range(count):
            sent.append(room.send(f"{name} {i}"))
            if i % 3 == 0:
                update = room.sync()
                seen += [[m.sender, m.text] for m in update.messages]
                confirmed.update(update.confirmed)
        deadline = time.monotonic() + 60
        while sum(1 for s, _ in seen if s == peer) < count or len(confirmed) < count:
            if time.monotonic() > deadline:
                break
            update = room.sync()
            seen += [[m.sender, m.text] for m in update.messages]
            confirmed.update(update.confirmed)
            time.sleep(0.05)
        history = [[m.sender, m.text] for m in room.history(limit=10 * count)]
    json.dump({"seen": seen, "confirmed": sorted(confirmed), "sent": sent, "history": history}, sys.stdout)


if __name__ == "__main__":
    main()
