"""The start of a Google or Microsoft sign-in: the provider's URL, and the flow sealed into the browser that
only that browser's answer, from that provider, within ten minutes, opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet

from mailtrail.auth.errors import InvalidInput
from mailtrail.auth.oidc import OidcClient, open_flow, safe_next, seal_flow, start_sign_in
from mailtrail.secrets import SecretBox

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
GOOGLE = OidcClient("google", "app-id", None, "https://accounts.example/auth", "", "")
MICROSOFT = OidcClient("microsoft", "ms-id", None, "https://login.example/t/oauth2/v2.0/authorize", "", "")


def test_the_authorization_url_asks_for_openid_with_state_nonce_and_pkce() -> None:
    url, flow = start_sign_in(GOOGLE, "https://mt.example/auth/google/callback", NOW, "/accounts")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith("https://accounts.example/auth?")
    assert query["scope"] == "openid email profile"
    assert query["response_type"] == "code"
    assert query["client_id"] == "app-id"
    assert query["redirect_uri"] == "https://mt.example/auth/google/callback"
    assert query["state"] == flow.state
    assert query["nonce"] == flow.nonce
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] != flow.verifier
    assert flow.next_path == "/accounts"
    ms_url, _ = start_sign_in(MICROSOFT, "https://mt.example/auth/microsoft/callback", NOW)
    assert parse_qs(urlsplit(ms_url).query)["response_mode"] == ["query"]
    # Two sign-ins share nothing.
    _, again = start_sign_in(GOOGLE, "https://mt.example/auth/google/callback", NOW)
    assert {again.state, again.nonce, again.verifier}.isdisjoint({flow.state, flow.nonce, flow.verifier})


def test_a_sealed_flow_opens_only_for_its_state_provider_and_time() -> None:
    box = SecretBox([Fernet.generate_key().decode()])
    _, flow = start_sign_in(GOOGLE, "https://mt.example/cb", NOW)
    sealed = seal_flow(flow, box)
    assert flow.state not in sealed
    assert flow.verifier not in sealed
    assert open_flow(sealed, box, "google", flow.state, NOW + timedelta(minutes=9)) == flow
    with pytest.raises(InvalidInput, match="belongs to another sign-in"):
        open_flow(sealed, box, "google", "another state", NOW)
    with pytest.raises(InvalidInput, match="belongs to another sign-in"):
        open_flow(sealed, box, "microsoft", flow.state, NOW)
    with pytest.raises(InvalidInput, match="took too long"):
        open_flow(sealed, box, "google", flow.state, NOW + timedelta(minutes=11))
    with pytest.raises(InvalidInput, match="did not start a sign-in"):
        open_flow(None, box, "google", flow.state, NOW)
    with pytest.raises(InvalidInput, match="cannot be read"):
        open_flow(sealed[:-4] + "AAAA", box, "google", flow.state, NOW)


@pytest.mark.parametrize(
    ("asked", "kept"),
    [("/accounts/7?tab=people", "/accounts/7?tab=people"), ("https://evil.example/", "/"),
     ("//evil.example", "/"), ("/\\evil.example", "/"), ("", "/"), (None, "/"), ("accounts", "/")],
)  # fmt: skip
def test_after_sign_in_only_paths_of_this_site(asked: str | None, kept: str) -> None:
    assert safe_next(asked) == kept
