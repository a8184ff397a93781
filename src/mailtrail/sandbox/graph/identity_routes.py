"""HTTP endpoints of the Microsoft identity platform: discovery, JWKS, consent page, token endpoint."""

from __future__ import annotations

import base64
import html
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mailtrail.sandbox.graph.aadsts import aad
from mailtrail.sandbox.graph.errors import AadError, aad_error_response
from mailtrail.sandbox.graph.identity import AppRegistration, IdentityPlatform

_AUTHORIZE_FIELDS = (
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "response_mode",
)


def base_url_of(request: Request) -> str:
    """The scheme://host:port the caller used, so every URL we hand out points back at this sandbox."""
    return str(request.base_url).rstrip("/")


def identity_router(platform: IdentityPlatform) -> APIRouter:
    """Routes under ``/{tenant}/``; any other tenant gets AADSTS90002 like a tenant that does not exist."""
    router = APIRouter(tags=["identity"])

    def check_tenant(tenant: str) -> None:
        if tenant.lower() != platform.tenant_id.lower():
            raise aad(90002, tenant=tenant)

    def authorizing_app(tenant: str, params: dict[str, str]) -> AppRegistration | Response:
        """The app asking for consent, or the error page shown instead of redirecting to an unknown URI."""
        try:
            check_tenant(tenant)
            return platform.app_for_authorize(params.get("client_id", ""), params.get("redirect_uri", ""))
        except AadError as error:
            return _error_page(error)

    @router.get("/{tenant}/v2.0/.well-known/openid-configuration")
    def openid_configuration(tenant: str, request: Request) -> Response:
        try:
            check_tenant(tenant)
        except AadError as error:
            return aad_error_response(error)
        return JSONResponse(discovery_document(platform, base_url_of(request)))

    @router.get("/{tenant}/discovery/v2.0/keys")
    def keys(tenant: str) -> Response:
        try:
            check_tenant(tenant)
        except AadError as error:
            return aad_error_response(error)
        return JSONResponse(platform.jwks())

    @router.get("/{tenant}/oauth2/v2.0/authorize")
    def consent_page(tenant: str, request: Request) -> Response:
        params = dict(request.query_params)
        app = authorizing_app(tenant, params)
        if isinstance(app, Response):
            return app
        if params.get("response_type") != "code":
            return _redirect_error(
                params, "unsupported_response_type", "AADSTS700054: response_type 'code' is required."
            )
        return HTMLResponse(_consent_html(platform, app.client_id, params))

    @router.post("/{tenant}/oauth2/v2.0/authorize")
    async def consent_answer(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        app = authorizing_app(tenant, form)
        if isinstance(app, Response):
            return app
        if form.get("decision") != "accept":
            return _redirect_error(
                form, "access_denied", "AADSTS65004: User declined to consent to access the app."
            )
        user = platform.find_user(form.get("user", ""))
        if user is None:
            return _redirect_error(
                form, "invalid_request", "AADSTS50034: The user account does not exist in the directory."
            )
        try:
            code = platform.issue_code(
                app,
                user,
                form["redirect_uri"],
                form.get("scope", ""),
                form.get("code_challenge") or None,
                form.get("code_challenge_method") or "plain",
                form.get("nonce") or None,
            )
        except AadError as error:
            return _redirect_error(form, error.error, f"AADSTS{error.aadsts}: {error.description}")
        answer = {"code": code, "state": form.get("state", ""), "session_state": platform.tenant_id}
        return _answer(form, answer)

    @router.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            check_tenant(tenant)
            body = platform.token(
                form, base_url_of(request), _basic_auth(request.headers.get("authorization"))
            )
        except AadError as error:
            return aad_error_response(error)
        return JSONResponse(body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    return router


def _basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


def _redirect_error(params: dict[str, str], error: str, description: str) -> Response:
    answer = {"error": error, "error_description": description, "state": params.get("state", "")}
    return _answer(params, answer)


def _answer(params: dict[str, str], answer: dict[str, str]) -> Response:
    """The authorization response: a redirect with the query, or with ``response_mode=form_post`` a page that
    POSTs the fields to the redirect URI ("form_post executes a POST containing the code to your redirect
    URI": https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow; the page is the one of
    https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html)."""
    redirect_uri = params.get("redirect_uri", "")
    if params.get("response_mode") != "form_post":
        return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k, quote=True)}" value="{html.escape(v, quote=True)}">'
        for k, v in answer.items()
    )
    page = (
        "<!doctype html><html><head><title>Working...</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method="POST" name="hiddenform" action="{html.escape(redirect_uri, quote=True)}">{fields}'
        '<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit">'
        "</noscript></form></body></html>"
    )
    return HTMLResponse(page)


def _error_page(error: AadError) -> Response:
    text = html.escape(f"AADSTS{error.aadsts}: {error.description}")
    page = (
        "<!doctype html><title>Sign in error</title><h1>Sorry, but we're having trouble signing you "
        f"in.</h1><p>{text}</p>"
    )
    return HTMLResponse(page, status_code=error.status)


def _consent_html(platform: IdentityPlatform, client_id: str, params: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""), quote=True)}">'
        for name in _AUTHORIZE_FIELDS
    )
    hint = params.get("login_hint", "").lower()
    options = "".join(
        "<option "
        f'value="{html.escape(u.user_principal_name)}"{" selected" if u.user_principal_name == hint else ""}>'
        f"{html.escape(u.display_name)} ({html.escape(u.user_principal_name)})</option>"
        for u in platform.users.values()
    )
    scopes = "".join(f"<li>{html.escape(s)}</li>" for s in params.get("scope", "").split())
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Permissions requested</title></head><body>"
        f"<h1>Permissions requested</h1><p>App <b>{html.escape(client_id)}</b> (mailtrail sandbox tenant "
        f"{html.escape(platform.tenant_id)}) would like to:</p><ul>{scopes}</ul>"
        f'<form method="post">{hidden}<label>Sign in as <select name="user">{options}</select></label>'
        '<button type="submit" name="decision" value="accept">Accept</button>'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form></body></html>'
    )


def discovery_document(platform: IdentityPlatform, base_url: str) -> dict[str, object]:
    """The v2.0 OpenID Connect discovery document, endpoints under this sandbox's base URL."""
    tenant = f"{base_url}/{platform.tenant_id}"
    return {
        "token_endpoint": f"{tenant}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": platform.issuer(base_url),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{tenant}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{tenant}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name", "tid", "oid", "email"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    }
