"""Users of a workspace: add, list, change role, disable and enable, set a password; and the user behind a
Google or Microsoft sign-in.

A workspace always keeps an admin who can sign in: the last one can be neither disabled nor made a member.
Disabling a user or setting a new password ends the user's sessions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_address
from mailtrail.auth.errors import Conflict, InvalidInput, NotFound, SignInRefused
from mailtrail.auth.passwords import hash_password
from mailtrail.auth.repository import (
    UserRepository,
    WebSessionRepository,
    company_domains,
    workspaces_with_domain,
)
from mailtrail.logs import get_logger
from mailtrail.models import User
from mailtrail.models.auth import ROLES

log = get_logger(__name__)
MAX_NAME = 200


def clean_email(text: str) -> str:
    """An address as users are stored by (lower-cased, normalised); ``InvalidInput`` if it is none."""
    try:
        return clean_address(text)
    except ValueError as exc:
        raise InvalidInput(f"not an email address: {exc}") from None


def clean_role(text: str) -> str:
    """``admin`` or ``member``; ``InvalidInput`` otherwise."""
    role = text.strip().lower()
    if role not in ROLES:
        raise InvalidInput(f'"{text}" is not a role (roles: {", ".join(ROLES)})')
    return role


def add_user(
    session: Session,
    workspace_id: int,
    email: str,
    *,
    now: datetime,
    name: str | None = None,
    role: str = "member",
    password: str | None = None,
) -> User:
    """A new user; without ``password``, one who signs in only with Google or Microsoft."""
    address = clean_email(email)
    repository = UserRepository(session, workspace_id)
    if repository.by_email(address) is not None:
        raise Conflict(f"{address} is already a user of this workspace")
    password_hash = hash_password(password) if password is not None else None
    user = repository.add(address, _clean_name(name), clean_role(role), password_hash, now)
    log.info("user added", workspace_id=workspace_id, user_id=user.id, role=user.role)
    return user


def list_users(session: Session, workspace_id: int) -> list[User]:
    """Every user of the workspace, by address."""
    return UserRepository(session, workspace_id).all()


def find_user(session: Session, workspace_id: int, email: str) -> User:
    """The user with this address; ``NotFound`` if the workspace has none."""
    address = clean_email(email)
    user = UserRepository(session, workspace_id).by_email(address)
    if user is None:
        raise NotFound(f"{address} is not a user of this workspace")
    return user


def get_user(session: Session, workspace_id: int, user_id: int) -> User:
    """The user with this id; ``NotFound`` if it is not one of this workspace's."""
    user = UserRepository(session, workspace_id).by_id(user_id)
    if user is None:
        raise NotFound(f"no user {user_id} in this workspace")
    return user


def set_role(session: Session, user: User, role: str) -> User:
    """Make ``user`` an admin or a member (never the last admin a member)."""
    role = clean_role(role)
    if user.role == "admin" and role != "admin" and not user.disabled:
        _keep_an_admin(session, user, "made a member")
    user.role = role
    session.flush()
    log.info("role changed", workspace_id=user.workspace_id, user_id=user.id, role=role)
    return user


def disable_user(session: Session, user: User) -> User:
    """Stop ``user`` from signing in, and end their sessions (never the last admin)."""
    if user.disabled:
        return user
    if user.role == "admin":
        _keep_an_admin(session, user, "disabled")
    user.disabled = True
    ended = WebSessionRepository(session).delete_for_user(user.workspace_id, user.id)
    session.flush()
    log.info("user disabled", workspace_id=user.workspace_id, user_id=user.id, sessions_ended=ended)
    return user


def enable_user(session: Session, user: User) -> User:
    """Let a disabled user sign in again."""
    user.disabled = False
    session.flush()
    return user


def set_password(session: Session, user: User, password: str) -> User:
    """Give ``user`` a new password and end their sessions (a reset locks out whoever had the old one)."""
    user.password_hash = hash_password(password)
    ended = WebSessionRepository(session).delete_for_user(user.workspace_id, user.id)
    session.flush()
    log.info("password set", workspace_id=user.workspace_id, user_id=user.id, sessions_ended=ended)
    return user


def federated_user(
    session: Session, email: str, name: str | None, organisation: str | None, provider: str, now: datetime
) -> User:
    """The user behind a Google or Microsoft sign-in, found by address in the workspace whose company domains
    hold the address's domain (and ``organisation``, Google's hosted domain, when there is one).

    A company address that has no user yet becomes a member on its first sign-in. That is what a CS team
    expects: the admin already told mailtrail which domains are the company's, and Google or Microsoft vouch
    for the address, so a colleague can open the timelines without waiting for an invitation (as with the
    "just-in-time" accounts of the CRMs they use). A member changes no settings, and an admin can disable
    anyone; an address in a domain of several workspaces needs an admin to add it, since which workspace is
    meant cannot be told.
    """
    address = clean_email(email)
    domain = address.rpartition("@")[2]
    workspaces = workspaces_with_domain(session, domain)
    if not workspaces:
        raise SignInRefused(
            f"{address} is not an address of your company's domains in mailtrail: sign in with your work "
            f"account, or ask an admin to add {domain} to the company domains"
        )
    users = [u for w in workspaces if (u := UserRepository(session, w).by_email(address)) is not None]
    if not users and len(workspaces) > 1:
        raise SignInRefused(
            f"{domain} belongs to several mailtrail workspaces: ask an admin to add {address} as a user"
        )
    workspace_id = users[0].workspace_id if users else workspaces[0]
    if organisation is not None and organisation not in company_domains(session, workspace_id):
        raise SignInRefused(
            f"{address} belongs to the Google Workspace organisation {organisation}, which is not one of "
            "your company's domains in mailtrail: ask an admin to add it"
        )
    if users:
        user = users[0]
    else:
        user = UserRepository(session, workspace_id).add(address, _clean_name(name), "member", None, now)
        log.info("user created at first sign-in", workspace_id=workspace_id, user_id=user.id,
                 provider=provider)  # fmt: skip
    if user.disabled:
        raise SignInRefused(f"{address} was disabled by an admin of the workspace: ask them to enable it")
    if user.name is None and name:
        user.name = _clean_name(name)
    return user


def _keep_an_admin(session: Session, user: User, change: str) -> None:
    if UserRepository(session, user.workspace_id).active_admins() <= 1:
        raise Conflict(
            f"{user.email} is the last admin of the workspace and cannot be {change}: make another user an "
            "admin first"
        )


def _clean_name(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    return name.strip()[:MAX_NAME]
