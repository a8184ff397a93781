"""Mail writes tools use: create a message in a folder, move a message, delete a message (Mail.ReadWrite).

- Create (https://learn.microsoft.com/graph/api/user-post-messages, .../mailfolder-post-messages): JSON or
  base64 MIME; 201 with the message, which is a draft (``isDraft`` true, ``isRead`` true, as in the documented
  responses) wherever it is filed; ``POST .../messages`` without a folder files it in Drafts.
- Move (https://learn.microsoft.com/graph/api/message-move): ``destinationId`` is a folder id or a well-known
  name; "This creates a new copy of the message in the destination folder and removes the original
  message": 201 with the moved message, whose default id changes (an immutable id, with ``Prefer:
  IdType="ImmutableId"``, does not).
- Delete (https://learn.microsoft.com/graph/api/message-delete): 204. The item leaves every folder a client
  can list; Exchange keeps it in Recoverable Items (``recoverableitemsdeletions``, which the delete page
  mentions), not in Deleted Items; a client wanting Deleted Items moves the message there. The sandbox has no
  Recoverable Items folder, so the message is removed from the store (delta reports it ``deleted``).

The tenant's change listeners see each write, so delta rounds and change notifications follow as for any other
change.

No ``from __future__ import annotations`` here: FastAPI must see the ``Access`` dependency alias, a local.
"""

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import MailboxAccess
from mailtrail.sandbox.graph.compose import mime_from_base64, mime_from_json
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.lookup import find_folder, find_message, render_message
from mailtrail.sandbox.graph.params import context_url, preference_applied
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.store import Folder

_READ_JSON = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid "
    "JSON format."
)


async def _json_object(request: Request) -> dict[str, object]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise GraphError(400, "BadRequest", _READ_JSON) from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", _READ_JSON)
    return body


def write_router(graph: GraphSandbox) -> APIRouter:
    """The mail write routes of one emulator."""
    router = APIRouter(prefix="/v1.0/users/{user}", tags=["mail"])

    def access(request: Request, user: str) -> Iterator[MailboxAccess]:
        yield from graph.mailbox_access(request, user)

    Access = Annotated[MailboxAccess, Depends(access)]

    @router.post("/messages")
    async def create_draft(request: Request, a: Access) -> Response:
        return await _create(request, a, a.mailbox.folder_by_name("drafts"))

    @router.post("/mailFolders/{folder}/messages")
    async def create_in_folder(request: Request, folder: str, a: Access) -> Response:
        found = find_folder(a.mailbox, folder)
        if found is None:
            raise GraphError(400, "ErrorInvalidRequest", "Messages cannot be created in the root folder.")
        return await _create(request, a, found)

    async def _create(request: Request, a: MailboxAccess, folder: Folder) -> Response:
        a.require_write()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        now = graph.tenant.clock.now()
        if content_type == "text/plain":
            raw = mime_from_base64(await request.body())
            is_read = True
        else:
            message = await _json_object(request)
            raw = mime_from_json(message, a.mailbox.address.rpartition("@")[2], now)
            is_read = message.get("isRead") is not False
        labels = [folder.label_id] if folder.label_id else []
        if not is_read:
            labels.append("UNREAD")
        msg = a.mailbox.insert(raw, labels=labels, received_at=now)
        if not msg.is_draft:  # filed outside Drafts: Exchange still keeps it a draft
            graph.mark_draft(msg)
        body = {
            "@odata.context": context_url(request, "users/messages/$entity"),
            **render_message(graph, request, a, msg, None),
        }
        return JSONResponse(body, status_code=201, headers=preference_applied(request))

    @router.post("/messages/{message}/move")
    async def move(request: Request, message: str, a: Access) -> Response:
        return await _move(request, a, message, None)

    @router.post("/mailFolders/{folder}/messages/{message}/move")
    async def move_from_folder(request: Request, folder: str, message: str, a: Access) -> Response:
        return await _move(request, a, message, folder)

    async def _move(request: Request, a: MailboxAccess, message: str, folder: str | None) -> Response:
        a.require_write()
        source = find_folder(a.mailbox, folder) if folder is not None else None
        msg = find_message(a.mailbox, message, source)
        destination_id = (await _json_object(request)).get("destinationId")
        if not isinstance(destination_id, str) or not destination_id:
            raise GraphError(400, "ErrorInvalidRequest", "The destinationId parameter is required.")
        destination = find_folder(a.mailbox, destination_id)
        if destination is None:
            raise GraphError(400, "ErrorInvalidRequest", "Messages cannot be moved to the root folder.")
        moved = a.mailbox.move(msg.id, destination.id)
        body = {
            "@odata.context": context_url(request, "message"),
            "@odata.type": "#microsoft.graph.message",
            **render_message(graph, request, a, moved, None),
        }
        return JSONResponse(body, status_code=201, headers=preference_applied(request))

    @router.delete("/messages/{message}")
    def delete(message: str, a: Access) -> Response:
        a.require_write()
        a.mailbox.delete(find_message(a.mailbox, message).id)
        return Response(status_code=204)

    @router.delete("/mailFolders/{folder}/messages/{message}")
    def delete_from_folder(folder: str, message: str, a: Access) -> Response:
        a.require_write()
        a.mailbox.delete(find_message(a.mailbox, message, find_folder(a.mailbox, folder)).id)
        return Response(status_code=204)

    return router
