"""Request parameters shared by the Graph routes: ``Prefer`` preferences, paging options, links, id kinds."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from mailtrail.sandbox.graph.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import IdKind


def prefer(request: Request) -> dict[str, str]:
    """The ``Prefer`` preferences of a request, by lower-case name (values unquoted)."""
    found: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"')
    return found


def link(base: str, params: dict[str, Any]) -> str:
    """A next/delta link; ``$`` stays literal in parameter names, as in Graph's own links."""
    return f"{base}?{urlencode(params, safe='$')}"


def id_kind(request: Request) -> IdKind:
    """``immutable`` when ``Prefer: IdType="ImmutableId"`` asks for ids that survive moves."""
    return "immutable" if prefer(request).get("idtype", "").lower() == "immutableid" else "default"


def body_type(request: Request) -> str | None:
    """The ``Prefer: outlook.body-content-type`` value ("text" or "html"), if the request has one."""
    value = prefer(request).get("outlook.body-content-type", "").lower()
    return value if value in ("text", "html") else None


def preference_applied(request: Request, extra: list[str] | None = None) -> dict[str, str]:
    """The ``Preference-Applied`` header confirming the preferences honoured (none: no header)."""
    applied = list(extra or [])
    if id_kind(request) == "immutable":
        applied.append('IdType="ImmutableId"')
    wanted_body = body_type(request)
    if wanted_body is not None:
        applied.append(f'outlook.body-content-type="{wanted_body}"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def int_param(request: Request, name: str, default: int, maximum: int) -> int:
    """A non-negative integer query option (``$top`` at least 1), capped at ``maximum``."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.") from None
    if value < 0 or (name == "$top" and value == 0):
        raise GraphError(400, "BadRequest", f"Invalid value '{raw}' for query option {name}.")
    return min(value, maximum)


def preferred_page_size(request: Request) -> tuple[int, list[str]]:
    """The page size ``Prefer: odata.maxpagesize`` asks for (default 10), and the preference it applied."""
    prefs = prefer(request)
    if "odata.maxpagesize" not in prefs:
        return DEFAULT_PAGE_SIZE, []
    try:
        size = max(1, min(int(prefs["odata.maxpagesize"]), MAX_PAGE_SIZE))
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid odata.maxpagesize preference.") from None
    return size, [f"odata.maxpagesize={size}"]


def context_url(request: Request, what: str) -> str:
    """The ``@odata.context`` of a response, under this sandbox's base URL."""
    return f"{str(request.base_url).rstrip('/')}/v1.0/$metadata#{what}"
