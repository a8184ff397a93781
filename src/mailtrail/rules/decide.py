"""The decision for one email: rules 0a-0d and 1-6 of the contract in order; the first that holds skips it."""

from __future__ import annotations

from datetime import UTC, datetime

from mailtrail.mail.parsed import ParsedEmail
from mailtrail.rules.classify import classify
from mailtrail.rules.types import AddressClass, Classified, Decision, Reason, WorkspaceSnapshot

_INTERNAL = AddressClass.INTERNAL
_UNKNOWN = AddressClass.UNKNOWN
_CUSTOMER = frozenset({AddressClass.PERSON, AddressClass.CREATABLE})


def decide(email: ParsedEmail, snapshot: WorkspaceSnapshot, now: datetime) -> Decision:
    """Imported (reason ok) or skipped with the contract's reason code; ``now`` stands in for a missing time.

    Every participant is classified whatever the outcome, so ``explain`` can show each one's class.
    A time without a zone is taken as UTC (the contract stores times in UTC).
    """
    t = email.time or now
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    sender = classify("from", email.sender, t, snapshot) if email.sender is not None else None
    recipients = [classify(role, address, t, snapshot) for role, address in email.recipients()]
    participants = (sender, *recipients) if sender is not None else tuple(recipients)
    return Decision(_reason(email, snapshot, sender, recipients, participants), t, participants)


def _reason(
    email: ParsedEmail,
    snapshot: WorkspaceSnapshot,
    sender: Classified | None,
    recipients: list[Classified],
    participants: tuple[Classified, ...],
) -> Reason:
    flags = email.flags
    if flags.draft:
        return Reason.DRAFT
    if flags.spam:
        return Reason.SPAM
    if flags.trash:
        return Reason.TRASH
    if flags.not_email:
        return Reason.NOT_EMAIL
    classes = [c.cls for c in participants]
    if AddressClass.BLACKLISTED in classes:
        return Reason.BLACKLISTED
    # An internal sender with no recipients (a note to self, a message whose only recipient was the sender)
    # is internal mail too.
    if sender is not None and all(cls is _INTERNAL for cls in classes):
        return Reason.INTERNAL
    if sender is None or sender.cls is _UNKNOWN:
        return Reason.UNKNOWN_SENDER
    if all(r.cls is _UNKNOWN for r in recipients):
        return Reason.UNKNOWN_RECIPIENTS
    if not any(cls in _CUSTOMER for cls in classes):
        return Reason.NO_CUSTOMER
    if email.key in snapshot.tombstones:
        return Reason.DELETED
    return Reason.OK
