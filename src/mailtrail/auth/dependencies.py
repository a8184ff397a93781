"""FastAPI dependencies for every endpoint and page: who is asking, may they, and the request's transaction.

```python
from mailtrail.auth.dependencies import AdminUser, CurrentUser, DbSession

@router.get("/api/v1/accounts")
def accounts(user: CurrentUser, db: DbSession) -> ...:    # 401 JSON without a session or token
    ...                                                   # query with user.workspace_id

@router.post("/api/v1/blacklist")
def add(user: AdminUser, db: DbSession) -> ...:          # 403 JSON for a member; CSRF checked
```

- ``CurrentUser`` is a ``Principal`` from the ``mailtrail_session`` cookie or an ``Authorization: Bearer
  mt_...`` API token (the token wins when both are sent). For a cookie session, every unsafe method (POST,
  PUT, PATCH, DELETE) must also carry the session's CSRF token (header ``X-CSRF-Token`` or form field
  ``csrf_token``): ``CurrentUser`` checks it, so no endpoint can forget; a token needs none (browsers never
  add an Authorization header by themselves, so another site cannot make one send it).
- ``AdminUser`` is the same for admins only.
- ``DbSession`` is the request's transaction: it commits when the endpoint returns, before the response
  leaves (so the next request sees what this one did), and rolls back when it raises. ``CurrentUser`` uses
  the same session, so one request is one transaction.
- ``require_csrf`` is the CSRF check alone, for a router's ``dependencies=[Depends(require_csrf)]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from ipaddress import ip_address
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from mailtrail.auth.errors import Forbidden, Unauthenticated
from mailtrail.auth.principal import Principal
from mailtrail.auth.sessions import NewSession, csrf_matches, session_principal
from mailtrail.auth.tokens import token_principal
from mailtrail.config import Settings
from mailtrail.db import transaction
from mailtrail.sync.endpoints import RuntimeDep

SESSION_COOKIE = "mailtrail_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def database_session(runtime: RuntimeDep) -> Iterator[Session]:
    """The request's session in one transaction: committed when the endpoint returns, rolled back on error."""
    with transaction(runtime.sessions) as session:
        yield session


# scope="function": the commit happens before the response is sent, not after.
DbSession = Annotated[Session, Depends(database_session, scope="function")]


def authenticate(request: Request, db: DbSession, runtime: RuntimeDep) -> Principal:
    """The caller, from an API token or the session cookie; ``Unauthenticated`` (401) without either."""
    now = runtime.clock()
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthenticated("send the API token as 'Authorization: Bearer mt_...'")
        return token_principal(db, value.strip(), now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return session_principal(db, cookie, now)
    raise Unauthenticated("sign in first, or send an API token as 'Authorization: Bearer mt_...'")


async def check_csrf(request: Request, principal: Principal) -> None:
    """For an unsafe method of a cookie session: the request must carry the session's CSRF token."""
    if principal.via != "session" or request.method in SAFE_METHODS or principal.csrf is None:
        return
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(_FORMS):
        # Starlette keeps the parsed form: the endpoint's own Form() parameters read the same one.
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(principal.csrf, given):
        raise Forbidden(
            f"this request needs the session's CSRF token (header {CSRF_HEADER} or form field {CSRF_FIELD}); "
            "reload the page and try again",
            code="csrf_failed",
        )


async def require_csrf(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> None:
    """The CSRF check as a dependency of its own (``CurrentUser`` already includes it)."""
    await check_csrf(request, principal)


async def current_user(request: Request, principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    """The caller, with the CSRF token checked for unsafe methods of a cookie session."""
    await check_csrf(request, principal)
    return principal


CurrentUser = Annotated[Principal, Depends(current_user)]


def admin_user(principal: CurrentUser) -> Principal:
    """The caller if an admin of the workspace; ``Forbidden`` (403) for a member."""
    if not principal.is_admin:
        raise Forbidden("only an admin of the workspace can do this")
    return principal


AdminUser = Annotated[Principal, Depends(admin_user)]


def secure_cookies(settings: Settings) -> bool:
    """Cookies are ``Secure`` unless mailtrail is reached over http on this machine (development)."""
    parts = urlsplit(settings.public_url)
    return not (parts.scheme == "http" and _is_loopback(parts.hostname or ""))


def set_session_cookie(response: Response, new: NewSession, settings: Settings, now: datetime) -> None:
    """Give the browser its session: HttpOnly (no script reads it), SameSite=Lax, Secure (but see above)."""
    response.set_cookie(
        SESSION_COOKIE, new.token, max_age=max(0, int((new.ends_at - now).total_seconds())), path="/",
        secure=secure_cookies(settings), httponly=True, samesite="lax",
    )  # fmt: skip


def clear_session_cookie(response: Response, settings: Settings) -> None:
    """Make the browser forget its session."""
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookies(settings), httponly=True, samesite="lax"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
