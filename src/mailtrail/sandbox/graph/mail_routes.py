"""``/v1.0/users/{id|upn}/...`` mail read routes: mailFolders, childFolders, messages and $value.

Delta lives in ``delta_routes.py``, writes (create, move, delete) in ``mail_writes.py``. No ``from __future__
import annotations`` here: FastAPI must see the ``Access`` dependency alias, a local.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import MailboxAccess
from mailtrail.sandbox.graph.delta import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import ROOT_FOLDER, folder_graph_id
from mailtrail.sandbox.graph.lookup import find_folder, find_message, render_message
from mailtrail.sandbox.graph.params import (
    context_url,
    int_param,
    link,
    preference_applied,
    preferred_page_size,
)
from mailtrail.sandbox.graph.shapes import FOLDER_PROPERTIES, MESSAGE_PROPERTIES, folder_json, parse_select
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.store import Folder, Mailbox, StoredMessage


def _page(request: Request, items: list[dict[str, object]], context: str) -> dict[str, object]:
    top = int_param(request, "$top", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    skip = int_param(request, "$skip", 0, 10**9)
    body: dict[str, object] = {"@odata.context": context, "value": items[skip : skip + top]}
    if skip + top < len(items):
        query = dict(request.query_params)
        query["$skip"] = str(skip + top)
        body["@odata.nextLink"] = link(str(request.url).split("?")[0], query)
    return body


def mail_router(graph: GraphSandbox) -> APIRouter:
    """The mail read routes of one emulator."""
    router = APIRouter(prefix="/v1.0/users/{user}", tags=["mail"])

    def access(request: Request, user: str) -> Iterator[MailboxAccess]:
        yield from graph.mailbox_access(request, user)

    Access = Annotated[MailboxAccess, Depends(access)]

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
            "@odata.context": context_url(request, "users/mailFolders/$entity"),
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
        return JSONResponse(_page(request, folders, context_url(request, "users/mailFolders")))

    def _messages(request: Request, a: MailboxAccess, folder: Folder | None) -> Response:
        select = parse_select(request.query_params.get("$select"), MESSAGE_PROPERTIES, "message")
        if request.query_params.get("$filter") or request.query_params.get("$search"):
            raise GraphError(
                400, "ErrorInvalidUrlQuery", "The sandbox supports $filter and $search only on delta."
            )
        msgs = [m for m in a.mailbox.messages() if folder is None or m.folder_id == folder.id]
        page_size, applied = preferred_page_size(request)
        top = int_param(request, "$top", page_size, MAX_PAGE_SIZE)
        skip = int_param(request, "$skip", 0, 10**9)
        items = [render_message(graph, request, a, m, select) for m in msgs[skip : skip + top]]
        body: dict[str, object] = {"@odata.context": context_url(request, "users/messages"), "value": items}
        if skip + top < len(msgs):
            query = dict(request.query_params)
            query["$skip"] = str(skip + top)
            body["@odata.nextLink"] = link(str(request.url).split("?")[0], query)
        return JSONResponse(body, headers=preference_applied(request, applied))

    @router.get("/messages")
    def list_messages(request: Request, a: Access) -> Response:
        return _messages(request, a, None)

    @router.get("/mailFolders/{folder}/messages")
    def list_folder_messages(request: Request, folder: str, a: Access) -> Response:
        return _messages(request, a, find_folder(a.mailbox, folder))

    @router.get("/messages/{message}")
    def get_message(request: Request, message: str, a: Access) -> Response:
        return _one(request, a, find_message(a.mailbox, message))

    @router.get("/mailFolders/{folder}/messages/{message}")
    def get_folder_message(request: Request, folder: str, message: str, a: Access) -> Response:
        return _one(request, a, find_message(a.mailbox, message, find_folder(a.mailbox, folder)))

    def _one(request: Request, a: MailboxAccess, msg: StoredMessage) -> Response:
        select = parse_select(request.query_params.get("$select"), MESSAGE_PROPERTIES, "message")
        body = {
            "@odata.context": context_url(request, "users/messages/$entity"),
            **render_message(graph, request, a, msg, select),
        }
        return JSONResponse(body, headers=preference_applied(request))

    @router.get("/messages/{message}/$value")
    def mime(message: str, a: Access) -> Response:
        a.require_full()  # the MIME carries the body, which Mail.ReadBasic does not cover
        return Response(find_message(a.mailbox, message).raw, media_type="text/plain")

    @router.get("/mailFolders/{folder}/messages/{message}/$value")
    def folder_mime(folder: str, message: str, a: Access) -> Response:
        a.require_full()
        msg = find_message(a.mailbox, message, find_folder(a.mailbox, folder))
        return Response(msg.raw, media_type="text/plain")

    return router
