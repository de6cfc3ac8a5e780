"""Edits, deletes and reactions (SPEC §8.4.1, vectors §8.8), re-derived from
`changes-v1.json` alone: each line decrypted and checked with Python's `cryptography`
(the signed-record decoder of `test_signed_vectors.py`), each body parsed as SPEC §8.4
says, and the rules of §8.4.1 written again here and applied in many orders, which must
give the published result. Needs neither the Rust extension nor a server."""

from __future__ import annotations

import base64
import json
from typing import Any

from test_signed_vectors import decode, parse_fields, exact_varint, verify
from testdata import TESTDATA

VECTORS: dict[str, Any] = json.loads((TESTDATA / "changes-v1.json").read_text("utf-8"))
MAX_REACTION_LEN = 64


def parse_body(kind: int, body: bytes) -> dict[str, Any]:
    """SPEC §8.4: kinds 2-4 carry a field list (target 16 bytes; text; removed 0/1)."""
    if kind == 1:
        return {"text": body.decode("utf-8")}
    seen: dict[int, bytes] = {}
    for tag, _, value in parse_fields(body):
        if tag in seen and tag in (1, 2, 3):
            raise ValueError("duplicate sub-field")
        seen[tag] = value
    out: dict[str, Any] = {"target": seen[1].hex()}
    assert len(seen[1]) == 16
    if kind in (2, 4):
        out["text"] = seen[2].decode("utf-8")
    if kind == 4:
        assert len(seen[2]) <= MAX_REACTION_LEN
        out["removed"] = exact_varint(seen[3], 3) == 1 if 3 in seen else False
    return out


def records() -> list[dict[str, Any]]:
    key = base64.urlsafe_b64decode(VECTORS["message_key"])
    room = bytes.fromhex(VECTORS["room_id"])
    authors = {x["device_hex"]: x["name"] for x in VECTORS["identities"]}
    out = []
    for v in VECTORS["records"]:
        r = decode(v["line"], {VECTORS["epoch"]: key}, room)
        verify(r)
        for k in ["record_id", "writer_id", "seq", "hlc", "sender", "kind", "body_hex"]:
            assert r[k] == v[k], (v["name"], k)
        r["author"] = authors[r["device_hex"]]
        r["body"] = parse_body(r["kind"], bytes.fromhex(r["body_hex"]))
        # Timeline order (SPEC §9.3): HLC, writer id, seq, record id.
        r["order"] = (r["hlc"], r["writer_id"], r["seq"], r["record_id"])
        out.append(r)
    return out


def apply(recs: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """SPEC §8.4.1, written from the text: the target's author alone edits or deletes;
    the newest edit (timeline order) wins; a delete is final and empties the message;
    each author's newest reaction replaces their earlier one; empty or removed withdraws;
    reactions are split on white space, grouped, most chosen first (ties: chosen first)."""
    texts = {r["record_id"]: r for r in recs if r["kind"] == 1}
    refused = []
    state: dict[str, dict[str, Any]] = {t: {"edits": {}, "deleted": False, "reactions": {}} for t in texts}
    for r in recs:
        if r["kind"] == 1:
            continue
        target = texts[r["body"]["target"]]
        s = state[target["record_id"]]
        if r["kind"] in (2, 3) and r["author"] != target["author"]:
            refused.append(r["record_id"])
            continue
        if r["kind"] == 2:
            s["edits"][r["order"]] = r["body"]["text"]
        elif r["kind"] == 3:
            s["deleted"] = True
        elif r["kind"] == 4:
            text = "" if r["body"]["removed"] else r["body"]["text"]
            old = s["reactions"].get(r["author"])
            if old is None or old[0] < r["order"]:
                s["reactions"][r["author"]] = (r["order"], text, r["sender"])
    result = {}
    for tid, t in texts.items():
        s = state[tid]
        if s["deleted"]:
            result[tid] = {"text": "", "edited": False, "deleted": True, "reactions": []}
            continue
        text = s["edits"][max(s["edits"])] if s["edits"] else t["body"]["text"]
        groups: dict[str, tuple[Any, list[str]]] = {}
        for order, reactions, sender in sorted(s["reactions"].values()):
            for reaction in dict.fromkeys(reactions.split()):
                first, senders = groups.setdefault(reaction, (order, []))
                senders.append(sender)
        ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1][1]), kv[1][0]))
        result[tid] = {
            "text": text,
            "edited": bool(s["edits"]),
            "deleted": False,
            "reactions": [{"reaction": k, "senders": v[1]} for k, v in ranked],
        }
    return result, sorted(refused)


def test_bodies_decode_as_spec_8_4_says() -> None:
    kinds = [r["kind"] for r in records()]
    assert sorted(set(kinds)) == [1, 2, 3, 4]
    removed = [r for r in records() if r["kind"] == 4 and r["body"]["removed"]]
    assert len(removed) == 1 and removed[0]["body"]["text"] == ""
    # The removed flag is written only when set (OPTIONAL, default 0).
    assert all(("0301" in r["body_hex"]) == r["body"]["removed"] for r in records() if r["kind"] == 4)


def test_the_rules_give_the_published_result_in_any_order() -> None:
    recs = records()
    n = len(recs)
    orders = [list(range(n)), list(range(n))[::-1]]
    orders += [[(i + s) % n for i in range(n)] for s in range(1, n)]
    orders += [[(i * 7 + s) % n for i in range(n)] for s in range(1, n)]
    for order in orders:
        result, refused = apply([recs[i] for i in order])
        assert result == VECTORS["expected"], order
        assert refused == sorted(VECTORS["refused"]), order
