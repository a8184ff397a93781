"""``GET /v1.0/users/{id|upn}/mailFolders/{id}/messages/delta``: delta query on one folder (see ``delta.py``).

Query options (https://learn.microsoft.com/graph/api/message-delta): ``$select``, ``$top``, ``changeType``,
and ``$filter`` limited to ``receivedDateTime ge|gt {value}``; no ``$search``. An expired token answers 410
with a ``Location`` header naming the initial delta URL, the synchronization reset of
https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset. Include this router before the
mail read routes, so that ``delta`` is not taken for a message id.

No ``from __future__ import annotations`` here: FastAPI must see the ``Access`` dependency alias, a local.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import MailboxAccess
from mailtrail.sandbox.graph.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DeltaOptions, DeltaPage
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import message_graph_id
from mailtrail.sandbox.graph.lookup import find_folder, render_message
from mailtrail.sandbox.graph.params import (
    context_url,
    id_kind,
    int_param,
    link,
    prefer,
    preference_applied,
    preferred_page_size,
)
from mailtrail.sandbox.graph.shapes import MESSAGE_PROPERTIES, parse_select
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.store import UnknownMessage


def delta_router(graph: GraphSandbox) -> APIRouter:
    """The delta route of one emulator."""
    router = APIRouter(prefix="/v1.0/users/{user}", tags=["mail"])

    def access(request: Request, user: str) -> Iterator[MailboxAccess]:
        yield from graph.mailbox_access(request, user)

    Access = Annotated[MailboxAccess, Depends(access)]

    @router.get("/mailFolders/{folder}/messages/delta")
    def delta(request: Request, folder: str, a: Access) -> Response:
        found = find_folder(a.mailbox, folder)
        if found is None:
            raise GraphError(400, "ErrorInvalidRequest", "Delta is not supported on the root folder.")
        query = request.query_params
        base = str(request.url).split("?")[0]
        try:
            if query.get("$skiptoken"):
                cursor = graph.delta.skip(a.mailbox, found.id, query["$skiptoken"])
            elif query.get("$deltatoken"):
                cursor = graph.delta.resume(a.mailbox, found.id, query["$deltatoken"])
            else:
                cursor = graph.delta.start(a.mailbox, found.id, _delta_options(request))
        except GraphError as error:
            if error.status == 410:  # start over from the initial delta URL
                error.headers = {**error.headers, "Location": base}
            raise
        page_size, applied = preferred_page_size(request)
        if cursor.options.top is not None and "odata.maxpagesize" not in prefer(request):
            page_size = cursor.options.top
        page = graph.delta.page(cursor, page_size)
        body: dict[str, object] = {
            "@odata.context": context_url(request, "Collection(message)"),
            "value": _values(request, a, found.id, page),
        }
        if page.skip_token is not None:
            body["@odata.nextLink"] = link(base, {"$skiptoken": page.skip_token})
        else:
            body["@odata.deltaLink"] = link(base, {"$deltatoken": page.delta_token})
        return JSONResponse(body, headers=preference_applied(request, applied))

    def _values(
        request: Request, a: MailboxAccess, folder_id: str, page: DeltaPage
    ) -> list[dict[str, object]]:
        values: list[dict[str, object]] = []
        for msg_id, entry in page.entries:
            if entry == "upsert":
                try:
                    msg = a.mailbox.get(msg_id)
                except UnknownMessage:
                    entry = "deleted"
                else:
                    rendered = render_message(graph, request, a, msg, page.options.select)
                    values.append({"@odata.type": "#microsoft.graph.message", **rendered})
                    continue
            # A removed message's id is the one the client knew: its immutable id, or the default id it had
            # in the folder being tracked.
            graph_id = message_graph_id(a.mailbox.address, msg_id, folder_id, id_kind(request))
            values.append(
                {"@odata.type": "#microsoft.graph.message", "id": graph_id, "@removed": {"reason": entry}}
            )
        return values

    return router


def _delta_options(request: Request) -> DeltaOptions:
    query = request.query_params
    select = parse_select(query.get("$select"), MESSAGE_PROPERTIES, "message")
    change_type = query.get("changeType")
    if change_type is not None and change_type not in ("created", "updated", "deleted"):
        raise GraphError(
            400, "ErrorInvalidUrlQuery", f"The value '{change_type}' of changeType is not valid."
        )
    if query.get("$search"):
        raise GraphError(
            400, "ErrorInvalidUrlQuery", "The query parameter '$search' is not supported with delta."
        )
    op: str | None = None
    when: datetime | None = None
    if query.get("$filter"):
        parts = query["$filter"].split()
        if len(parts) != 3 or parts[0] != "receivedDateTime" or parts[1] not in ("ge", "gt"):
            raise GraphError(
                400,
                "ErrorInvalidUrlQueryFilter",
                "The only supported $filter on messages delta is 'receivedDateTime ge|gt {value}'.",
            )
        try:
            when = datetime.fromisoformat(parts[2].replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(
                400, "ErrorInvalidUrlQueryFilter", f"Invalid date '{parts[2]}' in $filter."
            ) from None
        op = parts[1]
    top = int_param(request, "$top", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) if query.get("$top") else None
    return DeltaOptions(select, change_type, op, when, top)
