"""Signing in with address and password, as a browser does it over HTTP: the cookie, who am I, expiry
(idle and absolute), signing out, disabled users, and one workspace's user never seeing another's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.integration.served import ADMIN, ADMIN_PASSWORD, MEMBER, MEMBER_PASSWORD, AppWorld, serve_world

from mailtrail.auth.users import disable_user, find_user
from mailtrail.db import transaction
from mailtrail.models import User, WebSession


def test_sign_in_sets_an_http_only_lax_cookie_and_me_says_who(world: AppWorld) -> None:
    with world.client() as http:
        answer = world.sign_in(http, "Ada@OurCo.com", ADMIN_PASSWORD)
        assert answer.status_code == 201
        body = answer.json()
        assert body["user"]["email"] == ADMIN
        assert body["role"] == "admin"
        assert body["workspace"]["name"] == "cs"
        assert body["via"] == "session"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("mailtrail_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert "Path=/" in cookie
        # Development on this machine over http: a Secure cookie would never come back.
        assert "Secure" not in cookie

        me = http.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["user"]["email"] == ADMIN
        assert me.json()["csrf_token"] == body["csrf_token"]
        # The token is in the cookie only: the database holds its hash.
        token = http.cookies["mailtrail_session"]
        with world.runtime.sessions() as session:
            stored = session.scalars(select(WebSession.token_hash)).all()
        assert token not in stored
        assert len(stored) == 1


def test_a_form_post_signs_in_too(world: AppWorld) -> None:
    with world.client() as http:
        answer = http.post("/api/v1/session", data={"email": MEMBER, "password": MEMBER_PASSWORD})
        assert answer.status_code == 201
        assert http.get("/api/v1/me").json()["role"] == "member"


@pytest.mark.parametrize(
    ("email", "password"),
    [(ADMIN, "not the password"), ("nobody@ourco.com", ADMIN_PASSWORD), (MEMBER, ADMIN_PASSWORD)],
)
def test_a_wrong_address_or_password_is_refused_alike(world: AppWorld, email: str, password: str) -> None:
    with world.client() as http:
        answer = world.sign_in(http, email, password)
        assert answer.status_code == 401
        assert answer.json() == {
            "error": {"code": "sign_in_failed", "message": "wrong email address or password"}
        }
        assert "set-cookie" not in answer.headers
        assert http.get("/api/v1/me").status_code == 401


def test_malformed_sign_ins_say_what_is_missing(world: AppWorld) -> None:
    with world.client() as http:
        missing = http.post("/api/v1/session", json={"email": ADMIN})
        assert missing.status_code == 400
        assert missing.json()["error"] == {"code": "invalid_request", "message": "missing: password"}
        bad = world.sign_in(http, "not-an-address", "whatever password")
        assert bad.status_code == 400
        assert "not an email address" in bad.json()["error"]["message"]
        garbage = http.post("/api/v1/session", content=b"{", headers={"content-type": "application/json"})
        assert garbage.status_code == 400


def test_another_site_cannot_post_a_sign_in(world: AppWorld) -> None:
    with world.client() as http:
        forged = http.post(
            "/api/v1/session",
            data={"email": ADMIN, "password": ADMIN_PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        assert forged.json()["error"]["code"] == "csrf_failed"
        own = http.post(
            "/api/v1/session",
            json={"email": ADMIN, "password": ADMIN_PASSWORD},
            headers={"Origin": world.base},
        )
        assert own.status_code == 201


def test_without_a_session_every_endpoint_answers_401_json(world: AppWorld) -> None:
    with world.client() as http:
        for method, path in (("GET", "/api/v1/me"), ("POST", "/test/notes"), ("DELETE", "/api/v1/session")):
            answer = http.request(method, path)
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "unauthenticated"
            assert "sign in" in answer.json()["error"]["message"]
    with world.client(cookies={"mailtrail_session": "made-up"}) as forger:
        forged = forger.get("/api/v1/me")
        assert forged.status_code == 401
        assert forged.json()["error"]["message"].startswith("this session has ended")


def test_a_session_slides_while_used_and_ends_after_twelve_idle_hours(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, ADMIN, ADMIN_PASSWORD)
        for _ in range(3):  # 33 hours of use, never more than 11 hours apart
            world.clock.advance(hours=11)
            assert http.get("/api/v1/me").status_code == 200
        world.clock.advance(hours=12, seconds=1)
        idle = http.get("/api/v1/me")
        assert idle.status_code == 401
        assert idle.json()["error"]["message"] == (
            "this session has expired (it was not used for 12 hours): sign in again"
        )


def test_a_session_ends_fourteen_days_after_sign_in_however_much_it_is_used(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, ADMIN, ADMIN_PASSWORD)
        ends = world.clock.now() + timedelta(days=14)
        step = timedelta(hours=11, minutes=59)  # used twice a day, never idle for 12 hours
        while world.clock.now() + step < ends:
            world.clock.advance(step.total_seconds())
            assert http.get("/api/v1/me").status_code == 200
        world.clock.advance(step.total_seconds())
        old = http.get("/api/v1/me")
        assert old.status_code == 401
        assert (
            old.json()["error"]["message"]
            == "this session has expired (sessions last 14 days): sign in again"
        )


def test_sign_out_ends_the_session_and_clears_the_cookie(world: AppWorld) -> None:
    with world.client() as http:
        csrf = world.sign_in(http, ADMIN, ADMIN_PASSWORD).json()["csrf_token"]
        token = http.cookies["mailtrail_session"]
        refused = http.delete("/api/v1/session")  # no CSRF token
        assert refused.status_code == 403
        out = http.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert 'mailtrail_session=""' in out.headers["set-cookie"]
        assert "Max-Age=0" in out.headers["set-cookie"]
    with world.client(cookies={"mailtrail_session": token}) as replay:
        # The old cookie, kept by someone, no longer works.
        assert replay.get("/api/v1/me").status_code == 401


def test_a_disabled_user_is_signed_out_and_cannot_sign_in(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, MEMBER, MEMBER_PASSWORD)
        with transaction(world.runtime.sessions) as session:
            disable_user(session, find_user(session, world.workspace_id, MEMBER))
        assert http.get("/api/v1/me").status_code == 401
        again = world.sign_in(http, MEMBER, MEMBER_PASSWORD)
        assert again.status_code == 403
        assert again.json()["error"]["code"] == "sign_in_refused"
        assert "disabled by an admin" in again.json()["error"]["message"]


def test_sign_in_records_when(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, MEMBER, MEMBER_PASSWORD)
    with world.runtime.sessions() as session:
        user = session.scalars(select(User).where(User.email == MEMBER)).one()
    assert user.last_sign_in_at == world.clock.now()


def test_a_user_sees_only_their_own_workspace(world: AppWorld) -> None:
    other = world.workspace("emea", ["ourco.de"])
    # The same address in another workspace, with another password: two users, two workspaces.
    world.add_user(ADMIN, "emea admin password", "admin", workspace_id=other)
    with world.client() as cs, world.client() as emea:
        assert world.sign_in(cs, ADMIN, ADMIN_PASSWORD).json()["workspace"]["name"] == "cs"
        signed = world.sign_in(emea, ADMIN, "emea admin password")
        assert signed.json()["workspace"] == {"id": other, "name": "emea"}
        assert cs.get("/api/v1/me").json()["workspace"]["id"] == world.workspace_id
        assert emea.get("/api/v1/me").json()["workspace"]["id"] == other
        # A workspace named at sign-in is the only one tried.
        wrong = world.sign_in(cs, ADMIN, ADMIN_PASSWORD, workspace="emea")
        assert wrong.status_code == 401
        # Nothing in a request can point a session at another workspace.
        csrf = cs.get("/api/v1/me").json()["csrf_token"]
        note = cs.post(
            f"/test/notes?workspace_id={other}", headers={"X-CSRF-Token": csrf}, json={"workspace": other}
        )
        assert note.json()["workspace"] == world.workspace_id


@pytest.fixture
def public_world(db_url: str) -> Iterator[AppWorld]:
    """The app as deployed behind https at a public name (served here over http all the same)."""
    yield from serve_world(db_url, lambda _base: {"public_url": "https://mailtrail.ourco.com"})


def test_cookies_are_secure_when_mailtrail_is_public(public_world: AppWorld) -> None:
    with public_world.client() as http:
        answer = public_world.sign_in(http, ADMIN, ADMIN_PASSWORD)
        assert answer.status_code == 201
        cookie = answer.headers["set-cookie"]
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie


def test_signing_in_again_in_a_browser_ends_its_earlier_session(world: AppWorld) -> None:
    with world.client() as http:
        world.sign_in(http, MEMBER, MEMBER_PASSWORD)
        earlier = http.cookies["mailtrail_session"]
        world.sign_in(http, ADMIN, ADMIN_PASSWORD)
        assert http.get("/api/v1/me").json()["user"]["email"] == ADMIN
    with world.client(cookies={"mailtrail_session": earlier}) as kept:
        assert kept.get("/api/v1/me").status_code == 401
    with world.runtime.sessions() as session:
        assert len(session.scalars(select(WebSession.id)).all()) == 1
