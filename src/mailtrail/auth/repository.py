"""All SQL of sign-in and roles.

Queries are filtered by workspace, with three kinds of exception, each because the workspace is what the
query finds out: a session or API token (its hash names the row, and so the workspace), an address signing
in (its users in every workspace), and the company domain of an address signing in with Google or Microsoft.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mailtrail.models import ApiToken, CompanyDomain, SignInAttempt, User, WebSession, Workspace


class UserRepository:
    """The users of one workspace."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        self.session = session
        self.workspace_id = workspace_id

    def by_email(self, email: str) -> User | None:
        """The user with this (normalised) address."""
        query = select(User).where(User.workspace_id == self.workspace_id, User.email == email)
        return self.session.scalars(query).one_or_none()

    def by_id(self, user_id: int) -> User | None:
        """The user with this id, if it is one of this workspace's."""
        query = select(User).where(User.workspace_id == self.workspace_id, User.id == user_id)
        return self.session.scalars(query).one_or_none()

    def all(self) -> list[User]:
        """Every user, by address."""
        query = select(User).where(User.workspace_id == self.workspace_id).order_by(User.email)
        return list(self.session.scalars(query))

    def add(self, email: str, name: str | None, role: str, password_hash: str | None, now: datetime) -> User:
        """Insert a user."""
        user = User(
            workspace_id=self.workspace_id, email=email, name=name, role=role,
            password_hash=password_hash, created_at=now, disabled=False,
        )  # fmt: skip
        self.session.add(user)
        self.session.flush()
        return user

    def active_admins(self) -> int:
        """How many admins can still sign in."""
        query = select(func.count(User.id)).where(
            User.workspace_id == self.workspace_id, User.role == "admin", User.disabled.is_(False)
        )
        return int(self.session.scalar(query) or 0)


def users_everywhere(session: Session, email: str, workspace_name: str | None = None) -> list[User]:
    """The users with this address in every workspace (or in the one named), oldest workspace first."""
    query = select(User).where(User.email == email)
    if workspace_name is not None:
        query = query.join(Workspace, Workspace.id == User.workspace_id).where(
            Workspace.name == workspace_name
        )
    return list(session.scalars(query.order_by(User.workspace_id)))


def workspaces_with_domain(session: Session, domain: str) -> list[int]:
    """The workspaces that have ``domain`` among their company domains."""
    query = select(CompanyDomain.workspace_id).where(CompanyDomain.domain == domain)
    return list(session.scalars(query.order_by(CompanyDomain.workspace_id)))


def company_domains(session: Session, workspace_id: int) -> set[str]:
    """The company domains of one workspace."""
    query = select(CompanyDomain.domain).where(CompanyDomain.workspace_id == workspace_id)
    return set(session.scalars(query))


class WebSessionRepository:
    """Web sessions; found by token hash, which names the workspace."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: WebSession) -> WebSession:
        """Insert a session."""
        self.session.add(row)
        self.session.flush()
        return row

    def with_user(self, token_hash: str) -> tuple[WebSession, User] | None:
        """The session with this token hash and its user (of the same workspace), in one query."""
        query = (
            select(WebSession, User)
            .join(User, (User.id == WebSession.user_id) & (User.workspace_id == WebSession.workspace_id))
            .where(WebSession.token_hash == token_hash)
        )
        row = self.session.execute(query).one_or_none()
        return (row[0], row[1]) if row is not None else None

    def delete(self, token_hash: str) -> bool:
        """End the session with this token hash; False if there was none."""
        result = self.session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))
        return bool(getattr(result, "rowcount", 0))

    def delete_for_user(self, workspace_id: int, user_id: int) -> int:
        """End every session of one user; returns how many."""
        result = self.session.execute(
            delete(WebSession).where(WebSession.workspace_id == workspace_id, WebSession.user_id == user_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def delete_expired(self, now: datetime) -> int:
        """Forget sessions that can no longer be used."""
        result = self.session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)


class ApiTokenRepository:
    """API tokens; found by prefix, which names the workspace, else within one workspace."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: ApiToken) -> ApiToken:
        """Insert a token."""
        self.session.add(row)
        self.session.flush()
        return row

    def by_prefix(self, prefix: str) -> ApiToken | None:
        """The token with this prefix, in whatever workspace (the caller checks the secret part)."""
        return self.session.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()

    def prefix_taken(self, prefix: str) -> bool:
        """Whether a token already has this prefix."""
        return self.session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)) is not None

    def in_workspace(self, workspace_id: int) -> list[ApiToken]:
        """Every token of a workspace, newest first."""
        query = (
            select(ApiToken)
            .where(ApiToken.workspace_id == workspace_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
        return list(self.session.scalars(query))


class AttemptRepository:
    """Password sign-in attempts by key (``address:...``, ``ip:...``)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, keys: Sequence[str], success: bool, at: datetime) -> None:
        """Record one attempt under each key."""
        self.session.add_all(SignInAttempt(key=key, at=at, success=success) for key in keys)
        self.session.flush()

    def failures(self, key: str, since: datetime) -> list[datetime]:
        """When the failed attempts under ``key`` since ``since`` were made, oldest first."""
        query = (
            select(SignInAttempt.at)
            .where(SignInAttempt.key == key, SignInAttempt.at > since, SignInAttempt.success.is_(False))
            .order_by(SignInAttempt.at)
        )
        return list(self.session.scalars(query))

    def last_success(self, key: str, since: datetime) -> datetime | None:
        """The last successful attempt under ``key`` since ``since``."""
        query = select(func.max(SignInAttempt.at)).where(
            SignInAttempt.key == key, SignInAttempt.at > since, SignInAttempt.success.is_(True)
        )
        return self.session.scalar(query)

    def prune(self, before: datetime) -> None:
        """Forget attempts too old to count."""
        self.session.execute(delete(SignInAttempt).where(SignInAttempt.at < before))
