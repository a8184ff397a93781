"""Commands of the CRM domain: init, team, accounts, people, blacklist, settings.

Each command is a boundary: it opens one transaction (``workspace_session``), calls the services, and commits.
Other domains reuse ``workspace_session``, ``CliError`` and ``cli_errors`` (re-exported here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailtrail.crm.accounts.service import load_accounts
from mailtrail.crm.blacklist.service import add_entries, list_entries, remove_entries
from mailtrail.crm.boundary import (
    CliError,
    cli_errors,
    database_session,
    database_url,
    migrate,
    open_engine,
    shown_url,
    workspace_session,
)
from mailtrail.crm.csvfile import LoadCounts
from mailtrail.crm.people.service import load_people
from mailtrail.crm.team.service import add_member, list_members
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.crm.workspaces.service import (
    SETTING_KEYS,
    clean_domains,
    company_domains,
    create_workspace,
    get_setting,
    get_settings,
    set_setting,
)

__all__ = ["CliError", "cli_errors", "register", "workspace_session"]

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="Workspace name (needed only when there are several).")
]

team_app = typer.Typer(help="Team members and their aliases (always internal).", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (customer companies) and their domains.", no_args_is_help=True)
people_app = typer.Typer(help="People (contacts) with addresses and accounts.", no_args_is_help=True)
blacklist_app = typer.Typer(help="Addresses and domains that are never imported.", no_args_is_help=True)
settings_app = typer.Typer(help="Import-rule settings of a workspace.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this domain's commands to the root app."""
    app.command("init")(init)
    app.add_typer(team_app, name="team")
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(people_app, name="people")
    app.add_typer(blacklist_app, name="blacklist")
    app.add_typer(settings_app, name="settings")


def init(
    workspace: Annotated[str, typer.Option("--workspace", "-w", help="Name of the workspace to create.")],
    company_domain: Annotated[
        list[str] | None, typer.Option("--company-domain", help="An internal domain (repeat for several).")
    ] = None,
) -> None:
    """Create the database if needed, bring it up to date, and create a workspace."""
    with cli_errors():
        engine = open_engine(create=True)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        with database_session() as session:
            existing = WorkspaceRepository(session).by_name(workspace.strip())
            if existing is None:
                created = create_workspace(session, workspace, company_domain or ())
                domains = ", ".join(company_domains(session, created)) or "none"
                typer.echo(
                    f"Created workspace '{created.name}' (company domains: {domains}) "
                    f"in {shown_url(database_url())}"
                )
                return
            have = company_domains(session, existing)
            asked = clean_domains(company_domain or (), what="company domain")
            if asked and set(asked) != set(have):
                raise CliError(
                    f"workspace '{existing.name}' already exists with company domains "
                    f"{', '.join(have) or 'none'}; change them with "
                    "`mailtrail settings set company_domains 'DOMAIN;DOMAIN'`"
                )
            typer.echo(
                f"Workspace '{existing.name}' already exists; nothing changed (database is up to date)."
            )


@team_app.command("add")
def team_add(
    email: Annotated[str, typer.Argument(help="The member's own address.")],
    alias: Annotated[list[str] | None, typer.Option("--alias", help="Another address of the member.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The member's name.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Add a team member, or more aliases to one."""
    with workspace_session(workspace) as (session, ws):
        result = add_member(session, ws.id, email, alias or (), name)
        what = "Added team member" if result.created else "Team member"
        parts = [f"{what} {result.email}"]
        if result.added_aliases:
            parts.append(f"aliases added: {', '.join(result.added_aliases)}")
        if result.existing_aliases:
            parts.append(f"aliases already there: {', '.join(result.existing_aliases)}")
        if not result.created and not result.added_aliases:
            parts.append("nothing new")
        typer.echo("; ".join(parts))


@team_app.command("list")
def team_list(workspace: WorkspaceOption = None) -> None:
    """Show every team member with aliases."""
    with workspace_session(workspace) as (session, ws):
        for _, email, name, aliases in list_members(session, ws.id):
            label = f"{email} ({name})" if name else email
            typer.echo(f"{label}" + (f"  aliases: {', '.join(aliases)}" if aliases else ""))


@accounts_app.command("load")
def accounts_load(
    file: Annotated[Path, typer.Argument(help="CSV with columns name,domains,created_at.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Create or update accounts from a CSV file (all rows valid, or nothing changes)."""
    with workspace_session(workspace) as (session, ws):
        typer.echo(_counts(file, "accounts", load_accounts(session, ws.id, file)))


@people_app.command("load")
def people_load(
    file: Annotated[
        Path,
        typer.Argument(help="CSV with columns external_id,name,emails,accounts,default_account,created_at."),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Create or update people from a CSV file (all rows valid, or nothing changes)."""
    with workspace_session(workspace) as (session, ws):
        typer.echo(_counts(file, "people", load_people(session, ws.id, file)))


@blacklist_app.command("add")
def blacklist_add(
    entries: Annotated[list[str], typer.Argument(help="user@domain, domain, @domain or *.domain.")],
    by: Annotated[str | None, typer.Option("--by", help="Address of who adds them.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Add blacklist entries (future imports skip matching emails)."""
    with workspace_session(workspace) as (session, ws):
        change = add_entries(session, ws.id, entries, by)
        if change.changed:
            typer.echo(f"Added to the blacklist: {', '.join(change.changed)}")
        if change.already:
            typer.echo(f"Already on the blacklist: {', '.join(change.already)}")


@blacklist_app.command("remove")
def blacklist_remove(
    entries: Annotated[list[str], typer.Argument(help="Entries to remove, as added.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove blacklist entries (nothing skipped before is re-imported)."""
    with workspace_session(workspace) as (session, ws):
        change = remove_entries(session, ws.id, entries)
        typer.echo(f"Removed from the blacklist: {', '.join(change.changed)}")


@blacklist_app.command("list")
def blacklist_list(workspace: WorkspaceOption = None) -> None:
    """Show every blacklist entry with who added it and when."""
    with workspace_session(workspace) as (session, ws):
        listing = list_entries(session, ws.id)
        if not listing:
            typer.echo("The blacklist is empty.")
        for item in listing:
            by = f" by {item.added_by}" if item.added_by else ""
            typer.echo(f"{item.entry}\tadded {item.added_at.isoformat(timespec='seconds')}{by}")


@settings_app.command("get")
def settings_get(
    key: Annotated[str | None, typer.Argument(help=f"One of: {', '.join(SETTING_KEYS)}.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one setting's value, or every setting as KEY = VALUE."""
    with workspace_session(workspace) as (session, ws):
        if key is not None:
            typer.echo(get_setting(session, ws, key))
            return
        for name, value in get_settings(session, ws).items():
            typer.echo(f"{name} = {value}")


@settings_app.command("set")
def settings_set(
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(SETTING_KEYS)}.")],
    value: Annotated[list[str], typer.Argument(help="The new value (company_domains: one or more domains).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Change a setting; the value is checked first."""
    with workspace_session(workspace) as (session, ws):
        if len(value) > 1 and key.strip().lower().replace("-", "_") != "company_domains":
            raise CliError(f"setting '{key}' takes one value, got {len(value)}: {' '.join(value)}")
        new = set_setting(session, ws, key, " ".join(value))
        typer.echo(f"{key.strip().lower().replace('-', '_')} = {new}")


def _counts(file: Path, what: str, counts: LoadCounts) -> str:
    return f"{file}: {what} created {counts.created}, updated {counts.updated}, unchanged {counts.unchanged}"
