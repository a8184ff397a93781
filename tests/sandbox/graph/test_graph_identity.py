"""msal, Microsoft's own library, gets tokens from the sandbox's identity platform; errors look like AAD's."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

import msal
from tests.sandbox.graph.conftest import ADA, BOB, GraphServer

from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from mailtrail.sandbox.graph.tls import trusting_session

GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]


def confidential(
    graph: GraphServer, secret: str = SANDBOX_CLIENT_SECRET
) -> msal.ConfidentialClientApplication:
    # msal only accepts an https authority; instance_discovery=False keeps it off login.microsoftonline.com.
    return msal.ConfidentialClientApplication(
        SANDBOX_CLIENT_ID,
        client_credential=secret,
        authority=graph.authority,
        instance_discovery=False,
        http_client=trusting_session(graph.cert.cert_file),
    )


class _FormReader(HTMLParser):
    """The consent page's form fields (hidden inputs and the user picker)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.users: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""
        if tag == "option":
            self.users.append(values.get("value") or "")


def test_client_credentials_token_reads_any_mailbox(graph: GraphServer) -> None:
    result = confidential(graph).acquire_token_for_client(scopes=GRAPH_DEFAULT)

    assert result.get("token_type") == "Bearer", result
    assert result["expires_in"] > 3000
    with graph.client(result["access_token"]) as client:
        assert client.get(f"/v1.0/users/{BOB}/mailFolders/inbox").status_code == 200


def test_wrong_secret_is_refused_with_the_aadsts_code(graph: GraphServer) -> None:
    result = confidential(graph, secret="not-the-secret").acquire_token_for_client(scopes=GRAPH_DEFAULT)

    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]
    assert result["error_description"].startswith("AADSTS7000215:")


def test_client_credentials_need_the_default_scope(graph: GraphServer) -> None:
    with graph.client() as client:
        response = graph.request_token(
            client, grant_type="client_credentials", scope="https://graph.microsoft.com/Mail.Read"
        )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert body["error_codes"] == [1002012]
    assert {"trace_id", "correlation_id", "timestamp", "error_uri"} <= body.keys()


def test_unknown_tenant_fails_discovery(graph: GraphServer) -> None:
    with graph.client() as client:
        response = client.get("/not-our-tenant/v2.0/.well-known/openid-configuration")
    assert response.status_code == 400
    assert response.json()["error_codes"] == [90002]


def test_expired_app_token_gets_invalid_authentication_token(graph: GraphServer) -> None:
    token = graph.app_token()
    graph.clock.advance(hours=1)

    with graph.client(token) as client:
        response = client.get(f"/v1.0/users/{ADA}/mailFolders")

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["message"] == "Lifetime validation failed, the token is expired."
    assert {"date", "request-id", "client-request-id"} <= error["innerError"].keys()


def test_app_without_mail_permission_is_denied(graph: GraphServer) -> None:
    graph.sandbox.identity.register_app(
        "no-mail-app", "its-secret", app_permissions=frozenset({"User.Read.All"})
    )
    app = msal.ConfidentialClientApplication(
        "no-mail-app",
        client_credential="its-secret",
        authority=graph.authority,
        instance_discovery=False,
        http_client=trusting_session(graph.cert.cert_file),
    )
    token = app.acquire_token_for_client(scopes=GRAPH_DEFAULT)["access_token"]

    with graph.client(token) as client:
        response = client.get(f"/v1.0/users/{ADA}/messages")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ErrorAccessDenied"


def test_authorization_code_with_pkce_then_refresh(graph: GraphServer) -> None:
    app = confidential(graph)
    flow = app.initiate_auth_code_flow(
        scopes=["https://graph.microsoft.com/Mail.Read"], redirect_uri="http://localhost", login_hint=ADA
    )
    assert "code_challenge" in flow["auth_uri"]
    with graph.client() as client:
        page = client.get(flow["auth_uri"])
        assert page.status_code == 200
        form = _FormReader()
        form.feed(page.text)
        assert form.users == [ADA, BOB]
        consent = client.post(
            urlsplit(flow["auth_uri"]).path, data={**form.fields, "user": ADA, "decision": "accept"}
        )
    assert consent.status_code == 302
    redirect = urlsplit(consent.headers["location"])
    assert f"{redirect.scheme}://{redirect.netloc}" == "http://localhost"
    auth_response = dict(parse_qsl(redirect.query))

    result = app.acquire_token_by_auth_code_flow(flow, auth_response)

    assert "access_token" in result, result
    assert "refresh_token" in result
    assert result["id_token_claims"]["preferred_username"] == ADA
    with graph.client(result["access_token"]) as client:
        assert client.get("/v1.0/me/mailFolders/inbox").status_code == 200
        # A delegated token reads its own mailbox only.
        assert client.get(f"/v1.0/users/{BOB}/mailFolders/inbox").status_code == 403

    graph.clock.advance(hours=2)  # the access token expired on the sandbox clock
    with graph.client(result["access_token"]) as client:
        assert client.get("/v1.0/me/messages").status_code == 401
    # msal judges expiry by the wall clock, so ask it to use the refresh token now.
    account = app.get_accounts(username=ADA)[0]
    refreshed = app.acquire_token_silent(
        ["https://graph.microsoft.com/Mail.Read"], account=account, force_refresh=True
    )

    assert refreshed is not None
    assert "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    with graph.client(refreshed["access_token"]) as client:
        assert client.get("/v1.0/me/messages").status_code == 200

    graph.sandbox.identity.revoke_user_grants(graph.sandbox.identity.find_user(ADA))  # type: ignore[arg-type]
    revoked = app.acquire_token_by_refresh_token(
        result["refresh_token"], ["https://graph.microsoft.com/Mail.Read"]
    )
    assert revoked["error"] == "invalid_grant"
    assert revoked["error_codes"] == [50173]


def test_pkce_verifier_must_match(graph: GraphServer) -> None:
    app = confidential(graph)
    flow = app.initiate_auth_code_flow(scopes=["Mail.Read"], redirect_uri="http://localhost")
    with graph.client() as client:
        form = _FormReader()
        form.feed(client.get(flow["auth_uri"]).text)
        consent = client.post(
            urlsplit(flow["auth_uri"]).path, data={**form.fields, "user": BOB, "decision": "accept"}
        )
        code = dict(parse_qsl(urlsplit(consent.headers["location"]).query))["code"]
        response = graph.request_token(
            client,
            grant_type="authorization_code",
            code=code,
            redirect_uri="http://localhost",
            code_verifier="a-verifier-that-was-never-hashed-into-the-challenge-000",
        )
    assert response.status_code == 400
    assert response.json()["error_codes"] == [501481]


def test_declined_consent_redirects_with_access_denied(graph: GraphServer) -> None:
    # Entra ignores the port of a loopback redirect URI, so a native app may listen on any free port.
    flow = confidential(graph).initiate_auth_code_flow(
        scopes=["Mail.Read"], redirect_uri="http://localhost:8765"
    )
    with graph.client() as client:
        form = _FormReader()
        form.feed(client.get(flow["auth_uri"]).text)
        answer = client.post(urlsplit(flow["auth_uri"]).path, data={**form.fields, "decision": "cancel"})
    assert answer.headers["location"].startswith("http://localhost:8765?")
    params = dict(parse_qsl(urlsplit(answer.headers["location"]).query))
    assert params["error"] == "access_denied"
    assert params["state"] == flow["state"]


def test_unregistered_redirect_uri_is_shown_not_followed(graph: GraphServer) -> None:
    flow = confidential(graph).initiate_auth_code_flow(
        scopes=["Mail.Read"], redirect_uri="https://evil.test/cb"
    )
    with graph.client() as client:
        page = client.get(flow["auth_uri"])
    assert page.status_code == 400
    assert "AADSTS50011" in page.text
