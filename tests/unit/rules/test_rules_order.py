"""Properties over whole imports: order changes nothing; blacklisted and internal mail never get in.

The simulator below is what an import does with the rules, minus storage: decide each email, plan its links,
and record the people it creates (created "now", after every email's time) for the emails that follow.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.rules.scenario import Scenario, day

from mailtrail.mail.parsed import Address, ParsedEmail, ProviderFlags
from mailtrail.rules.addresses import blacklist_match, domain_of, strip_subaddress
from mailtrail.rules.decide import decide
from mailtrail.rules.links import plan_links
from mailtrail.rules.types import AddressClass, Decision, WorkspaceSnapshot

NOW = day(30)
LOCALS = ["ann", "ann", "bob", "bob", "kim", "kim+x", "noreply", "new", "new", "new+tag", "bad"]
# Repeated entries make a domain likelier: most mail is between us and customers, a little is blacklisted.
DOMAINS = ["ourco.com"] * 5 + ["acme.com"] * 4 + ["beta.example"] * 2 + ["gamma.org", "mail.spam.example"]
POOL = [f"{local}@{domain}" for local in LOCALS for domain in DOMAINS] + ["me@gmail.com", "me+x@gmail.com"]
TEAM = {"me@ourco.com", "me@gmail.com"}


def workspace(ignore_subaddress: bool, skip_role_addresses: bool, tombstones: set[str]) -> WorkspaceSnapshot:
    """Accounts added before, during and long before the emails; people created before and after them."""
    s = Scenario(ignore_subaddress=ignore_subaddress, skip_role_addresses=skip_role_addresses)
    acme = s.account("acme.com", added=day(0))
    beta = s.account("beta.example", added=day(-100))
    s.account("spam.example")
    s.team(*TEAM)
    s.person("ann@acme.com", default_account=acme, label="ann")
    s.person("bob@acme.com", created=day(5), default_account=acme, label="bob")
    s.person("kim@beta.example", default_account=acme, label="kim-1")
    s.person("kim@beta.example", created=day(8), default_account=beta, label="kim-2")
    s.person("ann@gamma.org", created=day(3), label="ann-gamma")
    s.person("bob@ourco.com", label="bob-internal-contact")
    s.blacklist("*.spam.example", "bad@acme.com")
    s.snapshot.tombstones |= tombstones
    return s.snapshot


@dataclass(frozen=True)
class Outcome:
    """What the import report says about one email, minus which email happened to create a person."""

    reason: str
    people: frozenset[str]
    accounts: frozenset[int]


def simulate(emails: list[ParsedEmail], snapshot: WorkspaceSnapshot) -> tuple[dict[str, Outcome], list[str]]:
    """Decide every email in the given order; returns each email's outcome and the addresses created."""
    outcomes: dict[str, Outcome] = {}
    created: list[str] = []
    for parsed in emails:
        decision = decide(parsed, snapshot, NOW)
        plan = plan_links(decision, snapshot)
        for new in plan.create:
            snapshot.add_person(new.address, new.person_ref(NOW))
            created.append(new.address)
        people = {ref.label for ref, _ in plan.people} | {f"new:{new.address}" for new in plan.create}
        outcomes[parsed.key] = Outcome(decision.reason.value, frozenset(people), frozenset(plan.account_ids))
    return outcomes, created


addresses = st.sampled_from(POOL).map(Address)
FLAGGED = [
    ProviderFlags(draft=True),
    ProviderFlags(spam=True),
    ProviderFlags(trash=True),
    ProviderFlags(not_email=True),
]
# Most emails carry no provider flag.
flags = st.integers(0, 15).map(lambda i: FLAGGED[i] if i < len(FLAGGED) else ProviderFlags())


@st.composite
def emails(draw: st.DrawFn) -> ParsedEmail:
    return ParsedEmail(
        key="",
        time=draw(st.one_of(st.none(), st.integers(-10, 20).map(day))),
        sender=draw(st.one_of(st.none(), addresses)),
        to=tuple(draw(st.lists(addresses, max_size=2))),
        cc=tuple(draw(st.lists(addresses, max_size=1))),
        bcc=tuple(draw(st.lists(addresses, max_size=1))),
        flags=draw(flags),
    )


@st.composite
def imports(draw: st.DrawFn) -> tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot]:
    """A list of emails with unique keys and two identical, independent workspaces to run them on."""
    batch = draw(st.lists(emails(), min_size=1, max_size=12))
    for i, parsed in enumerate(batch):
        parsed.key = f"m{i}@example.test"
    tombstones = set(draw(st.lists(st.sampled_from([p.key for p in batch]), max_size=2)))
    ignore, skip_roles = draw(st.booleans()), draw(st.booleans())
    return batch, workspace(ignore, skip_roles, tombstones), workspace(ignore, skip_roles, tombstones)


@settings(max_examples=150, deadline=None)
@given(imports(), st.data())
def test_the_outcome_does_not_depend_on_processing_order(
    generated: tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot], data: st.DataObject
) -> None:
    batch, first, second = generated
    shuffled = data.draw(st.permutations(batch))
    in_order, created = simulate(batch, first)
    reordered, created_reordered = simulate(shuffled, second)
    assert in_order == reordered
    assert sorted(created) == sorted(created_reordered)
    # Each address gets at most one new person, whatever the number of emails that mention it.
    assert len(created) == len(set(created))


def participants(parsed: ParsedEmail) -> list[Address]:
    return ([parsed.sender] if parsed.sender else []) + [address for _, address in parsed.recipients()]


def lookup(snapshot: WorkspaceSnapshot, address: Address) -> str:
    return strip_subaddress(address.address) if snapshot.settings.ignore_subaddress else address.address


@settings(max_examples=100, deadline=None)
@given(imports())
def test_a_blacklisted_participant_is_never_imported(
    data: tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot],
) -> None:
    batch, snapshot, _ = data
    blacklist = snapshot.blacklist
    if snapshot.settings.ignore_subaddress:
        blacklist = frozenset(strip_subaddress(e) for e in blacklist)
    outcomes, _ = simulate(batch, snapshot)
    for parsed in batch:
        if any(blacklist_match(lookup(snapshot, a), blacklist) for a in participants(parsed)):
            assert outcomes[parsed.key].reason in {"blacklisted", "draft", "spam", "trash", "not_email"}


@settings(max_examples=100, deadline=None)
@given(imports())
def test_internal_only_mail_is_never_imported(
    data: tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot],
) -> None:
    batch, snapshot, _ = data
    team = {lookup(snapshot, Address(a)) for a in TEAM}
    outcomes, _ = simulate(batch, snapshot)
    for parsed in batch:
        everyone = participants(parsed)
        if everyone and all(
            domain_of(a.address) == "ourco.com" or lookup(snapshot, a) in team for a in everyone
        ):
            assert outcomes[parsed.key].reason != "ok"
            assert outcomes[parsed.key].people == frozenset()


def decisions_in_order(
    batch: list[ParsedEmail], snapshot: WorkspaceSnapshot
) -> list[tuple[Decision, list[str]]]:
    out = []
    for parsed in batch:
        decision = decide(parsed, snapshot, NOW)
        plan = plan_links(decision, snapshot)
        for new in plan.create:
            snapshot.add_person(new.address, new.person_ref(NOW))
        out.append((decision, [new.address for new in plan.create]))
    return out


@settings(max_examples=100, deadline=None)
@given(imports())
def test_people_are_created_only_for_creatable_addresses_of_imported_emails(
    data: tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot],
) -> None:
    batch, snapshot, _ = data
    existing = set(snapshot.lookups().people)
    for decision, created in decisions_in_order(batch, snapshot):
        creatable = {c.lookup for c in decision.participants if c.cls is AddressClass.CREATABLE}
        if not decision.imported:
            assert created == []
        assert set(created) <= creatable
        assert not set(created) & existing
        existing |= set(created)


@settings(max_examples=100, deadline=None)
@given(imports())
def test_every_imported_email_is_linked_to_a_person(
    data: tuple[list[ParsedEmail], WorkspaceSnapshot, WorkspaceSnapshot],
) -> None:
    batch, snapshot, _ = data
    outcomes, _ = simulate(batch, snapshot)
    for outcome in outcomes.values():
        assert (outcome.reason == "ok") == bool(outcome.people)


def test_the_simulator_creates_once_and_links_later_emails_at_any_time() -> None:
    snapshot = workspace(ignore_subaddress=False, skip_role_addresses=True, tombstones=set())
    me = Address("me@ourco.com")
    late = ParsedEmail("late", day(20), me, to=(Address("new@acme.com"),))
    early = ParsedEmail("early", day(1), Address("new@acme.com"), to=(me,))
    before_domain = ParsedEmail("before", day(-1), Address("new@acme.com"), to=(me,))
    outcomes, created = simulate([late, early, before_domain], snapshot)
    assert created == ["new@acme.com"]
    assert (
        outcomes["late"]
        == outcomes["early"]
        == Outcome("ok", frozenset({"new:new@acme.com"}), frozenset({101}))
    )
    # The account had no acme.com before day 0, and the person created now did not exist then either.
    assert outcomes["before"] == Outcome("unknown_sender", frozenset(), frozenset())
