"""CSRF on unsafe requests of a cookie session (not of an API token), API tokens from creation to
revocation, and what a member may not do."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.integration.served import ADMIN, ADMIN_PASSWORD, MEMBER, MEMBER_PASSWORD, AppWorld

from mailtrail.auth.errors import NotFound
from mailtrail.auth.tokens import create_token, revoke_token
from mailtrail.db import transaction
from mailtrail.models import ApiToken


def _token(world: AppWorld, name: str = "Salesforce sync", role: str = "member") -> str:
    with transaction(world.runtime.sessions) as session:
        return create_token(session, world.workspace_id, name, now=world.clock.now(), role=role).token


def test_unsafe_requests_of_a_cookie_session_need_the_csrf_token(world: AppWorld) -> None:
    with world.client() as http:
        csrf = world.sign_in(http, MEMBER, MEMBER_PASSWORD).json()["csrf_token"]
        assert http.get("/test/notes").status_code == 200  # reading needs none

        missing = http.post("/test/notes")
        assert missing.status_code == 403
        assert missing.json()["error"]["code"] == "csrf_failed"
        wrong = http.post("/test/notes", headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403

        assert http.post("/test/notes", headers={"X-CSRF-Token": csrf}).status_code == 200
        # A page's form sends it as a field.
        assert http.post("/test/notes", data={"csrf_token": csrf, "text": "hello"}).status_code == 200
        assert http.post("/test/notes", data={"text": "no token"}).status_code == 403

    with world.client() as other:
        # Another session's token does not fit this one.
        world.sign_in(other, ADMIN, ADMIN_PASSWORD)
        assert other.post("/test/notes", headers={"X-CSRF-Token": csrf}).status_code == 403


def test_an_api_token_needs_no_csrf_token(world: AppWorld) -> None:
    token = _token(world)
    with world.client(headers={"Authorization": f"Bearer {token}"}) as http:
        posted = http.post("/test/notes")
        assert posted.status_code == 200
        assert posted.json() == {"written_by": None, "workspace": world.workspace_id, "via": "token"}


def test_an_api_token_is_shown_once_stored_hashed_used_then_revoked(world: AppWorld) -> None:
    with transaction(world.runtime.sessions) as session:
        new = create_token(session, world.workspace_id, "Warehouse export", now=world.clock.now())
    token = new.token
    assert token.startswith(f"mt_{new.row.prefix}_")
    with world.runtime.sessions() as session:
        row = session.scalars(select(ApiToken)).one()
        # The secret is nowhere in the database; a list shows the prefix only.
        assert token not in (row.token_hash, row.prefix, row.name)
        assert token.split("_", 2)[2] not in row.token_hash
        assert row.last_used_at is None

    with world.client(headers={"Authorization": f"Bearer {token}"}) as http:
        me = http.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json() == {
            "user": None,
            "workspace": {"id": world.workspace_id, "name": "cs"},
            "role": "member",
            "via": "token",
            "csrf_token": None,
        }
        with world.runtime.sessions() as session:
            assert session.scalars(select(ApiToken.last_used_at)).one() == world.clock.now()

        with transaction(world.runtime.sessions) as session:
            revoke_token(session, world.workspace_id, f"mt_{new.row.prefix}", world.clock.now())
        refused = http.get("/api/v1/me")
        assert refused.status_code == 401
        assert refused.json()["error"] == {
            "code": "unauthenticated",
            "message": f"API token mt_{new.row.prefix} was revoked on 2026-03-02 (UTC)",
        }


def test_a_damaged_or_made_up_token_is_refused(world: AppWorld) -> None:
    token = _token(world)
    damaged = token[:-1] + ("A" if token[-1] != "A" else "B")
    for value, message in (
        (damaged, "this API token is not known: check that it was copied whole"),
        ("mt_00000000_" + "x" * 43, "this API token is not known: check that it was copied whole"),
        ("letmein", "this is not a mailtrail API token (they look like mt_<8 hex digits>_<secret>)"),
    ):
        with world.client(headers={"Authorization": f"Bearer {value}"}) as http:
            answer = http.get("/api/v1/me")
            assert answer.status_code == 401
            assert answer.json()["error"]["message"] == message
            assert answer.headers["www-authenticate"].startswith("Bearer")
    with world.client(headers={"Authorization": f"Basic {token}"}) as http:
        assert http.get("/api/v1/me").status_code == 401


def test_a_member_cannot_do_what_needs_an_admin(world: AppWorld) -> None:
    with world.client() as member:
        csrf = world.sign_in(member, MEMBER, MEMBER_PASSWORD).json()["csrf_token"]
        refused = member.post("/test/settings", headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403
        assert refused.json() == {
            "error": {"code": "forbidden", "message": "only an admin of the workspace can do this"}
        }
    with world.client() as admin:
        csrf = world.sign_in(admin, ADMIN, ADMIN_PASSWORD).json()["csrf_token"]
        done = admin.post("/test/settings", headers={"X-CSRF-Token": csrf})
        assert done.status_code == 200
        assert done.json()["role"] == "admin"
    # A token has the role it was given.
    with world.client(headers={"Authorization": f"Bearer {_token(world, role='member')}"}) as reader:
        assert reader.post("/test/settings").status_code == 403
    with world.client(headers={"Authorization": f"Bearer {_token(world, 'Admin bot', 'admin')}"}) as bot:
        assert bot.post("/test/settings").json() == {"changed_by": None, "role": "admin"}


def test_a_token_is_its_workspaces_only(world: AppWorld) -> None:
    other = world.workspace("emea", ["ourco.de"])
    with transaction(world.runtime.sessions) as session:
        theirs = create_token(session, other, "EMEA export", now=world.clock.now())
    with world.client(headers={"Authorization": f"Bearer {theirs.token}"}) as http:
        assert http.get("/api/v1/me").json()["workspace"]["name"] == "emea"
    # Nor can one workspace revoke another's token by its prefix.
    with pytest.raises(NotFound, match="no API token"), transaction(world.runtime.sessions) as session:
        revoke_token(session, world.workspace_id, f"mt_{theirs.row.prefix}", world.clock.now())
    with world.client(headers={"Authorization": f"Bearer {theirs.token}"}) as http:
        assert http.get("/api/v1/me").status_code == 200


def test_signing_out_a_token_says_to_revoke_it(world: AppWorld) -> None:
    with world.client(headers={"Authorization": f"Bearer {_token(world)}"}) as http:
        answer = http.delete("/api/v1/session")
        assert answer.status_code == 400
        assert "revoked" in answer.json()["error"]["message"]
