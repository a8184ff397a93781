"""message_key and thread ids: the same message from any source gets the same key, different ones do not."""

from __future__ import annotations

from mailtrail.mail.keys import first_reference, message_key, normalise_message_id


def key(
    message_id: str | None = None,
    *,
    sender: str = "ann@customer.example",
    date: str = "2024-05-14T07:30:00+00:00",
    subject: str = "Renewal",
    recipients: tuple[str, ...] = ("rep@ourco.example", "bob@customer.example"),
    body: bytes = b"Please renew.\r\n",
) -> str:
    return message_key(
        message_id, sender=sender, date=date, subject=subject, recipients=recipients, body=body
    )


def test_a_message_id_is_the_key_whatever_else_differs() -> None:
    assert key(" <abc@example.com> ") == "abc@example.com"
    assert key("<abc@example.com>", subject="Other", body=b"other") == "abc@example.com"


def test_the_fallback_is_stable_and_prefixed() -> None:
    fallback = key(None)
    assert fallback == key("  ") == key("<>")
    assert fallback.startswith("sha256:")
    assert len(fallback) == len("sha256:") + 64


def test_the_fallback_ignores_recipient_order_and_duplicates_but_not_content() -> None:
    base = key()
    assert key(recipients=("bob@customer.example", "rep@ourco.example", "bob@customer.example")) == base
    assert key(sender="eve@customer.example") != base
    assert key(date="2024-05-14T07:31:00+00:00") != base
    assert key(subject="Renewal?") != base
    assert key(recipients=("rep@ourco.example",)) != base
    assert key(body=b"Please cancel.\r\n") != base


def test_fields_do_not_run_into_each_other() -> None:
    assert key(sender="a", subject="bc") != key(sender="ab", subject="c")


def test_reference_lists_give_their_first_id() -> None:
    assert first_reference("<root@x.example> <parent@x.example>") == "root@x.example"
    assert first_reference("root@x.example parent@x.example") == "root@x.example"
    assert first_reference("  ") is None
    assert first_reference("<>") is None
    assert normalise_message_id("<abc@example.com") == "abc@example.com"
