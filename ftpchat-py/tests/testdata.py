"""The shared test data: the folder the Rust tests read (`ftpchat-core/tests/testdata`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TESTDATA = Path(__file__).resolve().parents[2] / "ftpchat-core" / "tests" / "testdata"


def jsonl(name: str) -> list[dict[str, Any]]:
    """The objects of a .jsonl file in the test data."""
    lines = (TESTDATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
