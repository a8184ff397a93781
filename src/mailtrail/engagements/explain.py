"""Why an email was (or would not be) imported, in the contract's terms, without importing it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailtrail.engagements.report import IMPORTED, outcome
from mailtrail.mail.parsed import ParsedEmail
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import Decision, LinkPlan, Reason, WorkspaceSnapshot

REASON_TEXT = {
    Reason.OK: "it would be imported",
    Reason.DUPLICATE: "the workspace already has this email; the mailbox is kept as one more source of it",
    Reason.DRAFT: "the provider marks it a draft (rule 0a)",
    Reason.SPAM: "the provider marks it spam or junk (rule 0b)",
    Reason.TRASH: "the provider marks it trash or deleted (rule 0c)",
    Reason.NOT_EMAIL: "it is not an email: there is no header block (rule 0d)",
    Reason.BLACKLISTED: "the sender or a recipient is blacklisted (rule 1)",
    Reason.INTERNAL: "the sender and every recipient are internal (rule 2)",
    Reason.UNKNOWN_SENDER: "the sender is unknown, or there is none (rule 3)",
    Reason.UNKNOWN_RECIPIENTS: "every recipient is unknown, or there are none (rule 4)",
    Reason.NO_CUSTOMER: "no participant is a customer: a person or a creatable address (rule 5)",
    Reason.DELETED: "a user deleted the engagement for this email (rule 6)",
}


@dataclass(frozen=True, slots=True)
class Explanation:
    email: ParsedEmail
    decision: Decision
    outcome: str
    reason: Reason
    plan: LinkPlan | None
    account_names: dict[int, str]

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "key": self.email.key,
            "subject": self.email.subject,
            "time": self.decision.time.isoformat(),
            "decision": self.outcome,
            "reason": self.reason.value,
            "because": REASON_TEXT[self.reason],
            "participants": [
                {
                    "role": c.role,
                    "address": c.address.address,
                    "class": c.cls.value,
                    "why": c.describe(self.account_names),
                }
                for c in self.decision.participants
            ],
            "defects": list(self.email.defects),
        }
        if self.plan is not None:
            body["people"] = sorted({ref.label for ref, _ in self.plan.people})
            body["would_create"] = [new.address for new in self.plan.create]
            body["accounts"] = sorted({self.account_names[a] for a in self.plan.account_ids})
        return body


def explain(
    email: ParsedEmail,
    snapshot: WorkspaceSnapshot,
    now: datetime,
    *,
    already_imported: bool,
    account_names: dict[int, str],
) -> Explanation:
    """Decide exactly as the importer would, and keep what is needed to say why."""
    decision = decide(email, snapshot, now)
    result, reason = outcome(decision, already_imported)
    plan = plan_links(decision, snapshot) if result == IMPORTED else None
    return Explanation(email, decision, result, reason, plan, account_names)
