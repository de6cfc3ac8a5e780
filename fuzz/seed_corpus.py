#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, generated from ftpchat-core/tests/testdata.

Usage: seed_corpus.py TESTDATA_DIR CORPUS_DIR

Writes one directory per target under CORPUS_DIR (existing files are kept, so corpora
grown by earlier runs stay). Standard library only. Inputs of targets that read
"data || 8-byte seed" (see fuzz_targets/common/mod.rs) get 8 seed bytes appended.
"""

import base64
import hashlib
import json
import os
import sys
import zlib

SEEDS = [bytes(8), bytes(range(8)), b"\xff" * 8, b"splits!!"]


def jsonl(testdata, name):
    with open(os.path.join(testdata, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag, value):
    return varint(tag) + varint(len(value)) + value


def native_fields(v):
    """The TLV fields of a native-v2.jsonl record (SPEC.md §8.2-8.3)."""
    return b"".join(
        [
            field(1, bytes.fromhex(v["record_id"])),
            field(2, bytes.fromhex(v["room_id"])),
            field(3, bytes.fromhex(v["writer_id"])),
            field(4, varint(v["seq"])),
            field(5, varint(v["hlc"])),
            field(6, v["sender"].encode("utf-8")),
            field(7, varint(v["kind"])),
            field(8, bytes.fromhex(v["body_hex"])),
        ]
    )


def header(room_hex, salt, iterations, key_check, eol="\n", extra=""):
    b64 = base64.urlsafe_b64encode(salt).decode()
    lines = [
        "ftpchat-room 1",
        f"room-id: {room_hex}",
        "kdf: pbkdf2-sha256",
        f"salt: {b64}",
        f"iterations: {iterations}",
        f"key-check: {key_check}",
    ]
    if extra:
        lines.append(extra)
    return (eol.join(lines) + eol).encode()


def main():
    testdata, corpus = sys.argv[1], sys.argv[2]
    legacy = jsonl(testdata, "legacy-v1.5.jsonl")
    v16 = jsonl(testdata, "ftpchat-1.6.jsonl")
    native = jsonl(testdata, "native-v2.jsonl")
    fernet = jsonl(testdata, "fernet.jsonl")
    with open(os.path.join(testdata, "legacy-v1.5-chat.txt"), "rb") as f:
        chat = f.read()

    legacy_lines = [v["line"].encode() for v in legacy]
    v16_lines = [v["line"].encode() for v in v16]
    native_lines = [v["line"].encode() for v in native]
    tokens = [v["token"].encode() for v in fernet]

    # Whole files: the real chat file, each vector set as a file, and a mixed one with CRLF,
    # blank lines, a non-record line, NUL bytes and a torn last line.
    mixed = b""
    for i, line in enumerate(legacy_lines[:6] + v16_lines[:6] + native_lines):
        mixed += line + (b"\r\n" if i % 3 == 0 else b"\n")
        if i % 5 == 0:
            mixed += b"\n\r\nnot a record \x00\xff\n"
    mixed += native_lines[0][:40]
    files = [
        chat,
        b"\n".join(legacy_lines[:12]) + b"\n",
        b"\n".join(v16_lines) + b"\n",
        b"\n".join(native_lines) + b"\n",
        mixed,
        b"a\r\n\nbb\n\r\nccc",
    ]
    seeded_files = [f + s for f in files for s in SEEDS[:2]]

    # Native payloads: stored and compressed, plus bare fields and broken variants.
    payloads = []
    for v in native:
        fields = native_fields(v)
        payloads += [
            b"\x01\x00" + fields,
            b"\x01\x01" + zlib.compress(fields, 6),
            fields,
            b"\x01\x00" + fields + field(99, b"future"),
            b"\x01\x00" + fields[: len(fields) // 2],
        ]
    payloads += [b"", b"\x01", b"\x02\x00", b"\x01\x02"]

    room_hex = native[0]["room_id"]
    key_check = v16[0]["line"]
    headers = [
        header(room_hex, b"ftpchat", 100000, key_check),
        header(room_hex, bytes(range(16)), 600000, key_check, eol="\r\n"),
        header(room_hex, b"", 1, key_check, extra="future-field: yes"),
        header(room_hex, b"s", 4000000000000, key_check),
        b"ftpchat-room 9\n",
        b"hello",
    ]

    codec_inputs = []
    for line in legacy_lines[:20] + v16_lines + tokens:
        codec_inputs.append(line + SEEDS[0])
    for v in v16[:6]:
        codec_inputs.append(zlib.compress(v["plaintext"].encode(), 6) + SEEDS[1])
        codec_inputs.append(v["plaintext"].encode() + SEEDS[2])
    codec_inputs.append(b"\xff\xfe invalid utf-8" + SEEDS[3])

    # room_sync reads op codes (see fuzz_targets/room_sync.rs): a few op mixes.
    ops = [
        bytes([0, 8, 16, 3, 6, 0x80, 4, 5, 7, 3, b"\n"[0], 1, 2]) + SEEDS[0],
        bytes(range(40)) + SEEDS[1],
        bytes([0, 0, 3, 3, 0x83, 7, 4, 10, 13, 0, 1]) + SEEDS[2],
    ]

    # Device identities (SPEC.md §16): public identity texts, the armored backup, and
    # broken variants of both.
    with open(os.path.join(testdata, "identity-v1.json"), encoding="utf-8") as f:
        identity = json.load(f)
    publics = [v["public_identity"] for v in identity["identities"]]
    backup = identity["backup"]["armored"]
    identity_texts = [t.encode() for t in publics + [backup]] + [
        publics[0][:-1].encode(),
        (publics[0] + "==").encode(),
        backup.replace("\n", "\r\n").encode(),
        backup[: len(backup) // 2].encode(),
        b"ftpchat-id1:",
    ]

    with open(os.path.join(testdata, "membership-v1.json"), encoding="utf-8") as f:
        membership = json.load(f)
    commits = [bytes.fromhex(c["commit_hex"]) for c in membership["commits"]]
    membership_inputs = commits + [
        commits[-1][:-1],
        b"ftpchat://join?v=1&room=" + b"07" * 16 + b"&anchor=" + b"00" * 32
        + b"&role=member&key=" + b"A" * 86 + b"&at=ftp%3A%2F%2Fhost%2Fr",
    ]

    # Signed records (SPEC.md §8.6, signed-records-v1.json): mode byte, then a line (0) or a
    # payload (1: bare; 2: sealed under epoch 1's key, 0x83: under epoch 300's).
    with open(os.path.join(testdata, "signed-records-v1.json"), encoding="utf-8") as f:
        signed = json.load(f)
    prefix = len(signed["domains"]["signature"]) + 1
    signed_inputs = []
    for v in signed["records"]:
        line = v["line"].encode()
        fields = bytes.fromhex(v["signed_message_hex"])[prefix:] + field(
            15, bytes.fromhex(v["signature_hex"])
        )
        sealed = b"\x83" if v["epoch"] == 300 else b"\x02"
        signed_inputs += [
            b"\x00" + line,
            b"\x00" + line[:-10],
            b"\x01\x02\x00" + fields,
            b"\x01\x02\x01" + zlib.compress(fields, 6),
            b"\x01\x02\x00" + fields[:-66],
            b"\x01\x02\x00" + fields + field(16, b"after"),
            sealed + b"\x02\x00" + fields,
            sealed + b"\x02\x01" + zlib.compress(fields, 6),
        ]
    signed_inputs += [b"\x00" + v["line"].encode() for v in signed["invalid"]]
    signed_inputs += [b"\x00ftc3:1:", b"\x00ftc3:01:gAAAAA", b"\x01\x02", b"\x02\x01\x00"]

    # Attachments (SPEC.md §8.4.3, attachments-v1.json): mode 0 + a body; mode 1 + a file
    # size (4 bytes, little-endian) + a blob.
    with open(os.path.join(testdata, "attachments-v1.json"), encoding="utf-8") as f:
        attachments = json.load(f)
    attachment_inputs = [b"\x00" + bytes.fromhex(c["body_hex"]) for c in attachments["cases"]]
    attachment_inputs += [b"\x00" + bytes.fromhex(m["body_hex"]) for m in attachments["malformed"]]
    attachment_inputs += [
        b"\x01" + c["size"].to_bytes(4, "little") + bytes.fromhex(c["blob_hex"])
        for c in attachments["cases"]
        if "blob_hex" in c
    ]

    targets = {
        "attachment": attachment_inputs,
        "framing_split": seeded_files,
        "decode_lines": seeded_files + [l + SEEDS[3] for l in native_lines + v16_lines],
        "file_reader_split": seeded_files,
        "native_payload": payloads,
        "room_header": headers,
        "legacy_and_fernet": codec_inputs,
        "room_sync": ops,
        "identity_text": identity_texts,
        "membership_commit": membership_inputs,
        "signed_record": signed_inputs,
    }
    total = 0
    for target, inputs in targets.items():
        out = os.path.join(corpus, target)
        os.makedirs(out, exist_ok=True)
        for data in inputs:
            name = hashlib.sha1(data).hexdigest()
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            total += 1
    print(f"seeded {total} inputs for {len(targets)} targets into {corpus}")


if __name__ == "__main__":
    main()
