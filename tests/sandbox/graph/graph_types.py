"""Read interface property names from ``@microsoft/microsoft-graph-types`` (``microsoft-graph.d.ts``).

The package is not part of the repository: the first test that needs it fetches the pinned version with
``npm pack`` (the npm registry is reachable wherever the suite runs) into a cache directory that git ignores
(``$MAILTRAIL_GRAPH_TYPES_DIR``, default ``.cache/`` at the top of the repository).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_INTERFACE = re.compile(r"^export interface (\w+)(?: extends (\w+))? \{$")
_PROPERTY = re.compile(r"^\s+(\w+)\??:")


PACKAGE = "@microsoft/microsoft-graph-types@2.43.1"


def cache_dir() -> Path:
    default = Path(__file__).resolve().parents[3] / ".cache" / PACKAGE.replace("/", "_")
    return Path(os.environ.get("MAILTRAIL_GRAPH_TYPES_DIR", default))


def definitions_file() -> Path:
    return cache_dir() / "package" / "microsoft-graph.d.ts"


def interfaces(text: str) -> dict[str, tuple[str | None, list[str]]]:
    """``{name: (base interface, own property names)}`` of every exported interface."""
    found: dict[str, tuple[str | None, list[str]]] = {}
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


def properties(table: dict[str, tuple[str | None, list[str]]], name: str) -> set[str]:
    """Own and inherited property names of one interface."""
    names: set[str] = set()
    while name:
        base, own = table[name]
        names |= set(own)
        name = base or ""
    return names


def fetch() -> Path:
    """Download the package with npm into the cache directory; returns the .d.ts path."""
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["npm", "pack", "--silent", PACKAGE], cwd=work, check=True, capture_output=True)
        tarball = next(Path(work).glob("*.tgz"))
        with tarfile.open(tarball) as archive:
            archive.extractall(target, filter="data")
    return definitions_file()


if __name__ == "__main__":
    print(fetch() if len(sys.argv) == 1 else definitions_file())
