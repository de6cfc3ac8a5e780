"""The API reference (pdoc, built by `.ci/python-tests.sh`) documents every public name:
classes, functions, methods, properties, fields and constants, the native module's
included (their docstrings come from the Rust `///` comments)."""

from __future__ import annotations

import ftpchat
import pdoc.doc
import pytest


def undocumented(namespace: pdoc.doc.Namespace[object]) -> list[str]:
    members = (
        namespace.own_members
        if isinstance(namespace, pdoc.doc.Class)
        else list(namespace.members.values())
    )
    missing = []
    for member in members:
        if member.name.startswith("_"):
            continue
        if not member.docstring.strip():
            missing.append(member.qualname)
        if isinstance(member, pdoc.doc.Class):
            missing += undocumented(member)
    return missing


# pdoc warns about annotations it cannot resolve: they would show as plain text.
@pytest.mark.filterwarnings("error")
def test_every_public_name_has_a_docstring() -> None:
    module = pdoc.doc.Module(ftpchat)
    names = set(module.members)
    # Everything exported is in the reference, the asyncio API and the native classes too.
    assert set(ftpchat.__all__) - {"__version__"} <= names
    assert {"open_async", "AsyncRoom", "Updates", "Room", "Watch"} <= names
    assert undocumented(module) == []
    # The native methods' docstrings are the Rust ones.
    room = module.members["Room"]
    assert isinstance(room, pdoc.doc.Class)
    assert "Queues `text` for sending" in room.members["send"].docstring
