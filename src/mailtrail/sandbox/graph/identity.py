"""The Microsoft identity platform for one sandbox tenant: app registrations, users, codes, tokens, keys.

Token shapes follow the v2.0 endpoints: client credentials (app-only, ``{resource}/.default`` and nothing
else) give ``roles``; authorization code (+ PKCE) gives ``scp``, a refresh token and, with ``openid``, an
id_token carrying the nonce msal checks. Access tokens are RS256 JWTs signed with this sandbox's own key and
published in its JWKS. Time comes from the sandbox clock so tests can make tokens expire without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mailtrail.sandbox.graph.aadsts import INTERACTION_CODES, aad
from mailtrail.sandbox.graph.assertions import CLIENT_ASSERTION_TYPE, verify_client_assertion
from mailtrail.sandbox.graph.bearer import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    bearer_token,
    decode_access_token,
    unauthenticated,
)
from mailtrail.sandbox.graph.directory import (
    AccessGrant,
    AppRegistration,
    DirectoryUser,
    PendingCode,
    RefreshGrant,
    pkce_matches,
    process_signing_key,
    redirect_matches,
)

# Re-exported: these lived here before directory.py was split out, and other modules import them from here.
__all__ = [
    "DELEGATED_PERMISSIONS",
    "MAIL_READ_PERMISSIONS",
    "OIDC_SCOPES",
    "AccessGrant",
    "AppRegistration",
    "DirectoryUser",
    "IdentityPlatform",
]

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# Delegated Graph permissions the sandbox knows; an app asking for anything else gets AADSTS70011.
DELEGATED_PERMISSIONS = frozenset({"Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "User.Read"})
MAIL_READ_PERMISSIONS = frozenset({"Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic.All", "Mail.ReadBasic"})


@dataclass
class IdentityPlatform:
    """Issues and verifies tokens for one tenant id; ``now`` returns epoch seconds from the sandbox clock."""

    tenant_id: str
    now: Callable[[], float]
    access_token_lifetime: int = 3599
    refresh_token_lifetime: int = 90 * 24 * 3600
    code_lifetime: int = 600
    dev_token: str | None = None
    apps: dict[str, AppRegistration] = field(default_factory=dict)
    users: dict[str, DirectoryUser] = field(default_factory=dict)
    _codes: dict[str, PendingCode] = field(default_factory=dict)
    _refresh: dict[str, RefreshGrant] = field(default_factory=dict)

    signing_key: rsa.RSAPrivateKey | None = None

    def __post_init__(self) -> None:
        self._key = self.signing_key or process_signing_key()
        public = self._key.public_key().public_numbers()
        self.key_id = hashlib.sha256(f"{public.n}:{self.tenant_id}".encode()).hexdigest()[:27]

    # --- directory -------------------------------------------------------------------------------------
    def register_app(
        self,
        client_id: str,
        client_secret: str | None,
        redirect_uris: tuple[str, ...] = (),
        app_permissions: frozenset[str] = frozenset({"Mail.Read"}),
        certificates: tuple[bytes, ...] = (),
    ) -> AppRegistration:
        """Register an app (no secret and no ``certificates``, PEM, make it a public client: PKCE only)."""
        app = AppRegistration(client_id, client_secret, redirect_uris, app_permissions, certificates)
        self.apps[client_id] = app
        return app

    def add_user(self, user_principal_name: str, display_name: str = "") -> DirectoryUser:
        """Add a user; the object id is stable for a given tenant and address."""
        upn = user_principal_name.lower()
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant_id}/{upn}"))
        user = DirectoryUser(object_id, upn, display_name or upn.split("@")[0])
        self.users[upn] = user
        return user

    def find_user(self, id_or_upn: str) -> DirectoryUser | None:
        """The user with this object id or user principal name."""
        key = id_or_upn.lower()
        if key in self.users:
            return self.users[key]
        return next((u for u in self.users.values() if u.object_id == key), None)

    def revoke_user_grants(self, user: DirectoryUser) -> None:
        """Revoke every refresh token of a user (like revokeSignInSessions)."""
        for grant in self._refresh.values():
            if grant.user == user:
                grant.revoked = True

    def require_interaction(self, user: DirectoryUser, aadsts: int = 50076) -> int:
        """Make every refresh token the user holds now answer ``aadsts`` until the user signs in again.

        Models a Conditional Access change (MFA now required: 50076, MFA registration: 50079) or withdrawn
        consent (65001): the refresh fails, and only a new interactive sign-in (authorize + code) yields
        tokens that work. Returns how many refresh tokens were affected.
        """
        if aadsts not in INTERACTION_CODES:
            raise ValueError(f"AADSTS{aadsts} is not an interaction error ({sorted(INTERACTION_CODES)})")
        affected = [g for g in self._refresh.values() if g.user == user and not g.revoked]
        for grant in affected:
            grant.interaction = aadsts
        return len(affected)

    # --- discovery ---------------------------------------------------------------------------------------
    def issuer(self, base_url: str) -> str:
        return f"{base_url}/{self.tenant_id}/v2.0"

    def jwks(self) -> dict[str, object]:
        """The public signing keys (``kid`` matches the tokens' header)."""
        public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
        public.update({"kid": self.key_id, "use": "sig", "alg": "RS256", "kty": "RSA", "x5t": self.key_id})
        return {"keys": [public]}

    # --- authorization code ----------------------------------------------------------------------------
    def app_for_authorize(self, client_id: str, redirect_uri: str) -> AppRegistration:
        """The app behind an authorize request; errors here are shown on the page, never redirected."""
        app = self.apps.get(client_id)
        if app is None:
            raise aad(700016, client_id=client_id, tenant=self.tenant_id)
        if not any(redirect_matches(redirect_uri, registered) for registered in app.redirect_uris):
            raise aad(50011, redirect_uri=redirect_uri, client_id=client_id)
        return app

    def issue_code(
        self,
        app: AppRegistration,
        user: DirectoryUser,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None,
        code_challenge_method: str,
        nonce: str | None,
    ) -> str:
        """The authorization code for an approved consent."""
        scopes = self._delegated_scopes(scope)
        if code_challenge_method not in ("plain", "S256"):
            raise aad(501491)
        code = "0.A" + secrets.token_urlsafe(48)
        self._codes[code] = PendingCode(
            app.client_id,
            user,
            redirect_uri,
            scopes,
            code_challenge,
            code_challenge_method,
            nonce,
            self.now() + self.code_lifetime,
        )
        return code

    def _delegated_scopes(self, scope: str) -> tuple[str, ...]:
        requested = scope.split()
        if not requested:
            raise aad(900144, parameter="scope")
        scopes: list[str] = []
        for item in requested:
            name = item.removeprefix(GRAPH_RESOURCE + "/")
            if name == ".default":
                scopes.extend(["Mail.Read", "User.Read"])
            elif name in OIDC_SCOPES or name in DELEGATED_PERMISSIONS:
                scopes.append(name)
            else:
                raise aad(70011, scope=item)
        return tuple(dict.fromkeys(scopes))

    # --- token endpoint --------------------------------------------------------------------------------
    def token(
        self, form: dict[str, str], base_url: str, basic_auth: tuple[str, str] | None
    ) -> dict[str, object]:
        """Answer a token request (form fields as posted); raises AadError like AAD would."""
        grant_type = form.get("grant_type")
        if not grant_type:
            raise aad(900144, parameter="grant_type")
        client_id, secret = basic_auth or (form.get("client_id", ""), form.get("client_secret"))
        if not client_id:
            raise aad(900144, parameter="client_id")
        app = self.apps.get(client_id)
        if app is None:
            raise aad(700016, client_id=client_id, tenant=self.tenant_id)
        if grant_type not in ("client_credentials", "authorization_code", "refresh_token"):
            raise aad(70003)
        if form.get("client_assertion_type") == CLIENT_ASSERTION_TYPE:
            endpoint = f"{base_url}/{self.tenant_id}/oauth2/v2.0/token"
            verify_client_assertion(form.get("client_assertion", ""), app, endpoint, self.now())
        else:
            self._authenticate(app, secret, required=grant_type == "client_credentials")
        if grant_type == "client_credentials":
            return self._client_credentials(app, form.get("scope", ""), base_url)
        if grant_type == "authorization_code":
            return self._redeem_code(app, form, base_url)
        return self._redeem_refresh(app, form, base_url)

    def _authenticate(self, app: AppRegistration, secret: str | None, *, required: bool) -> None:
        if app.public_client:
            if required:
                raise aad(7000218)
            return
        if secret is None:
            raise aad(7000218)
        if app.client_secret is None or not secrets.compare_digest(secret, app.client_secret):
            raise aad(7000215, client_id=app.client_id)

    def _client_credentials(self, app: AppRegistration, scope: str, base_url: str) -> dict[str, object]:
        scopes = scope.split()
        if not scopes:
            raise aad(900144, parameter="scope")
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            raise aad(1002012, scope=scope)
        resource = scopes[0].removesuffix("/.default")
        if resource not in (GRAPH_RESOURCE, GRAPH_APP_ID):
            raise aad(500011, resource=resource, tenant=self.tenant_id)
        claims = {
            "roles": sorted(app.app_permissions),
            "idtyp": "app",
            "sub": app.client_id,
            "oid": app.client_id,
        }
        token = self._access_token(app.client_id, claims, base_url)
        lifetime = self.access_token_lifetime
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    def _redeem_code(self, app: AppRegistration, form: dict[str, str], base_url: str) -> dict[str, object]:
        pending = self._codes.get(form.get("code", ""))
        if pending is None or pending.client_id != app.client_id:
            raise aad(9002313)
        if pending.redeemed:
            raise aad(54005)
        if self.now() > pending.expires_at:
            raise aad(70008)
        if form.get("redirect_uri") != pending.redirect_uri:
            raise aad(50011, redirect_uri=form.get("redirect_uri"), client_id=app.client_id)
        if pending.code_challenge is not None and not pkce_matches(
            form.get("code_verifier", ""), pending.code_challenge, pending.code_challenge_method
        ):
            raise aad(501481)
        pending.redeemed = True
        return self._user_tokens(app, pending.user, pending.scopes, pending.nonce, base_url)

    def _redeem_refresh(self, app: AppRegistration, form: dict[str, str], base_url: str) -> dict[str, object]:
        grant = self._refresh.get(form.get("refresh_token", ""))
        if grant is None or grant.client_id != app.client_id:
            raise aad(9002313)
        if grant.revoked:
            raise aad(50173)
        if grant.interaction is not None:
            raise aad(grant.interaction, client_id=app.client_id, resource=GRAPH_APP_ID)
        if self.now() > grant.expires_at:
            raise aad(700082)
        scopes = grant.scopes
        if form.get("scope"):
            asked = self._delegated_scopes(form["scope"])
            extra = set(asked) - set(scopes) - OIDC_SCOPES
            if extra:
                raise aad(65001, client_id=app.client_id)
            scopes = asked
        return self._user_tokens(app, grant.user, scopes, None, base_url)

    def _user_tokens(
        self,
        app: AppRegistration,
        user: DirectoryUser,
        scopes: tuple[str, ...],
        nonce: str | None,
        base_url: str,
    ) -> dict[str, object]:
        permissions = [s for s in scopes if s not in OIDC_SCOPES]
        claims = {
            "scp": " ".join(permissions),
            "idtyp": "user",
            "sub": user.object_id,
            "oid": user.object_id,
            "upn": user.user_principal_name,
            "unique_name": user.user_principal_name,
            "name": user.display_name,
        }
        lifetime = self.access_token_lifetime
        body: dict[str, object] = {
            "token_type": "Bearer",
            "scope": " ".join(f"{GRAPH_RESOURCE}/{p}" for p in permissions)
            + "".join(f" {s}" for s in scopes if s in OIDC_SCOPES),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._access_token(app.client_id, claims, base_url),
        }
        if "offline_access" in scopes:
            refresh_token = "1.A" + secrets.token_urlsafe(64)
            self._refresh[refresh_token] = RefreshGrant(
                app.client_id, user, scopes, self.now() + self.refresh_token_lifetime
            )
            body["refresh_token"] = refresh_token
        if "openid" in scopes:
            body["id_token"] = self._id_token(app, user, nonce, base_url)
        info = json.dumps({"uid": user.object_id, "utid": self.tenant_id}).encode()
        body["client_info"] = base64.urlsafe_b64encode(info).decode().rstrip("=")
        return body

    def _id_token(self, app: AppRegistration, user: DirectoryUser, nonce: str | None, base_url: str) -> str:
        now = int(self.now())
        claims: dict[str, object] = {
            "aud": app.client_id,
            "iss": self.issuer(base_url),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.display_name,
            "oid": user.object_id,
            "preferred_username": user.user_principal_name,
            "sub": user.object_id,
            "tid": self.tenant_id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def _access_token(self, client_id: str, extra: Mapping[str, object], base_url: str) -> str:
        now = int(self.now())
        claims: dict[str, object] = {
            "aud": GRAPH_RESOURCE,
            "iss": f"{base_url}/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + self.access_token_lifetime,
            "appid": client_id,
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
            **extra,
        }
        return jwt.encode(
            claims, self._key, algorithm="RS256", headers={"kid": self.key_id, "x5t": self.key_id}
        )

    # --- resource side ---------------------------------------------------------------------------------
    def verify(self, authorization: str | None) -> AccessGrant:
        """The grant behind an ``Authorization`` header, or Graph's 401 ``InvalidAuthenticationToken``."""
        token = bearer_token(authorization)
        if self.dev_token is not None and secrets.compare_digest(token, self.dev_token):
            permissions = frozenset({"Mail.Read", "Mail.ReadWrite", "User.Read.All"})
            return AccessGrant("sandbox-dev-token", permissions, frozenset(), None, float("inf"))
        claims = decode_access_token(token, self._key.public_key())
        if claims.get("tid") != self.tenant_id:
            raise unauthenticated("Access token validation failure. Invalid issuer.")
        if self.now() >= claims["exp"]:
            raise unauthenticated("Lifetime validation failed, the token is expired.")
        user = None
        if claims.get("idtyp") == "user":
            user = self.find_user(str(claims.get("upn", "")))
            if user is None:
                raise unauthenticated("Access token validation failure. Unknown user.")
        return AccessGrant(
            app_id=claims["appid"],
            roles=frozenset(claims.get("roles", [])),
            scopes=frozenset(str(claims.get("scp", "")).split()),
            user=user,
            expires_at=float(claims["exp"]),
        )
