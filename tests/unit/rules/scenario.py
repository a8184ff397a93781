"""A small workspace builder for the rules tests: accounts, people, team, blacklist and emails."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from mailtrail.addresses import clean_blacklist_entry
from mailtrail.mail.parsed import Address, ParsedEmail, ProviderFlags
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import Decision, LinkPlan, PersonRef, Settings, WorkspaceSnapshot

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def day(n: float) -> datetime:
    """A time ``n`` days after T0 (negative: before)."""
    return T0 + timedelta(days=n)


NOW = day(365)
# Long before any test email: when accounts and people exist unless a test says otherwise.
LONG_AGO = day(-100)
# Every role-address form of the contract (local part before any "+").
ROLE_FORMS = [
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "mailer-daemon",
    "postmaster",
    "notification",
    "notifications",
    "bounce",
    "bounces",
    "bounce-12345",
]
AddressLike = str | Address


def as_address(value: AddressLike) -> Address:
    """``"ann@acme.com"`` or ``"Ann Lee <ann@acme.com>"`` as an Address; an Address as it is."""
    if isinstance(value, Address):
        return value
    if value.endswith(">") and "<" in value:
        name, _, rest = value.partition("<")
        return Address(rest[:-1], name.strip() or None)
    return Address(value)


def email(
    sender: AddressLike | None,
    *to: AddressLike,
    cc: tuple[AddressLike, ...] = (),
    bcc: tuple[AddressLike, ...] = (),
    time: datetime | None = T0,
    key: str = "m1@example.test",
    flags: ProviderFlags | None = None,
) -> ParsedEmail:
    """One parsed email; addresses as strings (already normalised, as the parser gives them)."""
    return ParsedEmail(
        key=key,
        time=time,
        sender=as_address(sender) if sender is not None else None,
        to=tuple(map(as_address, to)),
        cc=tuple(map(as_address, cc)),
        bcc=tuple(map(as_address, bcc)),
        flags=flags or ProviderFlags(),
    )


class Scenario:
    """A workspace snapshot built step by step; company domain ``ourco.com`` unless told otherwise."""

    def __init__(self, *company_domains: str, **settings: bool | int | str) -> None:
        self.snapshot = WorkspaceSnapshot(
            company_domains=frozenset(company_domains or ("ourco.com",)),
            settings=replace(Settings(), **settings),  # type: ignore[arg-type]
        )
        self._next_account = 100
        self._next_person = 1

    def account(self, *domains: str, added: datetime = LONG_AGO) -> int:
        """A new account owning ``domains`` since ``added``; returns its id."""
        self._next_account += 1
        for domain in domains:
            self.snapshot.account_domains[domain] = (self._next_account, added)
        return self._next_account

    def person(
        self,
        *addresses: str,
        created: datetime = LONG_AGO,
        default_account: int | None = None,
        label: str | None = None,
    ) -> PersonRef:
        """A new person with ``addresses`` (possibly none); returns how the rules see them."""
        person_id = self._next_person
        self._next_person += 1
        ref = PersonRef(person_id, created, label or f"p{person_id}", default_account)
        for address in addresses:
            self.snapshot.add_person(address, ref)
        return ref

    def team(self, *addresses: str, member_id: int | None = 1) -> None:
        """Team member ``member_id``'s addresses and aliases (None: a mailbox being imported)."""
        for address in addresses:
            self.snapshot.team_addresses[address] = member_id

    def blacklist(self, *entries: str) -> None:
        """Blacklist entries as a user types them (normalised as ``blacklist add`` does)."""
        normalised = {clean_blacklist_entry(entry) for entry in entries}
        self.snapshot.blacklist = self.snapshot.blacklist | normalised

    def decide(self, parsed: ParsedEmail, now: datetime = NOW) -> Decision:
        return decide(parsed, self.snapshot, now)

    def plan(self, parsed: ParsedEmail, now: datetime = NOW) -> tuple[Decision, LinkPlan]:
        decision = decide(parsed, self.snapshot, now)
        return decision, plan_links(decision, self.snapshot)

    def reason(self, parsed: ParsedEmail, now: datetime = NOW) -> str:
        return self.decide(parsed, now).reason.value

    def classes(self, parsed: ParsedEmail, now: datetime = NOW) -> dict[str, str]:
        """Each participant's class, by address as written."""
        return {c.address.address: c.cls.value for c in self.decide(parsed, now).participants}
