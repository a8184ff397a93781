"""Commands of sign-in and roles: ``mailtrail users ...`` and ``mailtrail tokens ...``.

``mailtrail users add EMAIL --admin`` makes the first admin of a fresh workspace, who then signs in to the web
app. Each command is a boundary (one transaction, committed at the end); errors are one line on stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from mailtrail.auth.errors import AuthError
from mailtrail.auth.tokens import create_token, list_tokens, revoke_token, shown_prefix
from mailtrail.auth.users import (
    add_user,
    disable_user,
    enable_user,
    find_user,
    list_users,
    set_password,
    set_role,
)
from mailtrail.crm.boundary import CliError, cli_errors, workspace_session
from mailtrail.models import Workspace, utcnow

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (needed only when there are several).")
]
EmailArgument = Annotated[str, typer.Argument(help="The user's email address.")]
PasswordFile = Annotated[
    Path | None,
    typer.Option("--password-file", help="Read the password from this file (else it is asked for)."),
]

users_app = typer.Typer(help="People who sign in to mailtrail, and their roles.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens, for programs that use mailtrail's API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root app."""
    app.add_typer(users_app, name="users")
    app.add_typer(tokens_app, name="tokens")


@contextmanager
def _workspace(workspace: str | None) -> Iterator[tuple[Session, Workspace]]:
    """``workspace_session``, with this domain's errors shown as one line too."""
    with workspace_session(workspace) as (session, ws):
        try:
            yield session, ws
        except AuthError as exc:
            raise CliError(exc.message) from None


@users_app.command("add")
def users_add(
    email: EmailArgument,
    admin: Annotated[bool, typer.Option("--admin", help="An admin (settings, team, tokens...).")] = False,
    name: Annotated[str | None, typer.Option("--name", help="The user's name.")] = None,
    password_file: PasswordFile = None,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="No password: the user signs in with Google or Microsoft.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a user (a member unless --admin); the first admin of a workspace is made this way."""
    if no_password and password_file is not None:
        raise typer.BadParameter("give --password-file or --no-password, not both")
    password = None if no_password else _password(password_file)
    with _workspace(workspace) as (session, ws):
        user = add_user(
            session,
            ws.id,
            email,
            now=utcnow(),
            name=name,
            role="admin" if admin else "member",
            password=password,
        )
        how = "with a password" if password is not None else "signing in with Google or Microsoft only"
        typer.echo(f"Added {user.role} {user.email} to workspace {ws.name} ({how})")


@users_app.command("list")
def users_list(workspace: WorkspaceOption = None) -> None:
    """Show every user: role, how they sign in, whether disabled, last sign-in."""
    with _workspace(workspace) as (session, ws):
        users = list_users(session, ws.id)
        if not users:
            typer.echo(f"Workspace {ws.name} has no users yet: `mailtrail users add EMAIL --admin`")
        for user in users:
            label = f"{user.email} ({user.name})" if user.name else user.email
            how = "password" if user.password_hash else "Google/Microsoft"
            state = "  DISABLED" if user.disabled else ""
            typer.echo(f"{label}  {user.role}  {how}  last sign-in {_at(user.last_sign_in_at)}{state}")


@users_app.command("role")
def users_role(
    email: EmailArgument,
    role: Annotated[str, typer.Argument(help="admin or member")],
    workspace: WorkspaceOption = None,
) -> None:
    """Make a user an admin or a member."""
    with _workspace(workspace) as (session, ws):
        user = set_role(session, find_user(session, ws.id, email), role)
        typer.echo(f"{user.email} is now {'an admin' if user.role == 'admin' else 'a member'}")


@users_app.command("disable")
def users_disable(email: EmailArgument, workspace: WorkspaceOption = None) -> None:
    """Stop a user from signing in, and end their sessions."""
    with _workspace(workspace) as (session, ws):
        user = disable_user(session, find_user(session, ws.id, email))
        typer.echo(f"{user.email} is disabled: signed out everywhere, and cannot sign in")


@users_app.command("enable")
def users_enable(email: EmailArgument, workspace: WorkspaceOption = None) -> None:
    """Let a disabled user sign in again."""
    with _workspace(workspace) as (session, ws):
        user = enable_user(session, find_user(session, ws.id, email))
        typer.echo(f"{user.email} can sign in again")


@users_app.command("set-password")
def users_set_password(
    email: EmailArgument, password_file: PasswordFile = None, workspace: WorkspaceOption = None
) -> None:
    """Give a user a new password (their sessions end)."""
    password = _password(password_file)
    with _workspace(workspace) as (session, ws):
        user = set_password(session, find_user(session, ws.id, email), password)
        typer.echo(f"New password set for {user.email}; their sessions were ended")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What will use it, e.g. 'Salesforce sync'.")],
    role: Annotated[str, typer.Option("--role", help="member (reads, the default) or admin.")] = "member",
    workspace: WorkspaceOption = None,
) -> None:
    """Make an API token and show it, once."""
    with _workspace(workspace) as (session, ws):
        new = create_token(session, ws.id, name, now=utcnow(), role=role)
    # Printed after the commit: a token shown is a token that exists.
    typer.echo(f"API token '{new.row.name}' ({new.row.role}) for workspace {ws.name}:")
    typer.echo(new.token)
    typer.echo(
        "Copy it now: it is shown only this once (mailtrail keeps only a hash). "
        "Send it as 'Authorization: Bearer <token>'."
    )


@tokens_app.command("list")
def tokens_list(workspace: WorkspaceOption = None) -> None:
    """Show every API token (never the secret part)."""
    with _workspace(workspace) as (session, ws):
        tokens = list_tokens(session, ws.id)
        if not tokens:
            typer.echo(f"Workspace {ws.name} has no API tokens: `mailtrail tokens create NAME`")
        for token in tokens:
            state = f"revoked {_at(token.revoked_at)}" if token.revoked_at else "active"
            typer.echo(
                f"{shown_prefix(token)}  {token.name}  {token.role}  created {_at(token.created_at)}  "
                f"last used {_at(token.last_used_at)}  {state}"
            )


@tokens_app.command("revoke")
def tokens_revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix as listed (mt_1a2b3c4d).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke an API token: programs using it are refused from now on."""
    with _workspace(workspace) as (session, ws):
        token = revoke_token(session, ws.id, prefix, utcnow())
        typer.echo(f"Revoked API token {shown_prefix(token)} ({token.name})")


def _password(path: Path | None) -> str:
    with cli_errors():
        return _read_password(path)


def _read_password(path: Path | None) -> str:
    if path is None:
        value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return value
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(
            f"cannot read the password file {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    # A file written by `echo` ends with a newline that is not part of the password.
    return text.removesuffix("\n").removesuffix("\r")


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"
