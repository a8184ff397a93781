"""A world for sign-in tests: mailtrail's app served over real HTTP on the test database (SQLite or
PostgreSQL), a workspace with company domain ourco.com, and a manual clock that the app reads.

A few routes are added to the app for the tests only, to use the dependencies as the API's endpoints will:
``POST /test/notes`` (any signed-in user, ``CurrentUser``) and ``POST /test/settings`` (``AdminUser``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
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
from mailtrail.auth.dependencies import AdminUser, CurrentUser
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


def probe_router() -> APIRouter:
    """Routes that use the dependencies as real endpoints will."""
    router = APIRouter()

    @router.post("/test/notes")
    def write_note(user: CurrentUser) -> dict[str, Any]:
        return {"written_by": user.user_id, "workspace": user.workspace_id, "via": user.via}

    @router.get("/test/notes")
    def read_notes(user: CurrentUser) -> dict[str, Any]:
        return {"workspace": user.workspace_id}

    @router.post("/test/settings")
    def change_settings(user: AdminUser) -> dict[str, Any]:
        return {"changed_by": user.user_id, "role": user.role}

    return router


@dataclass
class AuthWorld:
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
) -> Iterator[AuthWorld]:
    """An AuthWorld; ``settings(public URL)`` gives settings to add (the identity providers), ``clock`` the
    clock to share with them; without ``populate`` the database is left as it is (no workspace ``cs``)."""
    clock = clock or ManualClock(START)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {"public_url": base, "secret_keys": SecretStr(Fernet.generate_key().decode())}
    config = Settings(database_url=db_url, **{**values, **(settings(base) if settings else {})})
    runtime = Runtime.from_settings(config, db_url, clock=clock.now)
    world = AuthWorld(clock, runtime, base, 0)
    if populate:
        world.workspace_id = world.workspace("cs", ["ourco.com"])
        world.add_user(ADMIN, ADMIN_PASSWORD, "admin")
        world.add_user(MEMBER, MEMBER_PASSWORD, "member")
    app = create_app(runtime, jobs="none")
    app.include_router(probe_router())
    server = RunningApp(app, port)
    server.start()
    try:
        yield world
    finally:
        server.stop()
        runtime.database.dispose()


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 with cheap parameters: a real hash takes up to half a second on a small machine, and these
    tests hash and verify hundreds of times. tests/unit/auth tests the real parameters."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def world(db_url: str) -> Iterator[AuthWorld]:
    yield from serve_world(db_url)
