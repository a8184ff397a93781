"""The tables of sign-in and roles: users, their web sessions, API tokens, and sign-in attempts.

No column holds a secret in clear: passwords are argon2 hashes, session and API tokens SHA-256 hashes (the
tokens themselves are random, so a plain hash is enough: there is nothing to guess).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailtrail.models.base import Base, Id, UTCDateTime, utcnow
from mailtrail.models.base import workspace_column as _ws

ROLES = ("admin", "member")


class User(Base):
    """Someone who signs in to a workspace: with a password, or with Google or Microsoft (no password)."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("workspace_id", "email"),
        # Sign-in starts from the address alone, before anyone knows the workspace.
        Index("ix_users_email", "email"),
        CheckConstraint("role IN ('admin', 'member')", name="role"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str | None] = mapped_column(String(200))
    # "admin" or "member".
    role: Mapped[str] = mapped_column(String(8), default="member")
    # argon2id, in argon2's own encoding (parameters and salt included); None: signs in only with Google or
    # Microsoft.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The key of the session's CSRF token (HMAC of the session token). Not a secret on its own: without the
    # session token, which is stored only as a hash, no one can compute the CSRF token from it.
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The earlier of "idle too long" and "too old": moves forward as the session is used, never past the
    # absolute limit.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiToken(Base):
    """A workspace's API token ``mt_<prefix>_<secret>``: shown once, kept as its SHA-256."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("role IN ('admin', 'member')", name="role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = _ws()
    name: Mapped[str] = mapped_column(String(200))
    # Shown in lists and used to find the row; the secret part is what proves the token.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    # What the token may do: "admin" or "member", like a user.
    role: Mapped[str] = mapped_column(String(8), default="member")
    created_by: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInAttempt(Base):
    """One password sign-in attempt, counted per address and per client IP to slow down guessing.

    Not workspace data: attempts are counted before anyone knows the workspace (an unknown address has none),
    and a limit per IP must hold across workspaces.
    """

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # "address:<address>" or "ip:<address>".
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    success: Mapped[bool] = mapped_column(Boolean)
