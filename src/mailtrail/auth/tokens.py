"""API tokens of a workspace: ``mt_<prefix>_<secret>``, shown once, stored as a SHA-256, revocable.

The prefix (8 hex digits) names a token in lists and finds its row; the secret (43 url-safe characters,
256 random bits) proves it, compared in constant time with the stored hash. A token belongs to its
workspace, not to the admin who made it, so an integration keeps working when that person leaves; it has a
role like a user: ``member`` (reads everything, the default: what most integrations need) or ``admin``.
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailtrail.auth.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from mailtrail.auth.principal import Principal
from mailtrail.auth.repository import ApiTokenRepository
from mailtrail.auth.sessions import TOUCH_EVERY, hash_token
from mailtrail.auth.users import clean_role
from mailtrail.logs import get_logger
from mailtrail.models import ApiToken

log = get_logger(__name__)

TOKEN_START = "mt_"  # noqa: S105 - how every token starts, not a token
_TOKEN = re.compile(r"mt_(?P<prefix>[0-9a-f]{8})_(?P<secret>[A-Za-z0-9_-]{43})")
_PREFIX = re.compile(r"(?:mt_)?(?P<prefix>[0-9a-f]{8})(?:_.*)?")
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just made: ``token`` is shown to its maker once and never again."""

    token: str
    row: ApiToken

    @property
    def shown_prefix(self) -> str:
        """How lists show it: ``mt_<prefix>``."""
        return shown_prefix(self.row)


def shown_prefix(row: ApiToken) -> str:
    """The token as lists show it: ``mt_<prefix>``."""
    return f"{TOKEN_START}{row.prefix}"


def create_token(
    session: Session,
    workspace_id: int,
    name: str,
    *,
    now: datetime,
    role: str = "member",
    created_by: int | None = None,
) -> NewToken:
    """A new API token for the workspace; the returned ``token`` is the only copy of the secret."""
    name = name.strip()
    if not name:
        raise InvalidInput("an API token needs a name (what uses it, e.g. 'Salesforce sync')")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"an API token's name may have at most {MAX_NAME} characters")
    repository = ApiTokenRepository(session)
    prefix = secrets.token_hex(4)
    while repository.prefix_taken(prefix):
        prefix = secrets.token_hex(4)
    token = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(
        workspace_id=workspace_id, name=name, prefix=prefix, token_hash=hash_token(token),
        role=clean_role(role), created_by=created_by, created_at=now,
    )  # fmt: skip
    repository.add(row)
    log.info("api token created", workspace_id=workspace_id, prefix=prefix, role=row.role)
    return NewToken(token, row)


def list_tokens(session: Session, workspace_id: int) -> list[ApiToken]:
    """Every token of the workspace, revoked ones too, newest first."""
    return ApiTokenRepository(session).in_workspace(workspace_id)


def find_token(session: Session, workspace_id: int, prefix: str) -> ApiToken:
    """The token with this prefix (``mt_1a2b3c4d``, ``1a2b3c4d`` or the whole token) in the workspace."""
    match = _PREFIX.fullmatch(prefix.strip())
    row = ApiTokenRepository(session).by_prefix(match["prefix"]) if match else None
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(f"no API token {prefix.strip()[:12]!r} in this workspace (see the list of tokens)")
    return row


def revoke_token(session: Session, workspace_id: int, prefix: str, now: datetime) -> ApiToken:
    """Revoke a token: from now on it is refused. ``Conflict`` if it was revoked already."""
    row = find_token(session, workspace_id, prefix)
    if row.revoked_at is not None:
        when = f"{row.revoked_at:%Y-%m-%d %H:%M} UTC"
        raise Conflict(f"API token {shown_prefix(row)} was already revoked on {when}")
    row.revoked_at = now
    session.flush()
    log.info("api token revoked", workspace_id=workspace_id, prefix=row.prefix)
    return row


def token_principal(session: Session, token: str, now: datetime) -> Principal:
    """Who this API token acts as; notes its use. ``Unauthenticated`` saying why not."""
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise Unauthenticated("this is not a mailtrail API token (they look like mt_<8 hex digits>_<secret>)")
    row = ApiTokenRepository(session).by_prefix(match["prefix"])
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(match[0])):
        raise Unauthenticated("this API token is not known: check that it was copied whole")
    if row.revoked_at is not None:
        raise Unauthenticated(f"API token {shown_prefix(row)} was revoked on {row.revoked_at:%Y-%m-%d} (UTC)")
    # Written at most once a minute, for the reason sessions are (sessions.TOUCH_EVERY).
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        session.flush()
    return Principal(None, row.workspace_id, row.role, "token", None)
