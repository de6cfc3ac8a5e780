"""The original FTPChat reader's refresh, on the same server and data as ftpchat's poll:
log in with ftplib, download the whole chat file (RETR), decode every line (FTPChat 1.5 with
the 24-layer pure-Python decoder of ftpchat_baseline.py, or 1.6 with `cryptography`), log out.

The key is derived once, outside the timed part (the most favourable reading of the original).
Counts the FTP commands sent (ftplib's putcmd) and the payload bytes received.
"""
import ftplib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ftpchat_baseline  # noqa: E402


class CountingFTP(ftplib.FTP):
    commands = 0

    def putcmd(self, line):
        self.commands += 1
        super().putcmd(line)


def refresh(arg, dec):
    start = time.perf_counter()
    ftp = CountingFTP()
    ftp.connect(arg["host"], arg["port"], timeout=120)
    ftp.login(arg["user"], arg["password"])
    if arg["dir"]:
        ftp.cwd(arg["dir"])
    data = bytearray()
    ftp.retrbinary("RETR " + arg["file"], data.extend, blocksize=65536)
    transferred = time.perf_counter()
    shown = []
    for line in bytes(data).split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            continue
        try:
            shown.append(dec(line))
        except Exception:
            shown.append((None, None, line.decode("utf-8", "replace")))
    decoded = time.perf_counter()
    ftp.quit()
    end = time.perf_counter()
    return {
        "total_ms": (end - start) * 1000.0,
        "transfer_ms": (transferred - start) * 1000.0,
        "decode_ms": (decoded - transferred) * 1000.0,
        "commands": ftp.commands,
        "bytes": len(data),
        "messages": len(shown),
    }


def main(arg):
    codecs = ftpchat_baseline.make_codecs(arg["table"], arg["key"].encode())
    dec = codecs["dec15"] if arg["codec"] == "v15" else codecs["dec16"]
    runs = [refresh(arg, dec) for _ in range(max(arg["repeats"], 1))]
    print(json.dumps({"runs": runs}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
