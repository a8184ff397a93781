"""ID token checks, with tokens signed here: signature, algorithm, issuer, audience, times, nonce, and what
each provider must vouch for (Google: a verified address of a Workspace organisation; Microsoft: the
organisation's tenant, no personal accounts, no guests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mailtrail.auth.errors import SignInRefused
from mailtrail.auth.oidc import MICROSOFT_CONSUMERS, OidcClient, check_id_token

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LOGIN = "https://login.example"
TENANT = "5e9a7f2c-6b1d-4c8e-9f3a-2d7b0c4e8a61"
GOOGLE = OidcClient("google", "app.apps.googleusercontent.com", "s", "", "", "")
MICROSOFT = OidcClient("microsoft", "7c1e2d3f", "s", "", "", "", LOGIN, TENANT)
MULTI = OidcClient("microsoft", "7c1e2d3f", "s", "", "", "", LOGIN, "organizations")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": "k1", "alg": "RS256", "use": "sig"}]}


def sign(key: Any, claims: dict[str, Any], *, kid: str = "k1", alg: str = "RS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def google_claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    claims = {"iss": "https://accounts.google.com", "aud": GOOGLE.client_id, "azp": GOOGLE.client_id,
              "sub": "1234", "email": "dan@ourco.com", "email_verified": True, "hd": "ourco.com",
              "iat": now, "exp": now + 3600, "nonce": "n1", "name": "Dan"}  # fmt: skip
    return {**claims, **changes}


def microsoft_claims(**changes: Any) -> dict[str, Any]:
    now = int(NOW.timestamp())
    claims = {"iss": f"{LOGIN}/{TENANT}/v2.0", "aud": MICROSOFT.client_id, "sub": "pairwise", "oid": "o-1",
              "tid": TENANT, "preferred_username": "dan@ourco.com", "name": "Dan", "iat": now, "nbf": now,
              "exp": now + 3600, "nonce": "n1", "ver": "2.0"}  # fmt: skip
    return {**claims, **changes}


def test_a_good_google_token_gives_the_identity(key: Any, jwks: dict[str, Any]) -> None:
    identity = check_id_token(GOOGLE, sign(key, google_claims()), jwks, "n1", NOW)
    assert (identity.email, identity.name, identity.organisation, identity.subject) == (
        "dan@ourco.com", "Dan", "ourco.com", "1234",
    )  # fmt: skip
    # The issuer without its scheme is Google's too.
    assert check_id_token(GOOGLE, sign(key, google_claims(iss="accounts.google.com")), jwks, "n1", NOW)


def test_a_good_microsoft_token_gives_the_identity(key: Any, jwks: dict[str, Any]) -> None:
    identity = check_id_token(MICROSOFT, sign(key, microsoft_claims()), jwks, "n1", NOW)
    assert (identity.email, identity.organisation, identity.subject) == ("dan@ourco.com", None, "o-1")
    other = "0b1c2d3e-0000-4000-8000-000000000000"
    multi = microsoft_claims(tid=other, iss=f"{LOGIN}/{other}/v2.0")
    assert check_id_token(MULTI, sign(key, multi), jwks, "n1", NOW).email == "dan@ourco.com"


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        (google_claims(aud="someone-else"), "issued to another app"),
        (google_claims(aud=[GOOGLE.client_id, "x"], azp="x"), "issued to another app"),
        (google_claims(iss="https://accounts.example"), "its issuer is"),
        (google_claims(exp=int(NOW.timestamp()) - 121), "it has expired"),
        (google_claims(iat=int(NOW.timestamp()) + 600), "not valid yet"),
        (google_claims(nonce="n2"), "nonce"),
        (google_claims(email_verified=False), "did not confirm the account's address"),
        (google_claims(hd=None), "is a personal Google account"),
        ({k: v for k, v in google_claims().items() if k != "sub"}, 'missing the "sub" claim'),
    ],
)
def test_google_tokens_that_must_be_refused(
    key: Any, jwks: dict[str, Any], claims: dict[str, Any], why: str
) -> None:
    claims = {k: v for k, v in claims.items() if v is not None}
    with pytest.raises(SignInRefused, match=why):
        check_id_token(GOOGLE, sign(key, claims), jwks, "n1", NOW)


@pytest.mark.parametrize(
    ("client", "claims", "why"),
    [
        (MICROSOFT, microsoft_claims(iss=f"{LOGIN}/another-tenant/v2.0"), "not your organisation's"),
        (MULTI, microsoft_claims(tid=MICROSOFT_CONSUMERS, iss=f"{LOGIN}/{MICROSOFT_CONSUMERS}/v2.0"),
         "personal Microsoft accounts"),
        (MULTI, microsoft_claims(tid="t2"), "not your organisation's"),
        (MICROSOFT, microsoft_claims(idp="https://sts.windows.net/another/"), "guests"),
        (MICROSOFT, microsoft_claims(preferred_username=None), "did not say which account"),
        (MICROSOFT, microsoft_claims(aud="another-app"), "issued to another app"),
    ],
)  # fmt: skip
def test_microsoft_tokens_that_must_be_refused(
    key: Any, jwks: dict[str, Any], client: OidcClient, claims: dict[str, Any], why: str
) -> None:
    claims = {k: v for k, v in claims.items() if v is not None}
    with pytest.raises(SignInRefused, match=why):
        check_id_token(client, sign(key, claims), jwks, "n1", NOW)


def test_only_the_providers_keys_and_rs256_are_trusted(key: Any, jwks: dict[str, Any]) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(SignInRefused, match="signature does not match"):
        check_id_token(GOOGLE, sign(stranger, google_claims()), jwks, "n1", NOW)
    with pytest.raises(SignInRefused, match="not signed by any of the provider's published keys"):
        check_id_token(GOOGLE, sign(key, google_claims(), kid="k2"), jwks, "n1", NOW)
    # An HMAC "signature" (the old trick: the public key as the shared secret) and none at all: both refused
    # before any key is looked at.
    with pytest.raises(SignInRefused, match="not RS256"):
        check_id_token(GOOGLE, sign(b"a shared secret, 32 bytes or more", google_claims(), alg="HS256"), jwks,
                       "n1", NOW)  # fmt: skip
    unsigned = jwt.encode(google_claims(), None, algorithm="none")
    with pytest.raises(SignInRefused, match="not RS256"):
        check_id_token(GOOGLE, unsigned, jwks, "n1", NOW)
    with pytest.raises(SignInRefused, match="not a JWT"):
        check_id_token(GOOGLE, "garbage", jwks, "n1", NOW)
    with pytest.raises(SignInRefused, match="cannot be read"):
        check_id_token(GOOGLE, sign(key, google_claims()), {"keys": "none"}, "n1", NOW)
