"""RFC 822 bytes for a message created through Graph, from its JSON or from base64 MIME.

Create message (https://learn.microsoft.com/graph/api/user-post-messages) takes either a JSON ``message``
(``Content-Type: application/json``) or MIME content "encoded in base64 format in the request body"
(``Content-Type: text/plain``); malformed base64 is 400 ``ErrorMimeContentInvalidBase64String``. Custom
``internetMessageHeaders`` must be named ``x-...`` (https://learn.microsoft.com/graph/api/resources/message).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid

from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.shapes import MESSAGE_PROPERTIES

# Properties a create request may carry besides the message's own (navigation properties and annotations).
_ALSO_ACCEPTED = frozenset(
    {
        "@odata.type",
        "attachments",
        "extensions",
        "singleValueExtendedProperties",
        "multiValueExtendedProperties",
    }
)
_RECIPIENT_HEADERS = {
    "toRecipients": "To",
    "ccRecipients": "Cc",
    "bccRecipients": "Bcc",
    "replyTo": "Reply-To",
}


def mime_from_base64(content: bytes) -> bytes:
    """The MIME message a ``text/plain`` create request carries, base64-encoded."""
    try:
        raw = base64.b64decode(b"".join(content.split()), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw.strip():
        raise GraphError(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        )
    return raw


def mime_from_json(message: Mapping[str, object], domain: str, now: datetime) -> bytes:
    """An RFC 822 message holding what a JSON ``message`` of a create request says."""
    for name in message:
        if name not in MESSAGE_PROPERTIES and name not in _ALSO_ACCEPTED:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"The property '{name}' does not exist on type 'microsoft.graph.message'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type.",
            )
    out = EmailMessage()
    for prop, header in (("from", "From"), ("sender", "Sender")):
        if message.get(prop) is not None:
            out[header] = _address(message[prop], prop)
    for prop, header in _RECIPIENT_HEADERS.items():
        value = message.get(prop)
        if value:
            if not isinstance(value, list):
                raise _bad(prop)
            out[header] = ", ".join(_address(item, prop) for item in value)
    subject = message.get("subject")
    if subject is not None:
        out["Subject"] = str(subject)
    out["Date"] = format_datetime(now)
    out["Message-ID"] = make_msgid(domain=domain)
    headers = message.get("internetMessageHeaders") or []
    if not isinstance(headers, list):
        raise _bad("internetMessageHeaders")
    for header in headers:
        if not isinstance(header, dict) or not isinstance(header.get("name"), str):
            raise _bad("internetMessageHeaders")
        if not header["name"].lower().startswith("x-"):
            raise GraphError(
                400,
                "InvalidInternetMessageHeader",
                f"The internet message header name '{header['name']}' should start with 'x-' or 'X-'.",
            )
        out[header["name"]] = str(header.get("value", ""))
    body = message.get("body") or {}
    if not isinstance(body, dict):
        raise _bad("body")
    content = str(body.get("content") or "")
    subtype = "html" if str(body.get("contentType", "text")).lower() == "html" else "plain"
    out.set_content(content, subtype=subtype)
    return out.as_bytes()


def _address(value: object, prop: str) -> str:
    """``{"emailAddress": {"name", "address"}}`` as an RFC 5322 address."""
    email_address = value.get("emailAddress") if isinstance(value, dict) else None
    if not isinstance(email_address, dict) or not isinstance(email_address.get("address"), str):
        raise _bad(prop)
    return formataddr((str(email_address.get("name") or ""), email_address["address"]))


def _bad(prop: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", f"Cannot read the value of property '{prop}' of the message.")
