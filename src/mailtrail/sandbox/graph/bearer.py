"""Bearer tokens on the Graph side: reading the header, checking the signature and audience.

Expiry is left to the caller, which judges it by the sandbox clock rather than the wall clock.
"""

from __future__ import annotations

from typing import Any

import jwt

from mailtrail.sandbox.graph.errors import GraphError

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    f'client_id="{GRAPH_APP_ID}"'
)


def unauthenticated(message: str) -> GraphError:
    """Graph's 401 InvalidAuthenticationToken with the WWW-Authenticate challenge Graph sends."""
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": _AUTHENTICATE})


def bearer_token(authorization: str | None) -> str:
    """The token of a ``Bearer`` Authorization header, or Graph's 401 for an empty one."""
    if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
        raise unauthenticated("Access token is empty.")
    return authorization[7:].strip()


def decode_access_token(token: str, key: Any) -> dict[str, Any]:
    """The claims of a token signed with ``key`` for Graph; expiry is checked by the caller's clock."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=[GRAPH_RESOURCE, GRAPH_APP_ID],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.InvalidAudienceError:
        raise unauthenticated("Access token validation failure. Invalid audience.") from None
    except jwt.PyJWTError:
        raise unauthenticated("IDX14100: JWT is not well formed, there are no dots (.).") from None
