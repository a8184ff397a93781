"""Log lines, ours and the standard library's, never carry an address, a token or a secret in clear."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from mailtrail.logs import REDACTED, configure_logging, get_logger, redact_text

JWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbm5AYWNtZS5jb20ifQ.c2lnbmF0dXJlLWJ5dGVz"
REFRESH = "1//0gLq3refreshTOKENabcdefghijkl"
ACCESS = "ya29.a0AfH6SMBaccess-token-value"
BEARER = "sandbox-dev-token-letmein"
CLIENT_SECRET = "Zx8Q~client-secret-value"
ADDRESS = "ann.smith@acme.com"
TAG = re.compile(r"<([0-9a-f]{8})>@acme\.com")

Configure = Callable[..., io.StringIO]


@pytest.fixture
def logs() -> Iterator[Configure]:
    """``logs(json=..., level=...)`` configures logging into a new buffer; all is put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level

    def configure(*, json: bool = False, level: str = "INFO") -> io.StringIO:
        stream = io.StringIO()
        configure_logging(level, json, stream=stream)
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def assert_nothing_in_clear(output: str) -> None:
    for secret in (
        JWT,
        REFRESH,
        ACCESS,
        BEARER,
        CLIENT_SECRET,
        ADDRESS,
        "ann.smith",
        "the-code",
        "xyz-state",
    ):
        assert secret not in output, secret
    # Not even a piece of the JWT.
    for segment in JWT.split("."):
        assert segment not in output


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_a_log_call_prints_no_address_token_header_or_jwt_in_clear(logs: Configure, as_json: bool) -> None:
    stream = logs(json=as_json)
    get_logger("mailtrail.sync").info(
        f"synced mailbox {ADDRESS}",
        refresh_token=REFRESH,
        headers={"Authorization": f"Bearer {BEARER}", "Accept": "application/json"},
        note=f"id token was {JWT}",
        url="https://login.example/callback?code=the-code&state=xyz-state&tenant=common",
        nested={"app": {"clientSecret": CLIENT_SECRET, "retries": 2}, "list": [{"access_token": ACCESS}]},
        status_code=200,
    )
    output = stream.getvalue()
    assert_nothing_in_clear(output)
    assert TAG.search(output)
    assert REDACTED in output
    for kept in ("application/json", "tenant=common", "retries", "200", "mailtrail.sync"):
        assert kept in output
    if as_json:
        (line,) = lines(stream)
        assert line["refresh_token"] == REDACTED
        assert line["headers"] == {"Authorization": REDACTED, "Accept": "application/json"}
        assert line["nested"] == {
            "app": {"clientSecret": REDACTED, "retries": 2},
            "list": [{"access_token": REDACTED}],
        }
        assert line["url"] == "https://login.example/callback?code=[redacted]&state=[redacted]&tenant=common"
        assert line["status_code"] == 200
        assert line["level"] == "info"


def test_two_addresses_stay_distinguishable_and_one_address_keeps_one_tag(logs: Configure) -> None:
    stream = logs(json=True)
    log = get_logger("mailtrail.sync")
    for address in ("ann@acme.com", "bob@acme.com", "Ann@ACME.com", "ann%40acme.com"):
        log.info("message from", sender=address)
    senders = [str(line["sender"]) for line in lines(stream)]
    ann, bob, ann_upper, ann_encoded = senders
    assert re.fullmatch(r"<[0-9a-f]{8}>@acme\.com", ann)
    assert ann != bob
    assert ann_upper.split(">")[0] == ann.split(">")[0]
    assert ann_encoded == ann.replace("@", "%40")


def test_stdlib_loggers_go_through_the_same_redaction(logs: Configure) -> None:
    stream = logs(json=True)
    url = f"https://graph.microsoft.com/v1.0/users/ann.smith%40acme.com/messages?access_token={ACCESS}&$top=5"
    logging.getLogger("httpx").info('HTTP Request: %s %s "HTTP/1.1 200 OK"', "GET", url)
    logging.getLogger("procrastinate.worker").warning(
        "job failed for %s", ADDRESS, extra={"authorization": f"Bearer {BEARER}", "job_id": 7}
    )
    logging.getLogger("uvicorn.error").error(
        "bad header Authorization: Bearer %s", BEARER, extra={"color_message": "\x1b[1mbad header\x1b[0m"}
    )
    output = stream.getvalue()
    assert_nothing_in_clear(output)
    httpx, procrastinate, uvicorn = lines(stream)
    assert httpx["logger"] == "httpx"
    assert "$top=5" in str(httpx["event"])
    assert "access_token=[redacted]" in str(httpx["event"])
    assert procrastinate["authorization"] == REDACTED
    assert procrastinate["job_id"] == 7
    assert uvicorn["level"] == "error"
    assert "color_message" not in uvicorn


def test_tracebacks_are_redacted(logs: Configure) -> None:
    stream = logs(json=False)
    try:
        raise RuntimeError(f"token refresh failed for {ADDRESS}: Bearer {BEARER} refresh_token={REFRESH}")
    except RuntimeError:
        get_logger("mailtrail.sync").exception("sync failed")
        logging.getLogger("httpx").exception("request failed")
    output = stream.getvalue()
    assert output.count("RuntimeError: token refresh failed for <") == 2
    assert_nothing_in_clear(output)


def test_positional_arguments_and_odd_values_are_redacted(logs: Configure) -> None:
    stream = logs(json=True)
    log = get_logger("mailtrail.sync")
    log.info("mail from %s", ADDRESS)
    log.warning("failed", error=ValueError(f"no mailbox {ADDRESS}"), raw=f"Bearer {BEARER}".encode())
    log.info("counts", per_sender={ADDRESS: 3})
    assert_nothing_in_clear(stream.getvalue())


def test_lines_below_the_level_are_dropped(logs: Configure) -> None:
    stream = logs(level="warning")
    get_logger("mailtrail.sync").info("quiet")
    logging.getLogger("httpx").info("quiet too")
    get_logger("mailtrail.sync").warning("loud")
    assert "quiet" not in stream.getvalue()
    assert "loud" in stream.getvalue()


def test_configuring_again_replaces_the_handler(logs: Configure) -> None:
    first = logs()
    second = logs(json=True)
    get_logger("mailtrail.sync").info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_get_logger_configures_redaction_when_nobody_did(logs: Configure) -> None:
    structlog.reset_defaults()
    assert not structlog.is_configured()
    get_logger("mailtrail.sync")
    assert structlog.is_configured()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "grant_type=refresh_token&refresh_token=1//abc&client_id=123&client_secret=s3",
            "grant_type=refresh_token&refresh_token=[redacted]&client_id=123&client_secret=[redacted]",
        ),
        (
            "https://x.example/cb#access_token=abc&expires_in=3599",
            "https://x.example/cb#access_token=[redacted]&expires_in=3599",
        ),
        (
            "https://x.example/cb?session_state=abc&sig=def&page=2",
            "https://x.example/cb?session_state=[redacted]&sig=[redacted]&page=2",
        ),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: [redacted]"),
        ("{'authorization': 'Bearer abc.def'}", "{'authorization': '[redacted]'}"),
        ("sent Bearer abc.def-ghi", "sent Bearer [redacted]"),
        (f"token {JWT} expired", "token [redacted] expired"),
        (f"access {ACCESS} and refresh {REFRESH}", "access [redacted] and refresh [redacted]"),
    ],
)
def test_secrets_inside_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "imported 500 emails in 1.2 s (batch 3 of 7)",
        "mailtrail.engagements.ingest",
        "https://gmail.googleapis.com/gmail/v1/users/me/history?startHistoryId=12345&maxResults=500",
        "status_code=429 retry_after=30",
        "the sandbox at 127.0.0.1:8081",
    ],
)
def test_plain_text_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("token", True),
        ("Refresh_Token", True),
        ("accessToken", True),
        ("id_token", True),
        ("client_secret", True),
        ("password", True),
        ("Authorization", True),
        ("client_assertion", True),
        ("code", True),
        ("code_verifier", True),
        ("key", True),
        ("api_key", True),
        ("X-Api-Key", True),
        ("clientState", True),
        ("status_code", False),
        ("cache_key", False),
        ("keyword", False),
        ("mailbox_id", False),
        ("credential_id", False),
        ("state", False),
    ],
)
def test_which_keys_count_as_secret(logs: Configure, key: str, secret: bool) -> None:
    stream = logs(json=True)
    get_logger("mailtrail.sync").info("values", **{key: "opaque-value"})
    (line,) = lines(stream)
    assert line[key] == (REDACTED if secret else "opaque-value")


@given(st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,29}", fullmatch=True))
def test_no_local_part_survives(local: str) -> None:
    text = f"from {local}@acme.com to {local}%40acme.com"
    redacted = redact_text(text)
    assert f"{local}@acme.com" not in redacted
    assert f"{local}%40acme.com" not in redacted
    assert len(TAG.findall(redacted)) == 1
