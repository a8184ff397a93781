"""The world of the sign-in tests: the app served over HTTP (``tests/integration/served.py``), with a few
routes for the tests only that use the dependencies as the API's endpoints do: ``POST /test/notes`` (any
signed-in user, ``CurrentUser``) and ``POST /test/settings`` (``AdminUser``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from tests.integration.served import AppWorld, cheap_hashing, serve_world

from mailtrail.auth.dependencies import AdminUser, CurrentUser


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


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


@pytest.fixture
def world(db_url: str) -> Iterator[AppWorld]:
    yield from serve_world(db_url, routers=[probe_router()])
