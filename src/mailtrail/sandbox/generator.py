"""Made-up but plausible mail traffic for a sandbox tenant, deterministic for a seed.

Customer conversations (threads with replies, References and cc's), internal mail, newsletters, drafts, spam
and a few personal mails, between a made-up company and made-up customer domains (``.example`` names, which
can never be real). Every message is raw RFC 822 bytes built with the stdlib; no corpus text is used.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Literal

from mailtrail.sandbox.store import Tenant

Kind = Literal["customer", "internal", "newsletter", "draft", "spam", "personal"]

_FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kavya", "Liam"]
_LAST = ["Moreau", "Okafor", "Schmidt", "Tanaka", "Rossi", "Novak", "Silva", "Berg", "Kowalski", "Haddad"]
# The made-up customer companies; each mails from "<name>.example" (lower-case).
COMPANIES = ["Northwind", "Bluefin", "Quarry", "Lumen", "Tidewater", "Copperleaf", "Halcyon", "Redwood"]
_TOPICS = [
    (
        "Renewal of our subscription",
        "our renewal comes up next month and we would like to review the seat count",
    ),
    ("Onboarding questions", "a few of our new team members cannot find the export settings"),
    ("Invoice for March", "the invoice shows two extra seats that we did not order"),
    ("Feature request: SSO", "we would like to enable single sign-on for the whole team"),
    ("Outage this morning", "several users reported errors between 9 and 10 this morning"),
    ("Quarterly business review", "could we schedule the quarterly review for the second week of next month"),
    ("Data import failing", "the CSV import stops at row 1200 with a validation error"),
]
_REPLIES = [
    "Thanks for reaching out. I have looked into it and will come back to you by tomorrow.",
    "Good news: this is fixed now. Could you confirm on your side?",
    "Thank you, that works for us. Let us keep in touch.",
    "I have added my colleague in cc, who knows this area best.",
    "Could you send us a screenshot of what you see?",
]
_INTERNAL = [("Team sync notes", "notes from today's sync are in the shared folder"),
             ("Lunch on Friday?", "who is in for lunch on Friday")]  # fmt: skip
_PERSONAL = [("Dinner on Saturday", "are we still on for dinner on Saturday"),
             ("Photos from the trip", "here are the photos from the trip")]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    address: str


@dataclass(slots=True)
class GeneratedMail:
    """One generated message: raw bytes, when it is sent, its kind, and which mailbox saves it as a draft."""

    raw: bytes
    sent_at: datetime
    kind: Kind
    draft_of: str | None = None


@dataclass(slots=True)
class TrafficGenerator:
    """Generates conversations for ``team`` (addresses in ``company_domain``) with made-up customers."""

    team: list[str]
    company_domain: str = "company.example"
    seed: int = 0
    customer_domains: int = 4
    _rng: random.Random = field(init=False, repr=False)
    _seq: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.team:
            raise ValueError("the traffic generator needs at least one team address")
        self._rng = random.Random(self.seed)

    def _person(self, domain: str) -> Person:
        first, last = self._rng.choice(_FIRST), self._rng.choice(_LAST)
        local = f"{first}.{last}".lower().replace("é", "e")
        return Person(f"{first} {last}", f"{local}@{domain}")

    def _message(
        self,
        sender: Person,
        to: list[Person],
        subject: str,
        body: str,
        at: datetime,
        *,
        cc: list[Person] | None = None,
        parent: EmailMessage | None = None,
        headers: dict[str, str] | None = None,
    ) -> EmailMessage:
        self._seq += 1
        msg = EmailMessage()
        msg["From"] = formataddr((sender.name, sender.address))
        msg["To"] = ", ".join(formataddr((p.name, p.address)) for p in to)
        if cc:
            msg["Cc"] = ", ".join(formataddr((p.name, p.address)) for p in cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(at)
        msg["Message-ID"] = f"<gen-{self.seed}-{self._seq}@{sender.address.split('@', 1)[1]}>"
        if parent is not None:
            msg["In-Reply-To"] = parent["Message-ID"]
            msg["References"] = " ".join(filter(None, [parent.get("References"), parent["Message-ID"]]))
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        return msg

    def generate(self, start: datetime, count: int) -> Iterator[GeneratedMail]:
        """About ``count`` messages sent from ``start`` on, oldest first, mixed by kind."""
        team = [Person(a.split("@", 1)[0].replace(".", " ").title(), a) for a in self.team]
        domains = [f"{c.lower()}.example" for c in self._rng.sample(COMPANIES, self.customer_domains)]
        at, produced = start, 0
        customer: list[Kind] = ["customer"] * 6  # most traffic is customer conversations
        kinds: list[Kind] = [*customer, "internal", "newsletter", "spam", "personal", "draft"]
        while produced < count:
            kind = self._rng.choice(kinds)
            at += timedelta(minutes=self._rng.randint(5, 180))
            batch = list(self._one(kind, team, domains, at))
            yield from batch[: count - produced]
            produced += len(batch)
            at = max(at, batch[-1].sent_at)

    def _one(
        self, kind: Kind, team: list[Person], domains: list[str], at: datetime
    ) -> Iterator[GeneratedMail]:
        rng = self._rng
        owner = rng.choice(team)
        if kind == "customer":
            customer = self._person(rng.choice(domains))
            subject, text = rng.choice(_TOPICS)
            first = self._message(customer, [owner], subject, f"Hello {owner.name.split()[0]},\n\n{text}.\n\n"
                                  f"Best regards,\n{customer.name}\n", at)  # fmt: skip
            yield GeneratedMail(first.as_bytes(policy=SMTP), at, kind)
            parent, speakers = first, [owner, customer]
            for turn in range(rng.randint(0, 3)):
                at += timedelta(minutes=rng.randint(10, 600))
                sender, recipient = speakers[turn % 2], speakers[(turn + 1) % 2]
                cc = [p for p in team if p != owner][:1] if turn == 0 and len(team) > 1 else None
                reply = self._message(sender, [recipient], f"Re: {subject}", f"{rng.choice(_REPLIES)}\n\n"
                                      f"{sender.name}\n", at, cc=cc, parent=parent)  # fmt: skip
                yield GeneratedMail(reply.as_bytes(policy=SMTP), at, kind)
                parent = reply
        elif kind == "internal" and len(team) > 1:
            subject, text = rng.choice(_INTERNAL)
            others = [p for p in team if p != owner]
            msg = self._message(owner, others[:2], subject, f"Hi all, {text}.\n", at)
            yield GeneratedMail(msg.as_bytes(policy=SMTP), at, "internal")
        elif kind == "newsletter":
            sender = Person(
                f"{rng.choice(COMPANIES)} News", f"news@{rng.choice(COMPANIES).lower()}-mail.example"
            )
            unsubscribe = f"<mailto:unsubscribe@{sender.address.split('@')[1]}>"
            extra = {"List-Unsubscribe": unsubscribe, "Precedence": "bulk"}
            msg = self._message(
                sender, [owner], "Our product news", "New features and tips.\n", at, headers=extra
            )
            yield GeneratedMail(msg.as_bytes(policy=SMTP), at, "newsletter")
        elif kind == "spam":
            sender = Person("Prize Desk", f"winner{rng.randint(100, 999)}@lottery-prizes.example")
            msg = self._message(sender, [owner], "You have WON a prize", "Claim your prize now!!!\n", at)
            yield GeneratedMail(msg.as_bytes(policy=SMTP), at, "spam")
        elif kind == "personal":
            friend = self._person("mailbox.example")
            subject, text = rng.choice(_PERSONAL)
            msg = self._message(friend, [owner], subject, f"Hi, {text}?\n", at)
            yield GeneratedMail(msg.as_bytes(policy=SMTP), at, "personal")
        else:  # draft (or internal mail in a one-person team)
            customer = self._person(rng.choice(domains))
            msg = self._message(owner, [customer], "Following up", "Just checking in on our last call.\n", at)
            yield GeneratedMail(msg.as_bytes(policy=SMTP), at, "draft", draft_of=owner.address)


def populate(
    tenant: Tenant, traffic: TrafficGenerator | Iterable[GeneratedMail], start: datetime, count: int = 100
) -> int:
    """Deliver generated messages into ``tenant`` (drafts saved, spam in SPAM); returns deliveries.

    ``traffic`` is a generator (``count`` messages from ``start`` are made) or already generated mail.
    Messages dated after the tenant clock's now are scheduled, so they arrive over time as the clock moves.
    """
    now = tenant.clock.now()
    delivered = 0
    mails = traffic.generate(start, count) if isinstance(traffic, TrafficGenerator) else traffic
    for mail in mails:
        if mail.draft_of is not None:
            tenant.add_mailbox(mail.draft_of).save_draft(mail.raw)
            delivered += 1
            continue
        results = tenant.deliver(mail.raw, at=mail.sent_at if mail.sent_at > now else None)
        if mail.kind == "spam":
            for stored in results:
                tenant.mailbox(stored.mailbox).modify(stored.id, add=["SPAM"], remove=["INBOX"])
        elif mail.kind == "newsletter":
            for stored in results:
                tenant.mailbox(stored.mailbox).modify(stored.id, add=["CATEGORY_PROMOTIONS"])
        delivered += len(results) or 1
    return delivered
