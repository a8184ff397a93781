"""mailtrail's app served over real HTTP on the test database (SQLite or PostgreSQL), for the tests of its
endpoints and pages: a workspace ``cs`` with company domain ourco.com, an admin and a member, and a manual
clock that the app reads.

```python
@pytest.fixture
def world(db_url: str) -> Iterator[AppWorld]:
    yield from serve_world(db_url)

def test_accounts(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, ADMIN, ADMIN_PASSWORD)     # the session cookie, and world.csrf(http) for writes
```

``cheap_hashing`` (autouse it in a conftest) makes argon2 cheap: a real hash takes up to half a second on a
small machine.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from fastapi import APIRouter
from pydantic import SecretStr

from mailtrail.api.app import create_app
from mailtrail.auth import passwords
from mailtrail.auth.tokens import create_token
from mailtrail.auth.users import add_user
from mailtrail.config import Settings
from mailtrail.crm.workspaces.service import create_workspace
from mailtrail.db import transaction
from mailtrail.models import User
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.server import RunningApp
from mailtrail.sync.runtime import Runtime

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN, MEMBER = "ada@ourco.com", "max@ourco.com"
ADMIN_PASSWORD, MEMBER_PASSWORD = "correct horse battery", "member password 1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class AppWorld:
    """The served app, its runtime and clock, and the workspace ``cs`` with an admin and a member."""

    clock: ManualClock
    runtime: Runtime
    base: str
    workspace_id: int

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client with its own cookie jar (one browser)."""
        return httpx.Client(base_url=self.base, timeout=30, **kwargs)

    def sign_in(self, http: httpx.Client, email: str, password: str, **extra: str) -> httpx.Response:
        return http.post("/api/v1/session", json={"email": email, "password": password, **extra})

    @contextmanager
    def signed_in(self, email: str = ADMIN, password: str = ADMIN_PASSWORD) -> Iterator[httpx.Client]:
        """A browser signed in as ``email`` that sends the session's CSRF token with each request."""
        with self.client() as http:
            answer = self.sign_in(http, email, password)
            assert answer.status_code == 201, answer.text
            http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
            yield http

    @contextmanager
    def with_token(self, role: str = "member", workspace_id: int = 0) -> Iterator[httpx.Client]:
        """A program with a new API token of ``role`` for the workspace."""
        with transaction(self.runtime.sessions) as session:
            made = create_token(
                session, workspace_id or self.workspace_id, f"{role} program", now=self.clock.now(), role=role
            )
        with self.client(headers={"Authorization": f"Bearer {made.token}"}) as http:
            yield http

    def add_user(self, email: str, password: str | None, role: str = "member", workspace_id: int = 0) -> User:
        with transaction(self.runtime.sessions) as session:
            return add_user(
                session, workspace_id or self.workspace_id, email, now=self.clock.now(), role=role,
                password=password,
            )  # fmt: skip

    def workspace(self, name: str, domains: list[str]) -> int:
        with transaction(self.runtime.sessions) as session:
            return create_workspace(session, name, domains).id


def serve_world(
    db_url: str,
    settings: Callable[[str], dict[str, Any]] | None = None,
    clock: ManualClock | None = None,
    populate: bool = True,
    routers: Sequence[APIRouter] = (),
) -> Iterator[AppWorld]:
    """An AppWorld; ``settings(public URL)`` gives settings to add (the identity providers), ``clock`` the
    clock to share with them; without ``populate`` the database is left as it is (no workspace ``cs``);
    ``routers`` are added to the app (routes for a test only)."""
    clock = clock or ManualClock(START)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {"public_url": base, "secret_keys": SecretStr(Fernet.generate_key().decode())}
    config = Settings(database_url=db_url, **{**values, **(settings(base) if settings else {})})
    runtime = Runtime.from_settings(config, db_url, clock=clock.now)
    world = AppWorld(clock, runtime, base, 0)
    if populate:
        world.workspace_id = world.workspace("cs", ["ourco.com"])
        world.add_user(ADMIN, ADMIN_PASSWORD, "admin")
        world.add_user(MEMBER, MEMBER_PASSWORD, "member")
    app = create_app(runtime, jobs="none")
    for router in routers:
        app.include_router(router)
    server = RunningApp(app, port)
    server.start()
    try:
        yield world
    finally:
        server.stop()
        runtime.database.dispose()


def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with cheap parameters: a real hash takes up to half a second on a small machine, and these tests
    hash and verify hundreds of times (tests/unit/auth tests the real parameters)."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
