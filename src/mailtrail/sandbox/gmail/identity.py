"""HTTP endpoints of the sandbox's Google identity: consent page, token, revoke, JWKS, discovery."""

from __future__ import annotations

import html
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mailtrail.sandbox.gmail.oauth import JWT_BEARER, GoogleAuth, OAuthError
from mailtrail.sandbox.store import Tenant


def _oauth_error(exc: OAuthError) -> JSONResponse:
    return JSONResponse({"error": exc.code, "error_description": exc.description}, status_code=exc.status)


def identity_router(tenant: Tenant, auth: GoogleAuth, certs_path: str = "/oauth2/v1/certs") -> APIRouter:
    """Routes: ``/o/oauth2/v2/auth``, ``/token``, ``/revoke``, the signing keys, OpenID configuration.

    The keys are served as a JWK set at ``/oauth2/v3/certs`` and as ``{kid: X.509 PEM}`` at ``certs_path``
    (Google's two formats; ``certs_path`` defaults to Google's ``/oauth2/v1/certs``).
    """
    router = APIRouter()

    @router.get("/o/oauth2/v2/auth", response_class=HTMLResponse)
    @router.get("/o/oauth2/auth", response_class=HTMLResponse, include_in_schema=False)
    def consent(
        client_id: str,
        redirect_uri: str,
        response_type: str = "code",
        scope: str = "",
        state: str = "",
        code_challenge: str = "",
        code_challenge_method: str = "plain",
        login_hint: str = "",
        access_type: str = "online",
        prompt: str = "",
        nonce: str = "",
    ) -> Response:
        """The consent page: pick a sandbox mailbox and approve."""
        if client_id not in auth.clients:
            return HTMLResponse(
                "<h1>Error 401: invalid_client</h1><p>The OAuth client was not found.</p>", 401
            )
        if response_type != "code":
            return HTMLResponse("<h1>Error 400: unsupported_response_type</h1>", 400)
        boxes = [m.address for m in tenant.mailboxes()]
        selected = {a: " selected" if a == login_hint.lower() else "" for a in boxes}
        options = "".join(
            f'<option value="{html.escape(a)}"{selected[a]}>{html.escape(a)}</option>' for a in boxes
        )
        hidden = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method,
            "access_type": access_type,
            "prompt": prompt,
            "nonce": nonce,
        }
        fields = "".join(
            f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in hidden.items()
        )
        page = (
            "<!doctype html><title>Sign in - mailtrail sandbox</title><h1>mailtrail sandbox</h1>"
            f"<p>{html.escape(client_id)} wants to access: {html.escape(scope)}</p>"
            f'<form method="post" action="/o/oauth2/v2/auth">{fields}'
            f'<label>Account <select name="user">{options}</select></label>'
            '<button type="submit" name="approve" value="yes">Allow</button></form>'
        )
        return HTMLResponse(page)

    @router.post("/o/oauth2/v2/auth")
    def approve(
        client_id: Annotated[str, Form()],
        redirect_uri: Annotated[str, Form()],
        user: Annotated[str, Form()],
        scope: Annotated[str, Form()] = "",
        state: Annotated[str, Form()] = "",
        code_challenge: Annotated[str, Form()] = "",
        code_challenge_method: Annotated[str, Form()] = "plain",
        access_type: Annotated[str, Form()] = "online",
        prompt: Annotated[str, Form()] = "",
        nonce: Annotated[str, Form()] = "",
    ) -> Response:
        """The user clicked Allow: redirect back with a code."""
        try:
            tenant.mailbox(user)
            code = auth.issue_code(
                client_id,
                user,
                scope,
                redirect_uri,
                code_challenge or None,
                code_challenge_method or "plain",
                access_type=access_type or "online",
                prompt=prompt,
                nonce=nonce,
            )
        except OAuthError as exc:
            return _oauth_error(exc)
        except KeyError:
            return HTMLResponse(f"<h1>Error 400</h1><p>no sandbox mailbox {html.escape(user)}</p>", 400)
        query = urlencode({"code": code, "scope": scope, **({"state": state} if state else {})})
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{query}", status_code=302)

    @router.post("/token")
    async def token(request: Request) -> Response:
        """The token endpoint: authorization_code, refresh_token and the JWT bearer grant."""
        form = await request.form()
        values: dict[str, str] = {k: str(v) for k, v in form.items()}
        client_id, secret = values.get("client_id", ""), values.get("client_secret")
        grant_type = values.get("grant_type", "")
        try:
            if grant_type == "authorization_code":
                body: dict[str, Any] = auth.exchange_code(
                    values.get("code", ""),
                    client_id,
                    secret,
                    values.get("redirect_uri", ""),
                    values.get("code_verifier"),
                )
            elif grant_type == "refresh_token":
                body = auth.refresh(values.get("refresh_token", ""), client_id, secret)
            elif grant_type == JWT_BEARER:
                body = auth.jwt_bearer(values.get("assertion", ""))
            else:
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")
        except OAuthError as exc:
            return _oauth_error(exc)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @router.post("/revoke")
    async def revoke(request: Request, token: Annotated[str, Query()] = "") -> Response:
        """Revoke a refresh or access token (query or form parameter ``token``)."""
        if not token:
            token = str((await request.form()).get("token", ""))
        if not auth.revoke(token):
            return _oauth_error(OAuthError("invalid_token", "Token expired or revoked"))
        return JSONResponse({})

    @router.get("/oauth2/v3/certs")
    def certs() -> dict[str, Any]:
        """The signing keys as a JWK set."""
        return auth.jwks()

    if certs_path != "/oauth2/v3/certs":

        @router.get(certs_path)
        def x509_certs() -> dict[str, str]:
            """The signing keys as X.509 certificates by key id (what google-auth verifies against)."""
            return auth.x509_certs()

    @router.get("/.well-known/openid-configuration")
    def openid_configuration(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", JWT_BEARER],
        }

    @router.post("/sandbox/service-accounts")
    async def create_service_account(request: Request) -> dict[str, str]:
        """Sandbox-only: a key file for a new service account (JSON body ``{"email": ...}``)."""
        try:
            payload = await request.json()
        except ValueError:
            payload = {}
        default = "mailtrail@sandbox-project.iam.gserviceaccount.com"
        email = str(payload.get("email") or default) if isinstance(payload, dict) else default
        return auth.create_service_account(email, f"{str(request.base_url).rstrip('/')}/token")

    return router
