"""The AADSTS errors the sandbox's identity platform returns: code -> (HTTP status, OAuth error, message).

Codes and wording follow Microsoft Entra's published error codes (learn.microsoft.com/entra/identity-platform/
reference-error-codes); ``aad(code, **values)`` fills the message's placeholders.
"""

from __future__ import annotations

from mailtrail.sandbox.graph.errors import AadError

_MISSING = "The request body must contain the following parameter: '{parameter}'."
CATALOGUE: dict[int, tuple[int, str, str]] = {
    3000: (400, "invalid_request", "The request is missing a required parameter."),
    50011: (
        400,
        "invalid_request",
        "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs "
        "configured for the application '{client_id}'.",
    ),
    50173: (
        400,
        "invalid_grant",
        "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user "
        "might have changed or reset their password.",
    ),
    # Conditional Access asks for MFA (50076) or MFA registration (50079): a refresh cannot satisfy it, so the
    # token endpoint answers interaction_required, which the v2.0 auth code flow documents for /token ("The
    # request requires user interaction. For example, another authentication step is required."):
    # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-codes-for-token-endpoint-errors
    50076: (
        400,
        "interaction_required",
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must use multi-factor authentication to access '{resource}'.",
    ),
    50079: (
        400,
        "interaction_required",
        "Due to a configuration change made by your administrator, or because you moved to a new location, "
        "you must enroll in multi-factor authentication to access '{resource}'.",
    ),
    54005: (
        400,
        "invalid_grant",
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
        "existing refresh token.",
    ),
    65001: (
        400,
        "invalid_grant",
        "The user or administrator has not consented to use the application with ID '{client_id}'. Send an "
        "interactive authorization request for this user and resource.",
    ),
    70003: (400, "unsupported_grant_type", "The app requested an unsupported grant type."),
    70008: (
        400,
        "invalid_grant",
        "The provided authorization code or refresh token has expired due to inactivity. Send a new "
        "interactive authorization request for this user and resource.",
    ),
    70011: (
        400,
        "invalid_scope",
        "The provided value for the input parameter 'scope' is not valid. The scope '{scope}' does not "
        "exist.",
    ),
    90002: (
        400,
        "invalid_tenant",
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into "
        "the correct cloud.",
    ),
    500011: (
        400,
        "invalid_resource",
        "The resource principal named {resource} was not found in the tenant named {tenant}.",
    ),
    501481: (
        400,
        "invalid_grant",
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    ),
    501491: (
        400,
        "invalid_request",
        "Invalid size of Code_Challenge parameter or invalid code_challenge_method.",
    ),
    700016: (
        400,
        "unauthorized_client",
        "Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
    ),
    700082: (400, "invalid_grant", "The refresh token has expired due to inactivity."),
    # Certificate credentials (assertions.py).
    700021: (
        400,
        "invalid_client",
        "Client assertion application identifier doesn't match 'client_id' parameter.",
    ),
    700023: (400, "invalid_client", "Client assertion audience claim does not match Realm issuer."),
    700024: (400, "invalid_client", "Client assertion is not within its valid time range."),
    700027: (401, "invalid_client", "Client assertion contains an invalid signature. [Reason - {reason}]"),
    900144: (400, "invalid_request", _MISSING),
    1002012: (
        400,
        "invalid_scope",
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
        "with /.default suffixed to the resource identifier (application ID URI).",
    ),
    7000215: (
        401,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
        "value, not the client secret ID, for a secret added to app '{client_id}'.",
    ),
    7000218: (
        401,
        "invalid_client",
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    ),
    9002313: (400, "invalid_grant", "Invalid request. Request is malformed or invalid."),
}


# Codes a refresh can be made to fail with until the user signs in again (``require_interaction``).
INTERACTION_CODES = frozenset({50076, 50079, 65001})


def aad(code: int, **values: object) -> AadError:
    """The AadError for an AADSTS code, its message filled with ``values``."""
    status, error, template = CATALOGUE[code]
    return AadError(status, error, code, template.format(**values))
