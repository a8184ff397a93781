"""Web sessions: sign in with address and password, look a session up (sliding its expiry), sign out.

The browser keeps a random token in a cookie; the database keeps only its SHA-256. A session ends after
12 hours without use (the idle limit slides forward with each request) and in any case 14 days after sign-in,
so a forgotten laptop does not stay signed in for ever. Each session has its CSRF token, an HMAC of the
session token under the session's own key, which pages put in their forms and scripts send as a header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from mailtrail.auth.errors import SignInFailed, SignInRefused, Unauthenticated
from mailtrail.auth.passwords import verify_password
from mailtrail.auth.principal import Principal
from mailtrail.auth.ratelimit import check_attempts, record_attempt
from mailtrail.auth.repository import WebSessionRepository, users_everywhere
from mailtrail.auth.users import clean_email
from mailtrail.logs import get_logger
from mailtrail.models import User, WebSession

log = get_logger(__name__)

IDLE_TIMEOUT = timedelta(hours=12)
ABSOLUTE_LIFETIME = timedelta(days=14)
# A session's last use is written at most this often: every request of a page would otherwise be a write
# (on SQLite, one that waits for the sync's transactions), and the idle limit needs no finer grain.
TOUCH_EVERY = timedelta(minutes=1)
MAX_USER_AGENT = 300


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just started: ``token`` goes into the cookie (and nowhere else), ``csrf`` into the pages."""

    token: str
    csrf: str
    user: User
    # The absolute end: the cookie can be kept until then.
    ends_at: datetime


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a session or API token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(csrf_secret: str, session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of its token under its own key."""
    key = csrf_secret.encode("ascii")
    return hmac.new(key, session_token.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_matches(expected: str, given: str | None) -> bool:
    """Whether ``given`` is the CSRF token ``expected``, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.strip().encode())


def sign_in(
    session: Session,
    email: str,
    password: str,
    *,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
    workspace: str | None = None,
) -> NewSession:
    """A new session for the user with this address and password.

    ``workspace`` (a name) chooses among several workspaces where the address is a user; without it the
    first whose password matches. Raises ``TooManyAttempts`` (before looking at the password),
    ``SignInFailed`` or ``SignInRefused`` (a disabled user). A failure is recorded before it is raised:
    the caller commits in that case too, since the failure is what the rate limit counts.
    """
    address = clean_email(email)
    check_attempts(session, address, ip, now)
    matched: User | None = None
    candidates = [user for user in users_everywhere(session, address, workspace) if user.password_hash]
    for user in candidates:
        ok, new_hash = verify_password(user.password_hash, password)
        if ok:
            matched = user
            if new_hash is not None:
                # The hashing parameters changed since this hash was made: the password is known now, so the
                # stored hash can be brought up to today's parameters.
                user.password_hash = new_hash
            break
    if not candidates:
        verify_password(None, password)
    if matched is None:
        record_attempt(session, address, ip, False, now)
        log.info("sign-in failed", ip=ip)
        raise SignInFailed()
    if matched.disabled:
        raise SignInRefused(f"{address} was disabled by an admin of the workspace: ask them to enable it")
    record_attempt(session, address, ip, True, now)
    return start_session(session, matched, now=now, user_agent=user_agent)


def start_session(
    session: Session, user: User, *, now: datetime, user_agent: str | None = None, via: str = "password"
) -> NewSession:
    """A new session for ``user``, whose identity was just proven (password, Google or Microsoft)."""
    token = secrets.token_urlsafe(32)
    secret = secrets.token_hex(32)
    row = WebSession(
        workspace_id=user.workspace_id, user_id=user.id, token_hash=hash_token(token), csrf_secret=secret,
        created_at=now, last_seen_at=now, expires_at=_expiry(now, now),
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
    )  # fmt: skip
    repository = WebSessionRepository(session)
    # Sessions that can no longer be used are forgotten here, where a session is made anyway: the table
    # stays the size of the sessions in use without a job of its own.
    repository.delete_expired(now)
    repository.add(row)
    user.last_sign_in_at = now
    session.flush()
    log.info("signed in", workspace_id=user.workspace_id, user_id=user.id, via=via)
    return NewSession(token, csrf_token(secret, token), user, now + ABSOLUTE_LIFETIME)


def session_principal(session: Session, token: str, now: datetime) -> Principal:
    """Who holds this session token; slides the idle expiry. ``Unauthenticated`` saying why not."""
    found = WebSessionRepository(session).with_user(hash_token(token))
    if found is None:
        raise Unauthenticated("this session has ended (signed out, or a new password was set): sign in again")
    row, user = found
    if row.expires_at <= now:
        if row.created_at + ABSOLUTE_LIFETIME <= now:
            reason = f"sessions last {ABSOLUTE_LIFETIME.days} days"
        else:
            reason = f"it was not used for {int(IDLE_TIMEOUT.total_seconds() // 3600)} hours"
        raise Unauthenticated(f"this session has expired ({reason}): sign in again")
    if user.disabled:
        raise Unauthenticated("this user was disabled by an admin of the workspace")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        row.expires_at = _expiry(row.created_at, now)
        session.flush()
    return Principal(user.id, user.workspace_id, user.role, "session", csrf_token(row.csrf_secret, token))


def sign_out(session: Session, token: str) -> bool:
    """End the session with this token; False if it had ended already."""
    return WebSessionRepository(session).delete(hash_token(token))


def _expiry(created_at: datetime, last_seen_at: datetime) -> datetime:
    return min(last_seen_at + IDLE_TIMEOUT, created_at + ABSOLUTE_LIFETIME)
