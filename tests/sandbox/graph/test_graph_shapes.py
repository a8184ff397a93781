"""The emulator's Message, Recipient and MailFolder shapes against Microsoft's own TypeScript types.

The types are the interfaces of the npm package ``@microsoft/microsoft-graph-types`` (a pinned version),
extracted into ``graph-types.json`` by ``make graph-types`` (see graph_types.py).
"""

from __future__ import annotations

import pytest
from tests.sandbox.graph.conftest import ADA, GraphServer, make_raw
from tests.sandbox.graph.graph_types import PACKAGE, Interfaces, load, properties

from mailtrail.sandbox.graph.shapes import FOLDER_PROPERTIES, MESSAGE_PROPERTIES

# Relationships (navigation properties) are not part of the JSON of a message or folder.
NAVIGATION = {
    "attachments", "extensions", "multiValueExtendedProperties", "singleValueExtendedProperties",
    "childFolders", "messageRules", "messages",
}  # fmt: skip


@pytest.fixture(scope="module")
def types() -> Interfaces:
    version, table = load()
    assert version == PACKAGE, "graph-types.json is out of date: run make graph-types"
    return table


def test_message_and_folder_properties_match_the_types(
    types: Interfaces,
) -> None:
    assert set(MESSAGE_PROPERTIES) == properties(types, "Message") - NAVIGATION
    assert set(FOLDER_PROPERTIES) == properties(types, "MailFolder") - NAVIGATION


def test_served_json_uses_only_typed_names(graph: GraphServer, types: Interfaces) -> None:
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
