"""Microsoft sign-in with msal against the sandbox's identity platform: a user's consent and its renewals, the
app with a secret or a certificate, and refusals in words (revoked, multi-factor, consent withdrawn)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from mailtrail.providers.base import AccessRevoked, ProviderError
from mailtrail.providers.microsoft import (
    MAIL_READ,
    AppTokens,
    DelegatedGrant,
    DelegatedTokens,
    GraphClient,
    admin_consent_url,
    finish_connect,
    start_connect,
)
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID

from .conftest import ANN, BO, CERT_APP, FAST, REDIRECT, Graph, Saved, connect, consent, make_certificate

pytestmark = pytest.mark.anyio


async def _inbox(graph: Graph, tokens: DelegatedTokens | AppTokens, user: str = "me") -> int:
    client = GraphClient(graph.base, tokens, retry=FAST, user=user, ca_file=graph.ca_file)
    try:
        body = await client.get(client.mailbox_url("/mailFolders/inbox"), "reading the inbox")
    finally:
        await client.aclose()
    return int(body["totalItemCount"])


async def test_a_user_connects_and_the_grant_renews_itself(graph: Graph) -> None:
    connected = await connect(graph, ANN)
    assert connected.address == ANN
    assert MAIL_READ in connected.scopes
    assert connected.tenant_id == graph.sandbox.tenant_id
    # The stored grant is msal's cache: it holds the refresh token, so it is a secret (never in repr).
    stored = connected.grant.dump()
    assert json.loads(json.loads(stored)["cache"])["RefreshToken"]
    assert "RefreshToken" not in repr(connected) + repr(connected.grant)
    saved = Saved()
    tokens = DelegatedTokens(graph.app(), stored, on_change=saved, retry=FAST)
    inbox = len([m for m in graph.tenant.mailbox(ANN).messages() if "INBOX" in m.labels])
    assert await _inbox(graph, tokens) == inbox
    # An hour later on Graph's clock the access token is expired, while msal (on the wall clock) still
    # holds it: Graph's 401 makes the client redeem the refresh token, and the new grant is handed over.
    graph.clock.advance(hours=2)
    assert await _inbox(graph, tokens) == inbox
    assert saved.states
    renewed = DelegatedGrant.load(saved.states[-1])
    assert renewed.account == connected.grant.account
    assert renewed.cache != connected.grant.cache  # a new refresh token replaces the old one


async def test_the_consent_flow_is_checked(graph: Graph) -> None:
    app = graph.app()
    started = await start_connect(app, REDIRECT, login_hint=BO)
    query = parse_qs(urlsplit(started.auth_uri).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["response_mode"] == ["form_post"]
    assert query["state"] == [started.state]
    answer = await consent(graph, started.auth_uri, BO)
    with pytest.raises(ProviderError, match="does not belong to this connect flow"):
        await finish_connect(app, started.flow, {**answer, "state": "forged"})
    declined = await start_connect(app, REDIRECT)
    refused = await consent(graph, declined.auth_uri, BO, decision="cancel")
    with pytest.raises(ProviderError, match=r"did not grant access \(access_denied, AADSTS65004"):
        await finish_connect(app, declined.flow, refused)


async def test_a_revoked_grant_is_access_revoked_in_words(graph: Graph) -> None:
    tokens = DelegatedTokens(graph.app(), (await connect(graph, ANN)).grant, retry=FAST)
    user = graph.sandbox.identity.find_user(ANN)
    assert user is not None
    graph.sandbox.identity.revoke_user_grants(user)
    with pytest.raises(AccessRevoked, match=r"sign-in was revoked .*\(AADSTS50173\): connect the mailbox"):
        await tokens.refresh()


@pytest.mark.parametrize(
    ("aadsts", "words"),
    [
        (50076, "now requires multi-factor authentication"),
        (50079, "register for multi-factor authentication"),
        (65001, "withdrew consent for mailtrail"),
    ],
)
async def test_interaction_required_is_access_revoked_until_the_user_signs_in_again(
    graph: Graph, aadsts: int, words: str
) -> None:
    tokens = DelegatedTokens(graph.app(), (await connect(graph, ANN)).grant, retry=FAST)
    user = graph.sandbox.identity.find_user(ANN)
    assert user is not None
    assert graph.sandbox.identity.require_interaction(user, aadsts) == 1
    with pytest.raises(AccessRevoked, match=rf"{words}.* \(AADSTS{aadsts}\): connect the mailbox again"):
        await tokens.refresh()
    # Signing in again gives a grant that works.
    again = DelegatedTokens(graph.app(), (await connect(graph, ANN)).grant, retry=FAST)
    assert await _inbox(graph, again) >= 0


async def test_an_unreadable_grant_asks_for_a_new_connection(graph: Graph) -> None:
    with pytest.raises(AccessRevoked, match="connect the mailbox again"):
        DelegatedTokens(graph.app(), "not a grant")


async def test_the_app_reads_any_mailbox_with_its_secret(graph: Graph) -> None:
    tokens = AppTokens(graph.app(), retry=FAST)
    assert await _inbox(graph, tokens, user=BO) == len(
        [m for m in graph.tenant.mailbox(BO).messages() if "INBOX" in m.labels]
    )
    first = await tokens.access_token()
    assert await tokens.refresh() != first  # a refused token is replaced, not served from msal's cache
    wrong = AppTokens(graph.app(credential="not-the-secret"), retry=FAST)
    with pytest.raises(AccessRevoked, match=r"client secret is wrong.*\(AADSTS7000215\)"):
        await wrong.access_token()


async def test_the_app_reads_mailboxes_with_a_certificate(graph: Graph, tmp_path: Path) -> None:
    credential, certificate = make_certificate(tmp_path)
    graph.sandbox.identity.register_app(
        CERT_APP, None, app_permissions=frozenset({"Mail.Read", "User.Read.All"}), certificates=(certificate,)
    )
    tokens = AppTokens(graph.app(CERT_APP, credential), retry=FAST)
    assert await _inbox(graph, tokens, user=ANN) > 0
    other, _ = make_certificate(tmp_path, "not registered")
    stranger = AppTokens(graph.app(CERT_APP, other), retry=FAST)
    with pytest.raises(AccessRevoked, match=r"certificate is not registered.*\(AADSTS700027\)"):
        await stranger.access_token()


async def test_an_app_unknown_in_the_tenant_needs_admin_consent(graph: Graph) -> None:
    tokens = AppTokens(graph.app("00000000-0000-0000-0000-00000000beef", "secret"), retry=FAST)
    with pytest.raises(AccessRevoked, match=r"must grant it admin consent \(AADSTS700016\)"):
        await tokens.access_token()


def test_the_admin_consent_address() -> None:
    url = admin_consent_url(SANDBOX_CLIENT_ID, "contoso.example", "https://mailtrail.example/ms", "s1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://login.microsoftonline.com/contoso.example/v2.0/adminconsent"
    )
    assert parse_qs(parts.query) == {
        "client_id": [SANDBOX_CLIENT_ID],
        "scope": ["https://graph.microsoft.com/.default"],
        "redirect_uri": ["https://mailtrail.example/ms"],
        "state": ["s1"],
    }
