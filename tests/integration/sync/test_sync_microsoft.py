"""Microsoft 365 mailboxes synced end to end: the sync engine, the Graph connector and the Graph sandbox over
HTTPS with msal, on SQLite and PostgreSQL. Connected by a person's consent and by an admin's app-only access;
the same message in a Gmail and a Microsoft mailbox is one engagement with two sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.sync.conftest import DAN, EVE, World, make_world, message

from mailtrail.sync.engine import ACTIVE

ANN = "Ann Lee <ann@acme.com>"


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    yield from make_world(db_url, tmp_path, graph=True)


def test_a_mailbox_connected_by_consent_syncs_its_customer_mail(world: World) -> None:
    eve = world.connect_microsoft_by_consent(EVE)
    assert world.sync(eve) == ACTIVE
    world.clock.advance(minutes=1)
    world.tenant.deliver(message("customer", ANN, EVE))
    world.tenant.deliver(message("internal", DAN, EVE))
    world.tenant.deliver(message("spam", ANN, EVE), labels=["SPAM"])
    world.tenant.mailbox(EVE).save_draft(message("draft", EVE, "ann@acme.com"))
    assert world.sync(eve) == ACTIVE
    assert world.outcomes(eve) == {"mcustomer@test": "imported/ok", "minternal@test": "skipped/internal"}


def test_the_same_message_in_gmail_and_microsoft_mailboxes_is_one_engagement_with_two_sources(
    world: World,
) -> None:
    dan, eve = world.connect(DAN), world.connect_microsoft(EVE)
    world.clock.advance(minutes=1)
    world.tenant.deliver(message("both", ANN, f"{DAN}, {EVE}"))
    assert world.sync(dan) == world.sync(eve) == ACTIVE
    assert world.outcomes(dan) == {"mboth@test": "imported/ok"}
    assert world.outcomes(eve) == {"mboth@test": "merged/duplicate"}
    [(key, sources, people, _)] = world.engagements()
    assert (key, sources, people) == ("mboth@test", frozenset({DAN, EVE}), frozenset({"ann@acme.com"}))
