"""A native room used from two Python processes at once, over a real FTP server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ftpchat
from ftpserver import FtpServer

COUNT = 15


def test_two_processes_share_a_native_room(ftp_server: FtpServer) -> None:
    url = ftp_server.url()
    ftpchat.open(url, "lobby", name="Creator", password="shared secret", iterations=5000).close()

    worker = Path(__file__).with_name("room_worker.py")
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(worker), url, name, str(COUNT), peer],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, peer in [("Ann", "Ben"), ("Ben", "Ann")]
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results[name] = json.loads(out)

    for name, peer in [("Ann", "Ben"), ("Ben", "Ann")]:
        r = results[name]
        # Every own message confirmed; every message of the other process read, in its
        # order, exactly once.
        assert r["confirmed"] == sorted(r["sent"])
        assert [t for s, t in r["seen"] if s == peer] == [f"{peer} {i}" for i in range(COUNT)]
        assert all(s == peer for s, _ in r["seen"])
        assert sorted(tuple(m) for m in r["history"]) == sorted(
            (n, f"{n} {i}") for n in ("Ann", "Ben") for i in range(COUNT)
        )
    # Both processes see the same timeline order.
    assert results["Ann"]["history"] == results["Ben"]["history"]

    # Each process wrote its own log: no two writers appended to one file (beside the logs,
    # the folder holds the doorbell, SPEC §9.2.1).
    logs = sorted(p for p in (ftp_server.root / "lobby" / "logs").iterdir() if p.suffix == ".log")
    assert len(logs) == 2
    with ftpchat.open(url, "lobby", name="Reader", password="shared secret") as reader:
        assert len(reader.sync().messages) == 2 * COUNT
