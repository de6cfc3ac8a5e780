"""Device identity vectors (SPEC §16), re-derived independently with Python's
`cryptography` from `identity-v1.json` alone: public keys from the secret keys, the public
identity text, fingerprints and the safety number (hashlib), the Ed25519 signature, the
X25519 agreement and the Argon2id + XChaCha20-Poly1305 backup. Needs neither the Rust
extension nor a server."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "identity-v1.json").read_text("utf-8"))
RAW = (Encoding.Raw, PublicFormat.Raw)


def b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def fingerprint_digits(ed_pub: bytes, x_pub: bytes) -> str:
    digest = hashlib.sha256(VECTORS["fingerprint_domain"].encode() + b"\x00" + ed_pub + x_pub).digest()
    return "".join(f"{int.from_bytes(digest[i : i + 5], 'big') % 100_000:05d}" for i in range(0, 30, 5))


def grouped(digits: str) -> str:
    return " ".join(digits[i : i + 5] for i in range(0, len(digits), 5))


def identities() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in VECTORS["identities"]}


def test_public_keys_text_and_fingerprints() -> None:
    assert len(VECTORS["identities"]) == 2
    for v in VECTORS["identities"]:
        ed = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["ed25519_seed_hex"]))
        x = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["x25519_secret_hex"]))
        ed_pub, x_pub = ed.public_key().public_bytes(*RAW), x.public_key().public_bytes(*RAW)
        assert ed_pub.hex() == v["ed25519_public_hex"]
        assert x_pub.hex() == v["x25519_public_hex"]
        assert v["public_identity"] == "ftpchat-id1:" + b64url_nopad(ed_pub + x_pub)
        assert len(v["public_identity"]) == len("ftpchat-id1:") + 86
        assert v["fingerprint"] == grouped(fingerprint_digits(ed_pub, x_pub))
        seed_b64 = b64url_nopad(bytes.fromhex(v["ed25519_seed_hex"]))
        x_b64 = b64url_nopad(bytes.fromhex(v["x25519_secret_hex"]))
        assert v["identity_file"] == (
            f"ftpchat-identity 1\ned25519-seed {seed_b64}\nx25519-secret {x_b64}\n"
            f"public {v['public_identity']}\n"
        )


def test_safety_number_is_both_fingerprints_smaller_first() -> None:
    digits = sorted(
        fingerprint_digits(bytes.fromhex(v["ed25519_public_hex"]), bytes.fromhex(v["x25519_public_hex"]))
        for v in VECTORS["identities"]
    )
    assert VECTORS["safety_number"] == grouped("".join(digits))
    assert len(VECTORS["safety_number"].split(" ")) == 12


def test_signature_verifies_and_a_flipped_bit_does_not() -> None:
    sig = VECTORS["signature"]
    signer = identities()[sig["signer"]]
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer["ed25519_public_hex"]))
    message, signature = bytes.fromhex(sig["message_hex"]), bytes.fromhex(sig["signature_hex"])
    key.verify(signature, message)
    # Ed25519 is deterministic: the same seed signs to the same bytes.
    seed = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(signer["ed25519_seed_hex"]))
    assert seed.sign(message) == signature
    from cryptography.exceptions import InvalidSignature

    with pytest.raises(InvalidSignature):
        key.verify(bytes([signature[0] ^ 1]) + signature[1:], message)


def test_x25519_agreement_both_ways() -> None:
    a, b = (identities()[n] for n in VECTORS["agreement"]["between"])
    want = VECTORS["agreement"]["shared_secret_hex"]
    for mine, theirs in [(a, b), (b, a)]:
        priv = X25519PrivateKey.from_private_bytes(bytes.fromhex(mine["x25519_secret_hex"]))
        pub = X25519PublicKey.from_public_bytes(bytes.fromhex(theirs["x25519_public_hex"]))
        assert priv.exchange(pub).hex() == want


def _rotl32(v: int, c: int) -> int:
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha §2.2): `cryptography` has ChaCha20-Poly1305 but not
    the extended-nonce variant, so the test derives XChaCha20's subkey itself."""
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))

    def qr(a: int, b: int, c: int, d: int) -> None:
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl32(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl32(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xFFFFFFFF
        s[d] = _rotl32(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xFFFFFFFF
        s[b] = _rotl32(s[b] ^ s[c], 7)

    columns_then_diagonals = [
        (0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
        (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14),
    ]  # fmt: skip
    for _ in range(10):
        for a, b, c, d in columns_then_diagonals:
            qr(a, b, c, d)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def test_hchacha20_matches_the_draft_vector() -> None:
    # draft-irtf-cfrg-xchacha-03 §2.2.1.
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    want = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    assert hchacha20(key, nonce).hex() == want


def test_backup_decrypts_with_argon2id_and_xchacha20poly1305() -> None:
    argon2 = pytest.importorskip("cryptography.hazmat.primitives.kdf.argon2")
    b = VECTORS["backup"]
    armored = b["armored"].splitlines()
    assert armored[0] == "-----BEGIN FTPCHAT IDENTITY BACKUP-----"
    assert armored[-1] == "-----END FTPCHAT IDENTITY BACKUP-----"
    assert all(len(line) <= 64 for line in armored[1:-1])
    blob = base64.b64decode("".join(armored[1:-1]), validate=True)
    assert len(blob) == 154
    magic, version, kdf, memory, passes, lanes = struct.unpack(">4sBBIII", blob[:18])
    salt, nonce, check = blob[18:34], blob[34:58], blob[58:74]
    assert (magic, version, kdf) == (b"ftcb", 1, 1)
    assert (memory, passes, lanes) == (b["memory_kib"], b["iterations"], b["parallelism"])
    assert salt.hex() == b["salt_hex"] and nonce.hex() == b["nonce_hex"]
    derived = argon2.Argon2id(
        salt=salt, length=64, iterations=passes, lanes=lanes, memory_cost=memory
    ).derive(b["passphrase"].encode("utf-8"))
    assert derived[32:48] == check
    subkey = hchacha20(derived[:32], nonce[:16])
    plain = ChaCha20Poly1305(subkey).decrypt(b"\x00" * 4 + nonce[16:], blob[74:], blob[:74])
    owner = identities()[b["identity"]]
    assert plain.hex() == owner["ed25519_seed_hex"] + owner["x25519_secret_hex"]
