"""Who reads what: mail permissions, application access policies, users without a mailbox, /users paging."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import httpx
import msal
import pytest
from tests.sandbox.graph.conftest import ADA, BOB, GraphServer, make_raw

from mailtrail.sandbox.clock import ManualClock
from mailtrail.sandbox.graph.access import ApplicationAccessPolicy
from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, create_graph_app
from mailtrail.sandbox.graph.tls import trusting_session
from mailtrail.sandbox.server import RunningApp
from mailtrail.sandbox.store import Tenant

DENIED = "Access is denied. Check credentials and try again."
MAIL_READ = ["https://graph.microsoft.com/Mail.Read"]


def test_token_without_mail_permission_is_denied(graph: GraphServer) -> None:
    token = graph.token_for("directory-only-app", "User.Read.All")
    with graph.client(token) as client:
        answer = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox/messages")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "ErrorAccessDenied"
    assert answer.json()["error"]["message"] == DENIED


def test_read_basic_gives_no_body_and_no_mime(graph: GraphServer) -> None:
    graph.tenant.deliver(make_raw("Basic only", body="A confidential body."), [ADA])
    token = graph.token_for("basic-app", "Mail.ReadBasic.All")
    with graph.client(token) as client:
        listing = client.get(f"/v1.0/users/{ADA}/messages").json()["value"]
        selected = client.get(f"/v1.0/users/{ADA}/messages", params={"$select": "subject,body"})
        mime = client.get(f"/v1.0/users/{ADA}/messages/{listing[0]['id']}/$value")

    assert listing[0]["subject"] == "Basic only"
    assert {"body", "bodyPreview", "uniqueBody"}.isdisjoint(listing[0])
    assert set(selected.json()["value"][0]) == {"@odata.etag", "id", "subject"}
    assert mime.status_code == 403
    assert mime.json()["error"]["message"] == DENIED


def test_writes_need_mail_read_write(graph: GraphServer) -> None:
    stored = graph.tenant.deliver(make_raw("Keep me"), [ADA])[0]
    with graph.client(graph.app_token()) as client:  # the sandbox app has Mail.Read only
        msg_id = client.get(f"/v1.0/users/{ADA}/messages").json()["value"][0]["id"]
        create = client.post(f"/v1.0/users/{ADA}/mailFolders/inbox/messages", json={"subject": "No"})
        move = client.post(f"/v1.0/users/{ADA}/messages/{msg_id}/move", json={"destinationId": "archive"})
        delete = client.delete(f"/v1.0/users/{ADA}/messages/{msg_id}")

    assert [r.status_code for r in (create, move, delete)] == [403, 403, 403]
    assert all(r.json()["error"]["code"] == "ErrorAccessDenied" for r in (create, move, delete))
    assert graph.tenant.mailbox(ADA).get(stored.id).folder_id == stored.folder_id


def test_access_policy_set_when_the_app_is_made_keeps_the_app_to_its_mailboxes() -> None:
    tenant = Tenant(ManualClock())
    for address in (ADA, BOB):
        tenant.add_mailbox(address)
    # The dev token is an app-only token of the app "sandbox-dev-token".
    policy = ApplicationAccessPolicy("sandbox-dev-token", frozenset({ADA}), "RestrictAccess")
    running = RunningApp(create_graph_app(tenant, dev_token="dev", access_policies=[policy]))
    running.start()
    try:
        with httpx.Client(base_url=running.base_url, headers={"Authorization": "Bearer dev"}) as client:
            allowed = client.get(f"/v1.0/users/{ADA}/messages")
            refused = client.get(f"/v1.0/users/{BOB}/messages")
    finally:
        running.stop()
    assert allowed.status_code == 200
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    assert refused.json()["error"]["message"] == "Access to OData is disabled."


def test_access_policy_scripted_over_http_denies_chosen_mailboxes(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        added = client.post(
            "/sandbox/graph/application-access-policies",
            json={"appId": SANDBOX_CLIENT_ID, "mailboxes": [BOB], "accessRight": "DenyAccess"},
        )
        ada = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox")
        bob = client.get(f"/v1.0/users/{BOB}/mailFolders/inbox")
        other_app = graph.token_for("other-app", "Mail.Read")
        bob_for_other_app = client.get(
            f"/v1.0/users/{BOB}/mailFolders/inbox", headers={"Authorization": f"Bearer {other_app}"}
        )
        listed = client.get("/sandbox/graph/application-access-policies").json()["value"]
        cleared = client.delete("/sandbox/graph/application-access-policies")
        bob_again = client.get(f"/v1.0/users/{BOB}/mailFolders/inbox")

    assert added.status_code == 201
    assert ada.status_code == 200
    assert bob.status_code == 403
    assert bob.json()["error"]["code"] == "ErrorAccessDenied"
    assert bob_for_other_app.status_code == 200
    assert listed == [{"appId": SANDBOX_CLIENT_ID, "mailboxes": [BOB], "accessRight": "DenyAccess"}]
    assert cleared.status_code == 204
    assert bob_again.status_code == 200


def test_user_without_a_mailbox_is_listed_but_has_no_mail(graph: GraphServer) -> None:
    with graph.client(graph.app_token()) as client:
        added = client.post("/sandbox/graph/users", json={"userPrincipalName": "carl@example.com"})
        users = [u["userPrincipalName"] for u in client.get("/v1.0/users").json()["value"]]
        messages = client.get("/v1.0/users/carl@example.com/messages")
        by_id = client.get(f"/v1.0/users/{added.json()['id']}/mailFolders/inbox")

    assert added.status_code == 201
    assert users == [ADA, BOB, "carl@example.com"]
    for answer in (messages, by_id):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
        assert (
            answer.json()["error"]["message"]
            == "The mailbox is either inactive, soft-deleted, or is hosted on-premise."
        )


def test_users_come_in_pages_of_100(graph: GraphServer) -> None:
    for n in range(150):
        graph.sandbox.identity.add_user(f"user{n:03d}@example.com")
    seen: list[str] = []
    pages = 0
    with graph.client(graph.app_token()) as client:
        url: str | None = "/v1.0/users?$select=userPrincipalName"
        while url:
            body = client.get(url).json()
            seen += [u["userPrincipalName"] for u in body["value"]]
            pages += 1
            assert len(body["value"]) <= 100
            url = body.get("@odata.nextLink")
        first = client.get("/v1.0/users").json()
        everyone = client.get("/v1.0/users", params={"$top": "999"}).json()
        too_big = client.get("/v1.0/users", params={"$top": "1000"})
        skipped = client.get("/v1.0/users", params={"$skip": "10"})

    assert pages == 2
    assert len(seen) == len(set(seen)) == 152
    assert len(first["value"]) == 100
    assert "$skiptoken=" in first["@odata.nextLink"]
    assert len(everyone["value"]) == 152
    assert "@odata.nextLink" not in everyone
    assert too_big.status_code == 400
    assert too_big.json()["error"]["message"] == (
        "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive."
    )
    assert skipped.status_code == 400
    assert skipped.json()["error"]["message"] == "'$skip' is not supported by the service."


def _sign_in(graph: GraphServer, app: msal.ConfidentialClientApplication, user: str) -> dict[str, object]:
    """The auth code flow through the sandbox's consent page; returns msal's token response."""
    flow = app.initiate_auth_code_flow(scopes=MAIL_READ, redirect_uri="http://localhost", login_hint=user)
    form = dict(parse_qsl(urlsplit(flow["auth_uri"]).query))
    with graph.client() as client:
        consent = client.post(
            urlsplit(flow["auth_uri"]).path, data={**form, "user": user, "decision": "accept"}
        )
    answer = dict(parse_qsl(urlsplit(consent.headers["location"]).query))
    result: dict[str, object] = app.acquire_token_by_auth_code_flow(flow, answer)
    assert "refresh_token" in result, result
    return result


@pytest.mark.parametrize(("aadsts", "error"), [(50076, "interaction_required"), (65001, "invalid_grant")])
def test_refresh_needing_interaction_fails_until_the_user_signs_in_again(
    graph: GraphServer, aadsts: int, error: str
) -> None:
    app = msal.ConfidentialClientApplication(
        SANDBOX_CLIENT_ID,
        client_credential=SANDBOX_CLIENT_SECRET,
        authority=graph.authority,
        instance_discovery=False,
        http_client=trusting_session(graph.cert.cert_file),
    )
    first = _sign_in(graph, app, ADA)
    with graph.client() as client:
        injected = client.post("/sandbox/graph/interaction-required", json={"user": ADA, "aadsts": aadsts})
    refused = app.acquire_token_by_refresh_token(str(first["refresh_token"]), MAIL_READ)
    again = _sign_in(graph, app, ADA)  # the interactive sign-in the error asks for
    refreshed = app.acquire_token_by_refresh_token(str(again["refresh_token"]), MAIL_READ)

    assert injected.json()["refreshTokens"] == 1
    assert refused["error"] == error
    assert refused["error_codes"] == [aadsts]
    assert refused["error_description"].startswith(f"AADSTS{aadsts}:")
    assert "access_token" in refreshed, refreshed
