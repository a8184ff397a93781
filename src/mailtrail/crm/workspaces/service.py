"""Workspaces: create, find (by name or the only one), and the import-rule settings with validation."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from mailtrail.addresses import clean_domain
from mailtrail.crm.errors import CrmError
from mailtrail.crm.fields import parse_bool, split_list
from mailtrail.crm.workspaces.repository import WorkspaceRepository
from mailtrail.models import Workspace
from mailtrail.rules.types import Settings

VISIBILITIES = ("metadata", "subject", "full")
SETTING_KEYS = ("company_domains", "backfill_days", "ignore_subaddress", "skip_role_addresses", "visibility")
# What `settings set` accepts for each key, for the error message.
ALLOWED = {
    "company_domains": "a list of domains separated by ';' or spaces (empty for none)",
    "backfill_days": "a whole number of days, 0 or more",
    "ignore_subaddress": "true, false, yes, no, 1 or 0",
    "skip_role_addresses": "true, false, yes, no, 1 or 0",
    "visibility": " | ".join(VISIBILITIES),
}
MAX_NAME = 200


class WorkspaceExistsError(CrmError):
    """``create_workspace`` for a name that is taken."""


def create_workspace(session: Session, name: str, company_domains: Iterable[str] = ()) -> Workspace:
    """A new workspace with its company domains; raises ``WorkspaceExistsError`` if the name is taken."""
    name = _clean_name(name)
    repository = WorkspaceRepository(session)
    if repository.by_name(name) is not None:
        raise WorkspaceExistsError(f"workspace '{name}' already exists")
    domains = clean_domains(company_domains, what="company domain")
    workspace = repository.add(name)
    repository.replace_company_domains(workspace.id, domains)
    return workspace


def find_workspace(session: Session, name: str | None = None) -> Workspace:
    """The workspace called ``name``, or the only one when no name is given."""
    workspaces = WorkspaceRepository(session).all()
    names = ", ".join(f"'{w.name}'" for w in workspaces)
    if name is not None:
        for workspace in workspaces:
            if workspace.name == name.strip():
                return workspace
        if not workspaces:
            raise CrmError(f"no workspace '{name}': there is no workspace yet (run `mailtrail init`)")
        raise CrmError(f"no workspace '{name}' (workspaces: {names})")
    if not workspaces:
        raise CrmError("there is no workspace yet: run `mailtrail init --workspace NAME` first")
    if len(workspaces) > 1:
        raise CrmError(f"there are {len(workspaces)} workspaces ({names}): choose one with --workspace NAME")
    return workspaces[0]


def company_domains(session: Session, workspace: Workspace) -> list[str]:
    """The workspace's company domains, sorted."""
    return WorkspaceRepository(session).company_domains(workspace.id)


def rules_settings(workspace: Workspace) -> Settings:
    """The settings as the rules take them."""
    return Settings(
        backfill_days=workspace.backfill_days,
        ignore_subaddress=workspace.ignore_subaddress,
        skip_role_addresses=workspace.skip_role_addresses,
        visibility=workspace.visibility,
    )


def get_settings(session: Session, workspace: Workspace) -> dict[str, str]:
    """Every setting by key, as text (booleans as true/false, domains separated by spaces)."""
    return {
        "company_domains": " ".join(company_domains(session, workspace)),
        "backfill_days": str(workspace.backfill_days),
        "ignore_subaddress": _bool_text(workspace.ignore_subaddress),
        "skip_role_addresses": _bool_text(workspace.skip_role_addresses),
        "visibility": workspace.visibility,
    }


def get_setting(session: Session, workspace: Workspace, key: str) -> str:
    """One setting as text; raises ``CrmError`` naming the known keys for an unknown one."""
    return get_settings(session, workspace)[_check_key(key)]


def set_setting(session: Session, workspace: Workspace, key: str, value: str) -> str:
    """Validate and store one setting; returns its new value as text."""
    key = _check_key(key)
    try:
        if key == "company_domains":
            domains = clean_domains(split_list(value, spaces=True), what="company domain")
            WorkspaceRepository(session).replace_company_domains(workspace.id, domains)
        elif key == "backfill_days":
            workspace.backfill_days = _parse_days(value)
        elif key == "ignore_subaddress":
            workspace.ignore_subaddress = parse_bool(value)
        elif key == "skip_role_addresses":
            workspace.skip_role_addresses = parse_bool(value)
        else:
            visibility = value.strip().lower()
            if visibility not in VISIBILITIES:
                raise ValueError(f'"{value}" is not a visibility')
            workspace.visibility = visibility
    except (ValueError, CrmError) as exc:
        raise CrmError(f"setting '{key}': {exc} (allowed: {ALLOWED[key]})") from None
    WorkspaceRepository(session).bump_rules_version(workspace.id)
    session.flush()
    return get_setting(session, workspace, key)


def clean_domains(domains: Iterable[str], *, what: str) -> list[str]:
    """Normalised, de-duplicated domains in the order given; raises ``CrmError`` naming each bad one."""
    cleaned: list[str] = []
    problems: list[str] = []
    for text in domains:
        for item in split_list(text, spaces=True):
            try:
                domain = clean_domain(item)
            except ValueError as exc:
                problems.append(f"{what} {exc}")
                continue
            if domain not in cleaned:
                cleaned.append(domain)
    if problems:
        raise CrmError("; ".join(problems))
    return cleaned


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CrmError("a workspace needs a name")
    if len(name) > MAX_NAME:
        raise CrmError(f"workspace name longer than {MAX_NAME} characters")
    return name


def _check_key(key: str) -> str:
    normalised = key.strip().lower().replace("-", "_")
    if normalised not in SETTING_KEYS:
        raise CrmError(f"unknown setting '{key}' (settings: {', '.join(SETTING_KEYS)})")
    return normalised


def _parse_days(value: str) -> int:
    try:
        days = int(value.strip())
    except ValueError:
        raise ValueError(f'"{value}" is not a whole number') from None
    if days < 0:
        raise ValueError(f"{days} is negative")
    return days


def _bool_text(value: bool) -> str:
    return "true" if value else "false"
