"""Property names of Microsoft Graph types, from the npm package ``@microsoft/microsoft-graph-types``.

The suite reads ``graph-types.json`` beside this file: the interfaces the emulator serves, extracted once
from a pinned version of the package and committed with that version, so no test needs npm. ``make
graph-types`` runs this file as a script to regenerate it (it fetches the package with ``npm pack``).
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@microsoft/microsoft-graph-types@2.43.1"
EXTRACTED = Path(__file__).with_name("graph-types.json")
# The interfaces the emulator serves (their base interfaces are kept too).
WANTED = (
    "Message", "MailFolder", "Recipient", "EmailAddress", "ItemBody", "InternetMessageHeader", "User",
    "Subscription", "ChangeNotification", "ChangeNotificationCollection", "FollowupFlag",
)  # fmt: skip

_INTERFACE = re.compile(r"^export interface (\w+)(?: extends (\w+))? \{$")
_PROPERTY = re.compile(r"^\s+(\w+)\??:")

Interfaces = dict[str, tuple[str | None, list[str]]]


def interfaces(text: str) -> Interfaces:
    """``{name: (base interface, own property names)}`` of every exported interface in a ``.d.ts`` text."""
    found: Interfaces = {}
    current: str | None = None
    for line in text.splitlines():
        if current is None:
            match = _INTERFACE.match(line)
            if match:
                current = match[1]
                found[current] = (match[2], [])
            continue
        if line.startswith("}"):
            current = None
            continue
        prop = _PROPERTY.match(line)
        if prop:
            found[current][1].append(prop[1])
    return found


def properties(table: Interfaces, name: str) -> set[str]:
    """Own and inherited property names of one interface."""
    names: set[str] = set()
    while name:
        base, own = table[name]
        names |= set(own)
        name = base or ""
    return names


def load() -> tuple[str, Interfaces]:
    """The package version and the interfaces committed in ``graph-types.json``."""
    data = json.loads(EXTRACTED.read_text(encoding="utf-8"))
    table = {name: (entry["extends"], entry["properties"]) for name, entry in data["interfaces"].items()}
    return data["package"], table


def extract(text: str) -> dict[str, object]:
    """The JSON document for the wanted interfaces and their bases."""
    table = interfaces(text)
    kept: dict[str, dict[str, object]] = {}
    for name in WANTED:
        while name and name not in kept:
            base, own = table[name]
            kept[name] = {"extends": base, "properties": own}
            name = base or ""
    return {"package": PACKAGE, "interfaces": dict(sorted(kept.items()))}


def regenerate() -> Path:
    """Fetch the pinned package with npm and rewrite ``graph-types.json``."""
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=work, check=True, capture_output=True)
        tarball = next(Path(work).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            member = archive.extractfile("package/microsoft-graph.d.ts")
            if member is None:
                raise SystemExit(f"{tarball.name} has no microsoft-graph.d.ts")
            text = member.read().decode("utf-8")
    EXTRACTED.write_text(json.dumps(extract(text), indent=1) + "\n", encoding="utf-8")
    return EXTRACTED


if __name__ == "__main__":
    print(f"wrote {regenerate()} from {PACKAGE}")
