"""Folders and messages by the ids and names Graph clients use, and messages rendered for a request."""

from __future__ import annotations

from fastapi import Request

from mailtrail.sandbox.graph.access import MailboxAccess
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.ids import ROOT_FOLDER, parse_folder_id, parse_message_id
from mailtrail.sandbox.graph.params import body_type, id_kind
from mailtrail.sandbox.graph.shapes import message_json
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.store import Folder, Mailbox, StoredMessage, UnknownFolder, UnknownMessage

NOT_FOUND = "The specified object was not found in the store."


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
    raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)


def find_message(box: Mailbox, value: str, folder: Folder | None = None) -> StoredMessage:
    """The message a Graph id names; a default id kept from before a move no longer resolves."""
    ref = parse_message_id(value)
    if ref is None:
        raise GraphError(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    if ref.mailbox != box.address:
        raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
    try:
        msg = box.get(ref.message_id)
    except UnknownMessage:
        raise GraphError(404, "ErrorItemNotFound", NOT_FOUND) from None
    if ref.folder_id is not None and ref.folder_id != msg.folder_id:
        raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
    if folder is not None and msg.folder_id != folder.id:
        raise GraphError(404, "ErrorItemNotFound", NOT_FOUND)
    return msg


def render_message(
    graph: GraphSandbox,
    request: Request,
    access: MailboxAccess,
    msg: StoredMessage,
    select: frozenset[str] | None,
) -> dict[str, object]:
    """The Graph JSON of ``msg`` as this request asks for it (ids, body type) and its token may see it."""
    return message_json(
        msg,
        select,
        id_kind(request),
        graph.last_modified(msg.mailbox, msg.id),
        body_type(request),
        is_draft=graph.is_draft(msg),
        with_body=access.full,
    )
