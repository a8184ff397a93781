"""The command-line boundary every command shares: the database from the environment, one transaction that
commits at the end, and user errors printed as one line on stderr with exit code 1 (no traceback).

Use in a command::

    with workspace_session(workspace) as (session, ws):
        ...                        # raise CliError("what is wrong") for a user error
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from mailtrail.config import Settings
from mailtrail.crm.errors import CrmError
from mailtrail.crm.workspaces.service import find_workspace
from mailtrail.db import make_engine, normalise_url, session_factory, transaction
from mailtrail.migrate import upgrade
from mailtrail.models import Workspace


class CliError(Exception):
    """A user error raised by a command: shown as ``error: MESSAGE`` on stderr, exit code 1."""


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn ``CliError`` and ``CrmError`` raised inside into one message on stderr and exit code 1."""
    try:
        yield
    except (CliError, CrmError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def database_url() -> str:
    """The database URL, read from the environment now (``config.get_settings`` is cached per process)."""
    return normalise_url(Settings().database_url)


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def open_engine(*, create: bool = False) -> Engine:
    """An engine on the configured database; without ``create``, a missing SQLite file is a ``CliError``."""
    url = database_url()
    path = sqlite_path(url)
    if path is not None:
        if create and not path.parent.is_dir():
            raise CliError(f"cannot create the database {path}: the directory {path.parent} does not exist")
        if not create and not path.is_file():
            raise CliError(f"no database at {path}: run `mailtrail init --workspace NAME` first")
    return make_engine(url)


@contextmanager
def database_session(*, create: bool = False) -> Iterator[Session]:
    """One session in one transaction on the configured database; commits when the block ends normally."""
    engine = open_engine(create=create)
    try:
        with transaction(session_factory(engine)) as session:
            yield session
    except OperationalError as exc:
        raise CliError(_database_problem(exc)) from None
    finally:
        engine.dispose()


@contextmanager
def workspace_session(workspace: str | None) -> Iterator[tuple[Session, Workspace]]:
    """The session and the chosen workspace (``--workspace NAME``, or the only one); commits at the end.

    ``CliError`` and ``CrmError`` raised in the block become one message on stderr and exit code 1.
    """
    with cli_errors(), database_session() as session:
        yield session, chosen_workspace(session, workspace)


def chosen_workspace(session: Session, workspace: str | None) -> Workspace:
    """The workspace a command works on; an unreachable or uninitialised database is a ``CliError``."""
    connect(session)
    try:
        return find_workspace(session, workspace)
    except (OperationalError, ProgrammingError) as exc:
        raise CliError(
            f"the database {shown_url(database_url())} is not initialised ({_first_line(exc)}): "
            "run `mailtrail init --workspace NAME` first"
        ) from None


def connect(session: Session) -> None:
    """Open the session's connection now, so that an unreachable database is named as such."""
    try:
        session.connection()
    except OperationalError as exc:
        raise CliError(
            f"cannot connect to the database {shown_url(database_url())}: {_first_line(exc)}"
        ) from None


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema (a no-op when it is up to date); a failure is a ``CliError``."""
    try:
        upgrade(engine)
    except OperationalError as exc:
        raise CliError(
            f"cannot migrate the database {shown_url(database_url())}: {_first_line(exc)}"
        ) from None


def _database_problem(exc: OperationalError) -> str:
    return f"database {shown_url(database_url())}: {_first_line(exc)}"


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
