"""Signing in with Google and with Microsoft, against the Gmail and Graph sandboxes over HTTP: their consent
pages, their token endpoints, real ID tokens checked against the keys at their JWKS URLs."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from tests.integration.served import ADMIN, START, AppWorld, serve_world

from mailtrail.auth import oidc
from mailtrail.auth.errors import SignInRefused
from mailtrail.auth.users import disable_user, find_user
from mailtrail.db import transaction
from mailtrail.models import User
from mailtrail.providers.gmail.auth import pkce_pair
from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.faults import FaultPlan
from mailtrail.sandbox.gmail.app import create_gmail_app
from mailtrail.sandbox.gmail.oauth import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from mailtrail.sandbox.graph.app import create_graph_app
from mailtrail.sandbox.graph.tls import make_loopback_certificate
from mailtrail.sandbox.quota import GMAIL_DEFAULT_POLICY, GRAPH_POLICY
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant

MS_CLIENT_ID, MS_SECRET = "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f", "mailtrail-sign-in-secret"
OTHER_APP = "someone-elses-app.apps.googleusercontent.com"
COLLEAGUE, OUTSIDER, PERSONAL = "dan@ourco.com", "eve@partner.example", "pat@gmail.com"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass
class Providers:
    world: AppWorld
    google: str
    graph: str
    graph_sandbox: Any
    ca: ssl.SSLContext

    def browser(self) -> httpx.Client:
        """One browser: one cookie jar for mailtrail and the providers' pages."""
        return httpx.Client(timeout=30, verify=self.ca)


@pytest.fixture
def providers(db_url: str, tmp_path: Path) -> Iterator[Providers]:
    clock = ManualClock(START)
    tenant = Tenant(clock)
    for address in (ADMIN, COLLEAGUE, OUTSIDER, PERSONAL):
        tenant.add_mailbox(address)
    gmail = create_gmail_app(tenant, quota=GMAIL_DEFAULT_POLICY.disabled(), faults=FaultPlan(seed=1))
    gmail.state.sandbox.auth.register_client(OTHER_APP, "other-secret")
    graph = create_graph_app(tenant, quota=GRAPH_POLICY.disabled(), faults=FaultPlan(seed=2))
    loopback = make_loopback_certificate(tmp_path)
    google_server = RunningApp(gmail)
    graph_server = RunningApp(graph, tls=(str(loopback.cert_file), str(loopback.key_file)))
    google_server.start()
    graph_server.start()
    identity = graph.state.sandbox.identity
    g, m = google_server.base_url, graph_server.base_url

    def settings(public: str) -> dict[str, Any]:
        identity.register_app(MS_CLIENT_ID, MS_SECRET, (f"{public}/auth/microsoft/callback",))
        return {
            "google_client_id": DEFAULT_CLIENT_ID, "google_client_secret": SecretStr(DEFAULT_CLIENT_SECRET),
            "google_auth_url": f"{g}/o/oauth2/v2/auth", "google_token_url": f"{g}/token",
            "google_certs_url": f"{g}/oauth2/v3/certs",
            "microsoft_login_url": m, "microsoft_tenant": identity.tenant_id,
            "microsoft_client_id": MS_CLIENT_ID, "microsoft_client_secret": SecretStr(MS_SECRET),
            "microsoft_ca_file": loopback.cert_file,
        }  # fmt: skip

    try:
        # The sandboxes and mailtrail share one clock, as the real ones share the real time.
        for world in serve_world(db_url, settings, clock):
            yield Providers(
                world, g, m, graph.state.sandbox, ssl.create_default_context(cafile=loopback.cert_file)
            )
    finally:
        gmail.state.sandbox.push.close()
        google_server.stop()
        graph_server.stop()


def sign_in_with(
    p: Providers, browser: httpx.Client, provider: str, address: str, next_path: str = "/"
) -> httpx.Response:
    """Click "Sign in with ...", choose ``address`` on the provider's page, accept; mailtrail's answer."""
    start = browser.get(f"{p.world.base}/auth/{provider}/start", params={"next": next_path})
    assert start.status_code == 303, start.text
    flow_cookie = start.headers["set-cookie"]
    assert flow_cookie.startswith("mailtrail_sign_in=")
    assert "HttpOnly" in flow_cookie
    assert "Path=/auth/" in flow_cookie
    consent_url = start.headers["location"]
    query = parse_qs(urlsplit(consent_url).query)
    assert query["scope"] == ["openid email profile"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"][0]
    assert query["state"][0]
    page = browser.get(consent_url)
    fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
    if provider == "google":
        answer = browser.post(f"{p.google}/o/oauth2/v2/auth", data={**fields, "user": address})
    else:
        url = urlsplit(consent_url)._replace(query="").geturl()
        answer = browser.post(url, data={**fields, "user": address, "decision": "accept"})
    assert answer.status_code == 302, answer.text
    back = answer.headers["location"]
    assert back.startswith(f"{p.world.base}/auth/{provider}/callback?")
    return browser.get(back)


def _user(p: Providers, address: str) -> User | None:
    with p.world.runtime.sessions() as session:
        return session.query(User).filter_by(workspace_id=p.world.workspace_id, email=address).one_or_none()


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_colleague_signs_in_and_becomes_a_member(providers: Providers, provider: str) -> None:
    assert _user(providers, COLLEAGUE) is None
    with providers.browser() as browser:
        done = sign_in_with(providers, browser, provider, COLLEAGUE, next_path="/accounts/7")
        assert done.status_code == 303
        assert done.headers["location"] == "/accounts/7"
        session_cookie = [
            c for c in done.headers.get_list("set-cookie") if c.startswith("mailtrail_session=")
        ]
        assert len(session_cookie) == 1
        assert "HttpOnly" in session_cookie[0]
        me = browser.get(f"{providers.world.base}/api/v1/me").json()
        assert me["user"]["email"] == COLLEAGUE
        assert me["role"] == "member"
        assert me["workspace"]["name"] == "cs"
    created = _user(providers, COLLEAGUE)
    assert created is not None
    assert created.password_hash is None
    assert created.role == "member"
    # The next sign-in finds the same user rather than making another.
    with providers.browser() as browser:
        assert sign_in_with(providers, browser, provider, COLLEAGUE).status_code == 303
    with providers.world.runtime.sessions() as session:
        assert session.query(User).filter_by(email=COLLEAGUE).count() == 1


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_an_existing_admin_signs_in_as_admin(providers: Providers, provider: str) -> None:
    with providers.browser() as browser:
        assert sign_in_with(providers, browser, provider, ADMIN).status_code == 303
        assert browser.get(f"{providers.world.base}/api/v1/me").json()["role"] == "admin"


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_an_address_outside_the_company_domains_is_refused(providers: Providers, provider: str) -> None:
    with providers.browser() as browser:
        refused = sign_in_with(providers, browser, provider, OUTSIDER)
        assert refused.status_code == 403
        assert refused.json()["error"] == {
            "code": "sign_in_refused",
            "message": f"{OUTSIDER} is not an address of your company's domains in mailtrail: sign in with "
            "your work account, or ask an admin to add partner.example to the company domains",
        }
        assert "mailtrail_session" not in browser.cookies
        assert browser.get(f"{providers.world.base}/api/v1/me").status_code == 401
    assert _user(providers, OUTSIDER) is None


def test_a_personal_google_account_is_refused(providers: Providers) -> None:
    with providers.browser() as browser:
        refused = sign_in_with(providers, browser, "google", PERSONAL)
        assert refused.status_code == 403
        assert "is a personal Google account" in refused.json()["error"]["message"]


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_disabled_user_cannot_sign_in_with_a_provider(providers: Providers, provider: str) -> None:
    with transaction(providers.world.runtime.sessions) as session:
        admin = find_user(session, providers.world.workspace_id, ADMIN)
        admin.role = "member"  # so that disabling is allowed (an admin is kept otherwise)
        disable_user(session, admin)
    with providers.browser() as browser:
        refused = sign_in_with(providers, browser, provider, ADMIN)
        assert refused.status_code == 403
        assert "disabled by an admin" in refused.json()["error"]["message"]


def test_an_answer_without_this_browsers_flow_is_refused(providers: Providers) -> None:
    with providers.browser() as started, providers.browser() as other:
        start = started.get(f"{providers.world.base}/auth/google/start")
        page = started.get(start.headers["location"])
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        answer = started.post(f"{providers.google}/o/oauth2/v2/auth", data={**fields, "user": COLLEAGUE})
        # The answer is opened in another browser (a link sent to a victim, a login CSRF): refused.
        refused = other.get(answer.headers["location"])
        assert refused.status_code == 400
        assert "this browser did not start a sign-in" in refused.json()["error"]["message"]
        # In the right browser, but after ten minutes: refused too.
        providers.world.clock.advance(11 * 60)
        late = started.get(answer.headers["location"])
        assert late.status_code == 400
        assert "took too long" in late.json()["error"]["message"]
    assert _user(providers, COLLEAGUE) is None


def _google_id_token(p: Providers, client_id: str, secret: str, nonce: str) -> str:
    """A real ID token from the Gmail sandbox, asked for directly (not through mailtrail)."""
    verifier, challenge = pkce_pair()
    redirect = "http://127.0.0.1:9/callback"
    form = {"client_id": client_id, "redirect_uri": redirect, "scope": "openid email", "state": "s",
            "code_challenge": challenge, "code_challenge_method": "S256", "nonce": nonce,
            "user": COLLEAGUE}  # fmt: skip
    approved = httpx.post(f"{p.google}/o/oauth2/v2/auth", data=form)
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    body = httpx.post(f"{p.google}/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": client_id, "client_secret": secret,
        "redirect_uri": redirect, "code_verifier": verifier,
    }).json()  # fmt: skip
    return str(body["id_token"])


def _microsoft_id_token(p: Providers, client_id: str, secret: str, nonce: str) -> str:
    """A real ID token from the Graph sandbox's identity platform, asked for directly."""
    identity = p.graph_sandbox.identity
    redirect = "http://127.0.0.1/callback"
    if client_id not in identity.apps:
        identity.register_app(client_id, secret, (redirect,))
    app = identity.apps[client_id]
    code = identity.issue_code(
        app, identity.find_user(COLLEAGUE), redirect, "openid profile email", None, "plain", nonce
    )
    form = {"grant_type": "authorization_code", "code": code, "client_id": client_id, "client_secret": secret,
            "redirect_uri": redirect}  # fmt: skip
    body = httpx.post(f"{p.graph}/{identity.tenant_id}/oauth2/v2.0/token", data=form, verify=p.ca).json()
    return str(body["id_token"])


def _tampered(token: str, **changes: Any) -> str:
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_tampered_and_wrong_audience_id_tokens_are_refused(providers: Providers, provider: str) -> None:
    client = oidc.oidc_client(providers.world.runtime.settings, provider)
    now = providers.world.clock.now()
    issue = _google_id_token if provider == "google" else _microsoft_id_token
    ours = issue(providers, client.client_id, client.client_secret or "", "nonce-1")

    def verify(token: str, nonce: str = "nonce-1") -> oidc.Identity:
        return asyncio.run(oidc.verify_id_token(client, token, nonce, now))

    assert verify(ours).email.lower() == COLLEAGUE  # the genuine article passes
    name = oidc.NAMES[provider]
    claim = "email" if provider == "google" else "preferred_username"
    with pytest.raises(SignInRefused, match="signature does not match"):
        verify(_tampered(ours, **{claim: ADMIN}))
    with pytest.raises(SignInRefused, match="nonce"):
        verify(ours, nonce="another sign-in's nonce")
    other_client = OTHER_APP if provider == "google" else "0f0e0d0c-0b0a-4909-8807-060504030201"
    theirs = issue(providers, other_client, "other-secret", "nonce-1")
    with pytest.raises(
        SignInRefused, match=rf"{name}'s answer could not be verified \(it was issued to another app"
    ):
        verify(theirs)


def test_a_provider_that_is_not_set_up_says_so(world: AppWorld) -> None:
    with world.client() as http:
        answer = http.get("/auth/google/start")
        assert answer.status_code == 404
        assert answer.json()["error"] == {
            "code": "provider_not_configured",
            "message": "sign-in with Google is not set up here (MAILTRAIL_GOOGLE_CLIENT_ID)",
        }
        assert http.get("/auth/yahoo/start").status_code == 422
