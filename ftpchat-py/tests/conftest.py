"""Fixtures: pyftpdlib servers on 127.0.0.1 (a fresh one per test, in a temp folder),
external servers announced by `.ci/ftp-servers.sh`, and unique in-memory locations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
from ftpserver import FtpServer


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[FtpServer]:
    """An FTP server in a thread of this process."""
    root = tmp_path / "ftp-root"
    root.mkdir()
    server = FtpServer(root)
    try:
        yield server
    finally:
        server.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, str]:
    """A certificate for 127.0.0.1 and localhost (CA:FALSE, as rustls wants a server
    certificate) with its key, in one PEM file; returns the file and the certificate."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ftpchat-py test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    path = folder / "server.pem"
    path.write_text(cert_pem + key_pem)
    return path, cert_pem


@pytest.fixture
def ftps_server(tmp_path: Path) -> Iterator[tuple[FtpServer, str]]:
    """An FTPS server (TLS required) and the PEM certificate to trust for it."""
    pytest.importorskip("OpenSSL", reason="pyftpdlib's FTPS needs pyOpenSSL")
    root = tmp_path / "ftps-root"
    root.mkdir()
    certfile, cert_pem = self_signed_certificate(tmp_path)
    server = FtpServer(root, certfile=certfile)
    try:
        yield server, cert_pem
    finally:
        server.stop()


@pytest.fixture
def slow_ftp_port(tmp_path: Path) -> Iterator[int]:
    """The port of a slow FTP server (every command waits 50 ms) in another process, so
    that it keeps serving whatever this process's GIL does."""
    root = tmp_path / "slow-ftp-root"
    root.mkdir()
    script = Path(__file__).with_name("ftpserver.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root), "0.05"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def memory_location(request: pytest.FixtureRequest) -> str:
    """A ``memory://`` location no other test uses."""
    return f"memory://{request.node.nodeid}-{time.monotonic_ns()}"


def in_ci() -> bool:
    """Whether this is a CI run (``CI=true`` or ``CI=1``), where missing servers fail."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def external_url(var: str) -> str:
    """The URL of an external server that `.ci/ftp-servers.sh` announces in ``var``. When
    it is not set the test fails under CI (a run must not skip silently) and is skipped
    otherwise."""
    value = os.environ.get(var, "").strip()
    if value:
        return value
    note = f"{var} is not set: run `.ci/ftp-servers.sh` and export the variables it prints"
    if in_ci():
        pytest.fail(f"CI=true but {note}")
    pytest.skip(note)


@pytest.fixture
def vsftpd_url() -> str:
    """The writable vsftpd directory, e.g. ``ftp://127.0.0.1:2121/pub`` (anonymous)."""
    return external_url("FTPCHAT_TEST_VSFTPD_URL")
