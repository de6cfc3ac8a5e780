"""A pyftpdlib FTP server on 127.0.0.1 for the tests, in a thread or (run as a script)
in its own process: `python ftpserver.py ROOT DELAY` prints the port, then serves until
its standard input closes."""

from __future__ import annotations

import ftplib
import io
import logging
import sys
import threading
import time
from pathlib import Path

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

FTP_USER = "alice"
FTP_PASSWORD = "ftp-Pa55word-for-tests"

logging.getLogger("pyftpdlib").setLevel(logging.WARNING)


class FtpServer:
    """A pyftpdlib ThreadedFTPServer on 127.0.0.1 with one user, in a thread.

    ``delay`` makes every command wait that long before being handled (a slow server);
    ``perm`` is the user's pyftpdlib permissions (without ``"a"``, APPE is refused).
    """

    def __init__(
        self,
        root: Path,
        delay: float = 0.0,
        certfile: Path | None = None,
        perm: str = "elradfmwMT",
    ) -> None:
        self.root = root
        self.tls = certfile is not None
        authorizer = DummyAuthorizer()
        authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm=perm)
        base: type = FTPHandler
        if certfile is not None:
            from pyftpdlib.handlers import TLS_FTPHandler  # needs pyOpenSSL

            base = TLS_FTPHandler

        class Handler(base):  # type: ignore[valid-type,misc]
            def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
                if delay:
                    time.sleep(delay)  # in the connection's own thread (ThreadedFTPServer)
                super().pre_process_command(line, cmd, arg)

        Handler.authorizer = authorizer
        Handler.banner = "ftpchat-py test server"
        if certfile is not None:
            Handler.certfile = str(certfile)
            Handler.tls_control_required = True
            Handler.tls_data_required = True
        self.server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
        self.host, self.port = self.server.address[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pyftpdlib", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False)
        self.server.close_all()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def url(self, path: str = "", *, password: str = FTP_PASSWORD) -> str:
        """An ``ftp://`` (or, with TLS, ``ftps://``) location for ftpchat."""
        scheme = "ftps" if self.tls else "ftp"
        return f"{scheme}://{FTP_USER}:{password}@{self.host}:{self.port}/{path}"

    def connect(self) -> ftplib.FTP:
        """A logged-in ftplib client, as FTPChat uses."""
        ftp = ftplib.FTP()
        ftp.connect(self.host, self.port, timeout=10)
        ftp.login(FTP_USER, FTP_PASSWORD)
        return ftp

    def append(self, file: str, data: bytes) -> None:
        """Appends ``data`` with APPE, the way FTPChat writes a line."""
        with self.connect() as ftp:
            ftp.storbinary(f"APPE {file}", io.BytesIO(data))

    def download(self, file: str) -> bytes:
        """The whole file with RETR, the way FTPChat reads the chat."""
        out = io.BytesIO()
        with self.connect() as ftp:
            ftp.retrbinary(f"RETR {file}", out.write)
        return out.getvalue()


def main() -> None:
    server = FtpServer(Path(sys.argv[1]), delay=float(sys.argv[2]))
    print(server.port, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    server.stop()


if __name__ == "__main__":
    main()
