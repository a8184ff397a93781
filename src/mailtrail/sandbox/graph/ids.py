"""Graph-looking ids for store objects, and back.

Exchange ids are opaque base64 strings. By default a message id changes when the message moves to another
folder (so an id kept from before a move answers 404); with ``Prefer: IdType="ImmutableId"`` it never
changes. The sandbox reproduces both: a default id encodes the folder the message was in, an immutable id
does not. Every id also names its mailbox, as Exchange ids are only valid in their own mailbox.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Literal

IdKind = Literal["default", "immutable"]
_MESSAGE_PREFIX = {"default": "AAMkA", "immutable": "AAkAL"}
_FOLDER_PREFIX = "AQMkA"
_CONVERSATION_PREFIX = "AAQkA"
ROOT_FOLDER = "msgfolderroot"


def _pack(prefix: str, *parts: str) -> str:
    return prefix + base64.urlsafe_b64encode("\x1f".join(parts).encode()).decode()


def _unpack(prefix: str, value: str) -> list[str] | None:
    if not value.startswith(prefix):
        return None
    try:
        return base64.urlsafe_b64decode(value[len(prefix) :].encode()).decode().split("\x1f")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class MessageRef:
    """What a Graph message id points at; ``folder_id`` is set for default (folder-bound) ids."""

    mailbox: str
    message_id: str
    folder_id: str | None


def message_graph_id(mailbox: str, message_id: str, folder_id: str, kind: IdKind) -> str:
    """The Graph id of a store message, default (changes on move) or immutable."""
    if kind == "immutable":
        return _pack(_MESSAGE_PREFIX["immutable"], mailbox, message_id)
    return _pack(_MESSAGE_PREFIX["default"], mailbox, message_id, folder_id)


def parse_message_id(value: str) -> MessageRef | None:
    """The store message behind a Graph message id of either kind, or None for a foreign id."""
    parts = _unpack(_MESSAGE_PREFIX["immutable"], value)
    if parts is not None and len(parts) == 2:
        return MessageRef(parts[0], parts[1], None)
    parts = _unpack(_MESSAGE_PREFIX["default"], value)
    if parts is not None and len(parts) == 3:
        return MessageRef(parts[0], parts[1], parts[2])
    return None


def folder_graph_id(mailbox: str, folder_id: str) -> str:
    """The Graph id of a store folder (or of the invisible root, ``ROOT_FOLDER``)."""
    return _pack(_FOLDER_PREFIX, mailbox, folder_id)


def parse_folder_id(value: str) -> tuple[str, str] | None:
    """``(mailbox, store folder id)`` of a Graph folder id, or None."""
    parts = _unpack(_FOLDER_PREFIX, value)
    if parts is None or len(parts) != 2:
        return None
    return parts[0], parts[1]


def conversation_graph_id(mailbox: str, thread_id: str) -> str:
    """The conversationId of a store thread."""
    return _pack(_CONVERSATION_PREFIX, mailbox, thread_id)


def change_key(history_id: int) -> str:
    """A changeKey that changes whenever the message changes (the store's history id)."""
    return "CQAAABYAAA" + base64.b64encode(history_id.to_bytes(8, "big")).decode()
