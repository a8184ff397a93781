"""Shared fixtures: a real database per test, SQLite by default, PostgreSQL with ``--postgres`` (``make test``
runs the database tests on both).

``--postgres`` uses the server that MAILTRAIL_TEST_DATABASE_URL names, else starts a throwaway server from the
machine's PostgreSQL binaries (see ``tests/pgserver.py``) and removes it at the end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from tests.pgserver import PostgresUnavailable, find_bindir, start_throwaway

from mailtrail.db import make_engine, session_factory
from mailtrail.migrate import upgrade
from mailtrail.models import Base

CORPORA = Path(__file__).resolve().parent / "corpora"
DB_FIXTURES = {"db_url", "engine", "session", "sessions"}
URL_VARIABLE = "MAILTRAIL_TEST_DATABASE_URL"
JOB_QUEUE_TABLES = ("procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers",
                    "procrastinate_workers")  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--postgres",
        action="store_true",
        help=f"run the database tests on PostgreSQL: ${URL_VARIABLE}, else a throwaway server",
    )


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--postgres") and not os.environ.get(URL_VARIABLE):
        try:
            find_bindir()
        except PostgresUnavailable as error:
            raise pytest.UsageError(str(error)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test that touches the database also runs on PostgreSQL; what only PostgreSQL has (the job queue)
    is tested in the PostgreSQL half alone."""
    postgres = config.getoption("--postgres")
    kept, dropped = [], []
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)
        (dropped if item.get_closest_marker("postgres_only") and not postgres else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(scope="session")
def corpora() -> Path:
    if not CORPORA.is_dir():
        pytest.fail(f"the test corpora are missing: expected them at {CORPORA}")
    return CORPORA


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _postgres_url(pytestconfig: pytest.Config) -> Iterator[str | None]:
    if not pytestconfig.getoption("--postgres"):
        yield None
        return
    url = os.environ.get(URL_VARIABLE)
    server = None
    if not url:
        server = start_throwaway()
        url = server.url
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    engine.dispose()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture
def db_url(_postgres_url: str | None, _sqlite_template: Path, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if _postgres_url is None:
        path = tmp_path / "mailtrail.db"
        shutil.copy(_sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    yield _postgres_url
    engine = make_engine(_postgres_url)
    # The job queue's tables too: a job one test left must not run in the next.
    tables = ", ".join([*(t.name for t in Base.metadata.sorted_tables), *JOB_QUEUE_TABLES])
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session
