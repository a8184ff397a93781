"""A throwaway PostgreSQL server for the test suite: ``initdb`` into a temporary folder, started on a free
loopback port, stopped and removed at the end.

``initdb`` refuses to run as root, and CI and the developers' machines run as root: then the server runs
as the unprivileged user ``nobody``. The data folder lives under the system's temporary folder (not
pytest's, whose folders only their owner may enter).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGE = "postgresql"
UNPRIVILEGED_USER = "nobody"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine, or the throwaway server would not start."""


def find_bindir() -> Path:
    """The folder with ``initdb``, ``pg_ctl`` and ``postgres``: ``$MAILTRAIL_PG_BINDIR`` when set, else the
    one of ``initdb`` on the ``PATH``, else Debian's versioned folders (newest first)."""
    chosen = os.environ.get("MAILTRAIL_PG_BINDIR")
    if chosen:
        candidates = [Path(chosen)]  # an explicit choice is the only one looked at
    else:
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).resolve().parent] if on_path else []
        versions = glob.glob("/usr/lib/postgresql/*/bin")
        candidates += sorted((Path(p) for p in versions), key=lambda p: _version(p.parent.name), reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install the Debian package "
        f"'{DEBIAN_PACKAGE}' (apt-get install {DEBIAN_PACKAGE}), set MAILTRAIL_PG_BINDIR to their folder, "
        "or set MAILTRAIL_TEST_DATABASE_URL to a server of your own"
    )


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ThrowawayPostgres:
    """A running server; ``url`` names its ``postgres`` database as the superuser ``postgres``."""

    bindir: Path
    folder: Path
    port: int
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            user=self.user,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def start(self) -> None:
        init = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                         "--locale=C", "--no-sync")  # fmt: skip
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        # Durability is worthless for a database that is removed at the end; speed is not.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        started = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                            "-l", str(self.folder / "server.log"), "-o", options)  # fmt: skip
        if started.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
            raise PostgresUnavailable(f"the throwaway PostgreSQL server did not start: {tail.strip()}")

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.folder, ignore_errors=True)


def _new_folder(user: str | None) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="mailtrail-pg-"))
    if user is not None:
        shutil.chown(folder, user)
    return folder


def start_throwaway() -> ThrowawayPostgres:
    """Start a server of our own; the caller stops (and so removes) it with ``stop()``."""
    bindir = find_bindir()
    user = UNPRIVILEGED_USER if os.geteuid() == 0 else None
    attempts = 3
    for attempt in range(1, attempts + 1):
        server = ThrowawayPostgres(bindir, _new_folder(user), _free_port(), user)
        try:
            server.start()
            return server
        except PostgresUnavailable:
            # Another process may have taken the port between the probe and the start: try another.
            server.stop()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
