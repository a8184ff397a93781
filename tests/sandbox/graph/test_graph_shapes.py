"""The emulator's Message, Recipient and MailFolder shapes against Microsoft's own TypeScript types.

The types come from the npm package ``@microsoft/microsoft-graph-types`` (a pinned version), fetched with
``npm pack`` into a git-ignored cache the first time (see graph_types.py).
"""

from __future__ import annotations

import pytest
from tests.sandbox.graph.conftest import ADA, GraphServer, make_raw
from tests.sandbox.graph.graph_types import definitions_file, fetch, interfaces, properties

from mailtrail.sandbox.graph.shapes import FOLDER_PROPERTIES, MESSAGE_PROPERTIES

# Relationships (navigation properties) are not part of the JSON of a message or folder.
NAVIGATION = {
    "attachments", "extensions", "multiValueExtendedProperties", "singleValueExtendedProperties",
    "childFolders", "messageRules", "messages",
}  # fmt: skip


@pytest.fixture(scope="module")
def types() -> dict[str, tuple[str | None, list[str]]]:
    path = definitions_file()
    if not path.is_file():
        path = fetch()
    return interfaces(path.read_text(encoding="utf-8"))


def test_message_and_folder_properties_match_the_types(
    types: dict[str, tuple[str | None, list[str]]],
) -> None:
    assert set(MESSAGE_PROPERTIES) == properties(types, "Message") - NAVIGATION
    assert set(FOLDER_PROPERTIES) == properties(types, "MailFolder") - NAVIGATION


def test_served_json_uses_only_typed_names(
    graph: GraphServer, types: dict[str, tuple[str | None, list[str]]]
) -> None:
    graph.tenant.deliver(make_raw("Typed"), [ADA])
    with graph.client(graph.app_token()) as client:
        msg = client.get(
            f"/v1.0/users/{ADA}/messages", params={"$select": ",".join(MESSAGE_PROPERTIES)}
        ).json()
        folder = client.get(f"/v1.0/users/{ADA}/mailFolders/inbox").json()
    message = msg["value"][0]

    assert {k for k in message if not k.startswith("@")} <= properties(types, "Message")
    assert {k for k in folder if not k.startswith("@")} <= properties(types, "MailFolder")
    recipient = message["from"]
    assert set(recipient) == properties(types, "Recipient")
    assert set(recipient["emailAddress"]) == properties(types, "EmailAddress")
    assert set(message["body"]) == properties(types, "ItemBody")
    header = message["internetMessageHeaders"][0]
    assert set(header) == properties(types, "InternetMessageHeader")
