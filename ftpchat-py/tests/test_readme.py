"""The README's examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2
    return blocks


def run(example: str, cwd: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-c", example], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    return out.stdout


def lines(example: str) -> int:
    return len([line for line in example.splitlines() if line.strip()])


def test_readme_example_runs_as_written(tmp_path: Path) -> None:
    example = examples()[0]
    assert lines(example) <= 10
    out = run(example, tmp_path)
    assert re.fullmatch(r"\d\d:\d\d Alice: Hello, Bob! \[confirmed\]\n", out), out


def test_readme_asyncio_example_runs_as_written(tmp_path: Path) -> None:
    example = examples()[1]
    assert "open_async" in example and "async for update in" in example
    assert lines(example) <= 16
    assert run(example, tmp_path) == "Alice: Hello, Bob!\n"
