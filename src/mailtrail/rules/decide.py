"""The decision for one email: rules 0a-0d and 1-6 of the contract in order; the first that holds skips it."""

from __future__ import annotations

from datetime import UTC, datetime

from mailtrail.mail.parsed import ParsedEmail
from mailtrail.rules.classify import classify
from mailtrail.rules.types import AddressClass, Classified, Decision, Reason, WorkspaceSnapshot

_BLACKLISTED = AddressClass.BLACKLISTED
_INTERNAL = AddressClass.INTERNAL
_UNKNOWN = AddressClass.UNKNOWN


def decide(email: ParsedEmail, snapshot: WorkspaceSnapshot, now: datetime) -> Decision:
    """Imported (reason ok) or skipped with the contract's reason code; ``now`` stands in for a missing time.

    Every participant is classified whatever the outcome, so ``explain`` can show each one's class.
    The decision's time is in UTC, as the contract stores it; a time without a zone is taken as UTC.
    """
    t = email.time or now
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    elif t.utcoffset():
        t = t.astimezone(UTC)
    lookups = snapshot.lookups()
    participants: list[Classified] = []
    if email.sender is not None:
        participants.append(classify("from", email.sender, t, snapshot, lookups))
    for role, address in email.recipients():
        participants.append(classify(role, address, t, snapshot, lookups))
    return Decision(_reason(email, snapshot, participants), t, tuple(participants))


def _reason(email: ParsedEmail, snapshot: WorkspaceSnapshot, participants: list[Classified]) -> Reason:
    flags = email.flags
    if flags.draft:
        return Reason.DRAFT
    if flags.spam:
        return Reason.SPAM
    if flags.trash:
        return Reason.TRASH
    if flags.not_email:
        return Reason.NOT_EMAIL
    all_internal = True
    any_customer = False
    for c in participants:
        cls = c.cls
        if cls is _BLACKLISTED:
            return Reason.BLACKLISTED
        if cls is not _INTERNAL:
            all_internal = False
            if cls is not _UNKNOWN:
                any_customer = True
    has_sender = email.sender is not None
    # An internal sender with no recipients (a note to self, or only themself as recipient) is internal too.
    if has_sender and all_internal:
        return Reason.INTERNAL
    if not has_sender or participants[0].cls is _UNKNOWN:
        return Reason.UNKNOWN_SENDER
    # Rule 4: every recipient unknown, or no recipients at all.
    if all(c.cls is _UNKNOWN for c in participants[1:]):
        return Reason.UNKNOWN_RECIPIENTS
    if not any_customer:
        return Reason.NO_CUSTOMER
    if email.key in snapshot.tombstones:
        return Reason.DELETED
    return Reason.OK
