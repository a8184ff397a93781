"""A fresh clone stands alone: it reads nothing outside itself, and the PostgreSQL half of the suite says in
one line what to install when the machine has no PostgreSQL server binaries."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
SKIPPED_FOLDERS = {".git", ".venv", ".cache", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis",
                   "demo-output", "build", "corpora", "__pycache__"}  # fmt: skip
# Written in pieces so that this file does not match itself.
OUTSIDE = re.compile(r"\.\./" + "shared" + r"|parents?(\[\d\])? / \"" + "shared" + '"')


def _project_files() -> list[Path]:
    found = []
    for folder, subfolders, files in os.walk(TOP):
        subfolders[:] = [s for s in subfolders if s not in SKIPPED_FOLDERS and not s.endswith(".egg-info")]
        found += [Path(folder, name) for name in files]
    return found


def test_nothing_in_the_repository_reads_a_folder_outside_it() -> None:
    readers = [
        str(path.relative_to(TOP))
        for path in _project_files()
        if path.suffix in {".py", ".toml", ".cfg", ".ini", ".sh", ""} or path.name == "Makefile"
        if OUTSIDE.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert readers == []


def test_the_test_corpora_are_in_the_repository() -> None:
    corpora = TOP / "tests" / "corpora"
    assert (corpora / "enron-inbox.tar.xz").stat().st_size > 20_000_000
    assert {p.name for p in (corpora / "malformed").iterdir()} == {"flanker", "mikel", "stalwart"}
    sources = (corpora / "SOURCES.md").read_text(encoding="utf-8")
    for origin in ("Enron", "stalwartlabs/mail-parser", "mikel/mail", "mailgun/flanker"):
        assert origin in sources


def test_without_postgresql_binaries_the_postgres_half_says_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILTRAIL_TEST_DATABASE_URL"}
    env["MAILTRAIL_PG_BINDIR"] = str(tmp_path / "no-postgres-here")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--postgres", "-m", "postgres",
         "tests/integration/test_migrations.py"],
        cwd=TOP, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    errors = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert len(errors) == 1, errors
    assert "no PostgreSQL server binaries" in errors[0]
    assert "apt-get install postgresql" in errors[0]
