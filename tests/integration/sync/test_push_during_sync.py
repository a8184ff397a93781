"""A push that arrives while its mailbox syncs is not lost: the sync may have read the changes before the new
mail, so the mailbox stays due after it rather than waiting for the next poll."""

from __future__ import annotations

from tests.integration.sync.conftest import DAN, World, message

from mailtrail.db import transaction
from mailtrail.engagements.report import ReportLine
from mailtrail.models import Mailbox
from mailtrail.sync import mailboxes
from mailtrail.sync.engine import ACTIVE, PAUSED
from mailtrail.sync.repository import request_sync

ANN = "Ann Lee <ann@acme.com>"


def test_mail_pushed_while_its_mailbox_syncs_is_synced_next_not_at_the_next_poll(world: World) -> None:
    dan = world.connect(DAN)
    assert world.sync(dan) == ACTIVE
    world.clock.advance(minutes=1)
    world.tenant.deliver(message("first", ANN, DAN))
    pushed: list[bool] = []

    def mail_and_push_meanwhile(_mailbox_id: int, _lines: list[ReportLine]) -> None:
        """After the sync read its changes: another email, and its push making the mailbox due."""
        if not pushed:
            pushed.append(True)
            world.tenant.deliver(message("second", ANN, DAN))
            with transaction(world.runtime.sessions) as session:
                request_sync(session, [dan], world.clock.now())

    world.runtime.engine.observers.append(mail_and_push_meanwhile)
    assert world.sync(dan) == ACTIVE
    assert "msecond@test" not in world.outcomes(dan)
    # Still due now, not in sync_poll_seconds: the dispatcher hands it out at once.
    assert world.runtime.dispatcher.due_syncs() == [dan]
    assert world.sync(dan) == ACTIVE
    assert world.outcomes(dan)["msecond@test"] == "imported/ok"
    assert world.runtime.dispatcher.due_syncs() == []


def test_a_mailbox_paused_while_it_syncs_stays_paused(world: World) -> None:
    """The person's word wins over the ending sync: paused (or disconnected) meanwhile is not set back to
    active, and the mailbox is not due."""
    dan = world.connect(DAN)
    world.tenant.deliver(message("during", ANN, DAN))

    def pause_meanwhile(_mailbox_id: int, _lines: list[ReportLine]) -> None:
        with transaction(world.runtime.sessions) as session:
            mailbox = session.get_one(Mailbox, dan)
            mailboxes.pause(session, world.workspace_id, mailbox, "cara@ourco.com", world.clock.now())

    world.runtime.engine.observers.append(pause_meanwhile)
    assert world.sync(dan) == PAUSED
    assert world.mailbox(dan).status == PAUSED
    assert world.runtime.dispatcher.due_syncs() == []
