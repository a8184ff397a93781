"""The sandbox's identity platform accepts certificate credentials (client assertions) as Entra does, with
msal's own assertions, and answers the authorization request with ``response_mode=form_post``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from tests.sandbox.graph.conftest import ADA, GraphServer

from mailtrail.sandbox.graph.app import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET
from mailtrail.sandbox.graph.assertions import CLIENT_ASSERTION_TYPE, thumbprints
from mailtrail.sandbox.graph.tls import trusting_session

APP = "3f0b6a8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
GRAPH_DEFAULT = ["https://graph.microsoft.com/.default"]


def _certificate() -> tuple[rsa.RSAPrivateKey, str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "app")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _app(graph: GraphServer, credential: object) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        APP,
        client_credential=credential,
        authority=graph.authority,
        instance_discovery=False,
        http_client=trusting_session(graph.cert.cert_file),
    )


@pytest.mark.parametrize("form", ["sha256", "sha1"])
def test_msal_authenticates_an_app_with_its_certificate(graph: GraphServer, form: str) -> None:
    _, key_pem, cert_pem = _certificate()
    graph.sandbox.identity.register_app(APP, None, certificates=(cert_pem,))
    credential: dict[str, str] = {"private_key": key_pem}
    if form == "sha256":  # PS256 with x5t#S256, as the identity platform documents it
        credential["public_certificate"] = cert_pem.decode()
    else:  # RS256 with the SHA-1 thumbprint (x5t), msal's older form
        credential["thumbprint"] = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()  # noqa: S303
    result = _app(graph, credential).acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert "access_token" in result, result
    with graph.client(result["access_token"]) as client:
        assert client.get(f"/v1.0/users/{ADA}/mailFolders/inbox").status_code == 200


def test_an_unregistered_or_misused_certificate_is_refused(graph: GraphServer) -> None:
    key, _, cert_pem = _certificate()
    _, other_pem, other_cert = _certificate()
    graph.sandbox.identity.register_app(APP, None, certificates=(cert_pem,))
    stranger = _app(graph, {"private_key": other_pem, "public_certificate": other_cert.decode()})
    refused = stranger.acquire_token_for_client(scopes=GRAPH_DEFAULT)
    assert refused["error"] == "invalid_client"
    assert refused["error_codes"] == [700027]
    endpoint = f"{graph.authority}/oauth2/v2.0/token"
    now = int(graph.clock.seconds())
    header = {"x5t#S256": thumbprints(cert_pem)["x5t#S256"]}

    def assertion(**claims: object) -> str:
        body = {"aud": endpoint, "iss": APP, "sub": APP, "exp": now + 600, "nbf": now, "jti": "1", **claims}
        return jwt.encode(body, key, algorithm="PS256", headers=header)

    with graph.client() as client:
        for claims, code in (({"aud": "https://elsewhere/token"}, 700023), ({"iss": "someone"}, 700021),
                             ({"exp": now - 3600}, 700024)):  # fmt: skip
            answer = client.post(
                endpoint,
                data={
                    "grant_type": "client_credentials", "client_id": APP, "scope": GRAPH_DEFAULT[0],
                    "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion(**claims),
                },
            )  # fmt: skip
            assert answer.json()["error_codes"] == [code], claims
        # Without a secret or an assertion, a certificate-only app is not a public client.
        bare = client.post(endpoint, data={"grant_type": "client_credentials", "client_id": APP,
                                           "scope": GRAPH_DEFAULT[0]})  # fmt: skip
        assert bare.json()["error_codes"] == [7000218]


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.action = values.get("action") or ""
        if tag == "input" and values.get("name"):
            self.fields[str(values["name"])] = values.get("value") or ""


def test_form_post_answers_with_a_page_that_posts_the_code(graph: GraphServer) -> None:
    app = msal.ConfidentialClientApplication(
        SANDBOX_CLIENT_ID,
        client_credential=SANDBOX_CLIENT_SECRET,
        authority=graph.authority,
        instance_discovery=False,
        http_client=trusting_session(graph.cert.cert_file),
    )
    flow = app.initiate_auth_code_flow(
        scopes=["https://graph.microsoft.com/Mail.Read"],
        redirect_uri="http://localhost",
        response_mode="form_post",
    )
    with graph.client() as client:
        consent = _Form()
        consent.feed(client.get(flow["auth_uri"]).text)
        answer = client.post(
            urlsplit(flow["auth_uri"]).path, data={**consent.fields, "user": ADA, "decision": "accept"}
        )
    assert answer.status_code == 200  # a page, not a redirect: the code never travels in a URL
    page = _Form()
    page.feed(answer.text)
    assert page.action == "http://localhost"
    assert set(page.fields) == {"code", "state", "session_state"}
    result = app.acquire_token_by_auth_code_flow(flow, page.fields)
    assert "access_token" in result, result
