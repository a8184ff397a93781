"""``/v1.0/users/{id|upn}/...`` mail routes: mailFolders, childFolders, messages, $value and delta.

No ``from __future__ import annotations`` here: FastAPI must see the ``Access`` dependency alias, a local.
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import MailboxAccess
from mailtrail.sandbox.graph.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DeltaOptions, DeltaPage
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import (
    ROOT_FOLDER,
    IdKind,
    folder_graph_id,
    message_graph_id,
    parse_folder_id,
    parse_message_id,
)
from mailtrail.sandbox.graph.shapes import (
    FOLDER_PROPERTIES,
    MESSAGE_PROPERTIES,
    folder_json,
    message_json,
    parse_select,
)
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.store import Folder, Mailbox, StoredMessage, UnknownFolder, UnknownMessage

_NOT_FOUND = "The specified object was not found in the store."


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
    return "immutable" if prefer(request).get("idtype", "").lower() == "immutableid" else "default"


def _applied(request: Request, extra: list[str] | None = None) -> dict[str, str]:
    applied = list(extra or [])
    if id_kind(request) == "immutable":
        applied.append('IdType="ImmutableId"')
    body_type = prefer(request).get("outlook.body-content-type", "").lower()
    if body_type in ("text", "html"):
        applied.append(f'outlook.body-content-type="{body_type}"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


def find_folder(box: Mailbox, value: str) -> Folder | None:
    """A folder by well-known name or Graph id; None stands for the root (msgfolderroot)."""
    if value.lower() == ROOT_FOLDER:
        return None
    try:
        return box.folder_by_name(value)
    except UnknownFolder:
        pass
    parsed = parse_folder_id(value)
    if parsed is not None and parsed[0] == box.address:
        if parsed[1] == ROOT_FOLDER:
            return None
        try:
            return box.folder(parsed[1])
        except UnknownFolder:
            pass
    raise GraphError(404, "ErrorItemNotFound", _NOT_FOUND)


def find_message(box: Mailbox, value: str, folder: Folder | None = None) -> StoredMessage:
    """The message a Graph id names; a default id kept from before a move no longer resolves."""
    ref = parse_message_id(value)
    if ref is None:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    if ref.mailbox != box.address:
        raise GraphError(404, "ErrorItemNotFound", _NOT_FOUND)
    try:
        msg = box.get(ref.message_id)
    except UnknownMessage:
        raise GraphError(404, "ErrorItemNotFound", _NOT_FOUND) from None
    if ref.folder_id is not None and ref.folder_id != msg.folder_id:
        raise GraphError(404, "ErrorItemNotFound", _NOT_FOUND)
    if folder is not None and msg.folder_id != folder.id:
        raise GraphError(404, "ErrorItemNotFound", _NOT_FOUND)
    return msg


def _int_param(request: Request, name: str, default: int, maximum: int) -> int:
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


def _page(request: Request, items: list[dict[str, object]], context: str) -> dict[str, object]:
    top = _int_param(request, "$top", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    skip = _int_param(request, "$skip", 0, 10**9)
    body: dict[str, object] = {"@odata.context": context, "value": items[skip : skip + top]}
    if skip + top < len(items):
        query = dict(request.query_params)
        query["$skip"] = str(skip + top)
        body["@odata.nextLink"] = link(str(request.url).split("?")[0], query)
    return body


def mail_router(graph: GraphSandbox) -> APIRouter:
    """The mail routes of one emulator."""
    router = APIRouter(prefix="/v1.0/users/{user}", tags=["mail"])

    def access(request: Request, user: str) -> Iterator[MailboxAccess]:
        yield from graph.mailbox_access(request, user)

    Access = Annotated[MailboxAccess, Depends(access)]

    def context(request: Request, what: str) -> str:
        return f"{str(request.base_url).rstrip('/')}/v1.0/$metadata#{what}"

    def render(
        request: Request, box: Mailbox, msg: StoredMessage, select: frozenset[str] | None
    ) -> dict[str, object]:
        body_type = prefer(request).get("outlook.body-content-type", "").lower() or None
        return message_json(
            msg, select, id_kind(request), graph.last_modified(box.address, msg.id), body_type
        )

    @router.get("/mailFolders")
    def list_folders(request: Request, a: Access) -> Response:
        return _children(request, a.mailbox, None)

    @router.get("/mailFolders/{folder}")
    def get_folder(request: Request, folder: str, a: Access) -> Response:
        found = find_folder(a.mailbox, folder)
        select = parse_select(request.query_params.get("$select"), FOLDER_PROPERTIES, "mailFolder")
        if found is None:
            root = {
                "id": folder_graph_id(a.mailbox.address, ROOT_FOLDER),
                "displayName": "Top of Information Store",
                "parentFolderId": folder_graph_id(a.mailbox.address, "root"),
                "childFolderCount": sum(1 for f in a.mailbox.folders() if f.parent_id is None),
                "unreadItemCount": 0,
                "totalItemCount": 0,
                "isHidden": False,
            }
            return JSONResponse(root)
        body = {
            "@odata.context": context(request, "users/mailFolders/$entity"),
            **folder_json(a.mailbox, found, select),
        }
        return JSONResponse(body)

    @router.get("/mailFolders/{folder}/childFolders")
    def child_folders(request: Request, folder: str, a: Access) -> Response:
        parent = find_folder(a.mailbox, folder)
        return _children(request, a.mailbox, parent.id if parent else None)

    def _children(request: Request, box: Mailbox, parent_id: str | None) -> Response:
        select = parse_select(request.query_params.get("$select"), FOLDER_PROPERTIES, "mailFolder")
        folders = [folder_json(box, f, select) for f in box.folders() if f.parent_id == parent_id]
        return JSONResponse(_page(request, folders, context(request, "users/mailFolders")))

    def _messages(request: Request, box: Mailbox, folder: Folder | None) -> Response:
        select = parse_select(request.query_params.get("$select"), MESSAGE_PROPERTIES, "message")
        if request.query_params.get("$filter") or request.query_params.get("$search"):
            raise GraphError(
                400, "ErrorInvalidUrlQuery", "The sandbox supports $filter and $search only on delta."
            )
        msgs = [m for m in box.messages() if folder is None or m.folder_id == folder.id]
        page_size, applied = _preferred_page_size(request)
        top = _int_param(request, "$top", page_size, MAX_PAGE_SIZE)
        skip = _int_param(request, "$skip", 0, 10**9)
        items = [render(request, box, m, select) for m in msgs[skip : skip + top]]
        body: dict[str, object] = {"@odata.context": context(request, "users/messages"), "value": items}
        if skip + top < len(msgs):
            query = dict(request.query_params)
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = link(str(request.url).split("?")[0], query)
        return JSONResponse(body, headers=_applied(request, applied))

    @router.get("/messages")
    def list_messages(request: Request, a: Access) -> Response:
        return _messages(request, a.mailbox, None)

    @router.get("/mailFolders/{folder}/messages")
    def list_folder_messages(request: Request, folder: str, a: Access) -> Response:
        return _messages(request, a.mailbox, find_folder(a.mailbox, folder))

    @router.get("/mailFolders/{folder}/messages/delta")
    def delta(request: Request, folder: str, a: Access) -> Response:
        found = find_folder(a.mailbox, folder)
        if found is None:
            raise GraphError(400, "ErrorInvalidRequest", "Delta is not supported on the root folder.")
        return _delta(request, a.mailbox, found)

    @router.get("/messages/{message}")
    def get_message(request: Request, message: str, a: Access) -> Response:
        return _one(request, a.mailbox, find_message(a.mailbox, message))

    @router.get("/mailFolders/{folder}/messages/{message}")
    def get_folder_message(request: Request, folder: str, message: str, a: Access) -> Response:
        return _one(request, a.mailbox, find_message(a.mailbox, message, find_folder(a.mailbox, folder)))

    def _one(request: Request, box: Mailbox, msg: StoredMessage) -> Response:
        select = parse_select(request.query_params.get("$select"), MESSAGE_PROPERTIES, "message")
        body = {
            "@odata.context": context(request, "users/messages/$entity"),
            **render(request, box, msg, select),
        }
        return JSONResponse(body, headers=_applied(request))

    @router.get("/messages/{message}/$value")
    def mime(message: str, a: Access) -> Response:
        return Response(find_message(a.mailbox, message).raw, media_type="text/plain")

    @router.get("/mailFolders/{folder}/messages/{message}/$value")
    def folder_mime(folder: str, message: str, a: Access) -> Response:
        msg = find_message(a.mailbox, message, find_folder(a.mailbox, folder))
        return Response(msg.raw, media_type="text/plain")

    def _delta(request: Request, box: Mailbox, folder: Folder) -> Response:
        query = request.query_params
        prefs = prefer(request)
        if query.get("$skiptoken"):
            token = query["$skiptoken"]
        elif query.get("$deltatoken"):
            try:
                token = graph.delta.resume(box, folder.id, query["$deltatoken"])
            except GraphError as error:
                restart = f"{str(request.url).split('?')[0]}"
                error.headers = {**error.headers, "Location": restart}
                raise
        else:
            token = graph.delta.start(box, folder.id, _delta_options(request))
        page_size, applied = _preferred_page_size(request)
        page = graph.delta.page(box, folder.id, token, page_size)
        if page.options.top is not None and "odata.maxpagesize" not in prefs:
            page = graph.delta.page(box, folder.id, token, page.options.top)
        base = str(request.url).split("?")[0]
        body: dict[str, object] = {
            "@odata.context": context(request, "Collection(message)"),
            "value": _delta_values(request, box, page),
        }
        if page.skip_token is not None:
            body["@odata.nextLink"] = link(base, {"$skiptoken": page.skip_token})
        else:
            body["@odata.deltaLink"] = link(base, {"$deltatoken": page.delta_token})
        return JSONResponse(body, headers=_applied(request, applied))

    def _delta_values(request: Request, box: Mailbox, page: DeltaPage) -> list[dict[str, object]]:
        kind = id_kind(request)
        values: list[dict[str, object]] = []
        for msg_id, entry in page.entries:
            if entry == "upsert":
                try:
                    msg = box.get(msg_id)
                except UnknownMessage:
                    entry = "deleted"
                else:
                    values.append(
                        {
                            "@odata.type": "#microsoft.graph.message",
                            **render(request, box, msg, page.options.select),
                        }
                    )
                    continue
            # A removed message's id is the one the client knew: its immutable id, or the default id it had
            # in the folder being tracked (the store keeps no older folder, so the tracked one is used).
            values.append(
                {
                    "@odata.type": "#microsoft.graph.message",
                    "id": message_graph_id(box.address, msg_id, _tracked_folder(request, box), kind),
                    "@removed": {"reason": entry},
                }
            )
        return values

    def _tracked_folder(request: Request, box: Mailbox) -> str:
        folder = find_folder(box, request.path_params["folder"])
        return folder.id if folder else ROOT_FOLDER

    return router


def _preferred_page_size(request: Request) -> tuple[int, list[str]]:
    """The page size ``Prefer: odata.maxpagesize`` asks for (default 10), and the preference it applied."""
    prefs = prefer(request)
    if "odata.maxpagesize" not in prefs:
        return DEFAULT_PAGE_SIZE, []
    try:
        size = max(1, min(int(prefs["odata.maxpagesize"]), MAX_PAGE_SIZE))
    except ValueError:
        raise GraphError(400, "BadRequest", "Invalid odata.maxpagesize preference.") from None
    return size, [f"odata.maxpagesize={size}"]


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
    top = _int_param(request, "$top", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE) if query.get("$top") else None
    return DeltaOptions(select, change_type, op, when, top)
