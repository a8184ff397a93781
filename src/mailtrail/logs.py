"""Logging: structlog for our code, the standard library's loggers routed through the same chain, and no
address or token ever written in clear.

Entry points call ``configure_logging`` once (JSON lines for servers and workers, readable lines otherwise);
modules take a logger with ``get_logger(__name__)``. Every line, ours or a library's (httpx, uvicorn,
procrastinate), passes ``redact`` just before it is rendered:

- an email address keeps its domain, and its local part becomes a short tag: ``<3fa1c09e>@acme.com``;
- the value of a key named like a secret (``token``, ``refresh_token``, ``client_secret``, ``password``,
  ``authorization``, ``assertion``, ``code``, ``key``, ... at any depth) becomes ``[redacted]``;
- bearer tokens, Authorization headers, JWTs and Google's token shapes inside text become ``[redacted]``;
- URL and form parameters such as ``access_token``, ``code`` or ``state`` keep their name, not their value.

Uvicorn installs its own handlers unless it is started with ``log_config=None``; start it so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TextIO
from urllib.parse import unquote

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

# Keyed HMAC-SHA256, with a random key per process, rather than a plain hash: local parts are few and
# guessable ("john.smith"), so with the domain kept beside it a plain SHA-256 would give the address back to
# anyone who tries the likely names. The price is that a tag means the same address only within one process
# (one worker, one job's lines): correlate across processes by ids (mailbox_id, person_id), not by tag.
_TAG_KEY = os.urandom(32)
# 8 hex digits (32 bits): a thousand addresses at one domain then share a tag with 0.01% odds (6 digits: 3%).
_TAG_HEX_DIGITS = 8

# Name parts that make a key secret wherever they appear: refresh_token, clientSecret, X-Api-Password.
_SECRET_PARTS = frozenset(
    {"token", "secret", "password", "passwd", "authorization", "assertion", "verifier", "cookie", "signature"}
)
# Secret only as a whole name (status_code and cache_key are not): the OAuth code, a key, Graph's clientState.
_SECRET_NAMES = frozenset({"code", "key", "apikey", "client_state", "sig"})
_SECRET_SUFFIXES = (
    "api_key",
    "private_key",
    "signing_key",
    "encryption_key",
    "auth_code",
    "device_code",
    "user_code",
)
# Secret only as URL or form parameters, where they travel with an OAuth redirect.
_SECRET_PARAMETERS = frozenset({"state", "session_state"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
# A parameter in a URL query, fragment or form body: name=value after ?, &, # or at the start.
_PARAMETER = re.compile(r"(?P<lead>^|[?&#])(?P<name>[A-Za-z0-9_.$-]+)=(?P<value>[^&#\s\"'<>]*)")
_TOKENS = re.compile(
    # An Authorization header as text ("Authorization: Basic dXNl...", "'authorization': 'Bearer ...'").
    r"(?P<header>(?i:\b(?:proxy-)?authorization)[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?i:bearer|basic|digest|negotiate)\s+)?[^\s\"',;}]+"
    r"|(?P<bearer>(?i:\bbearer)\s+)[A-Za-z0-9._~+/=-]+"
    # A JWT (JWS or JWE): its header is base64url JSON, so it starts with "eyJ".
    r"|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}"
    # Google's access tokens ("ya29.") and refresh tokens ("1//").
    r"|\bya29\.[A-Za-z0-9._-]+|(?<![\w/])1//[A-Za-z0-9._-]{10,}"
)
# Every match of _TOKENS contains one of these (lower-cased).
_TOKEN_MARKERS = ("authorization", "bearer", "eyj", "ya29.", "1//")
# An address, also percent-encoded (%40) as in URL paths like /users/ann%40acme.com/messages.
# The lookbehind starts a match only where a local part can start; without it the scan is quadratic in the
# length of a word (a 2,000-character word before an address: 52 ms without, 0.15 ms with).
_ADDRESS = re.compile(r"(?<![\w.%+-])(?P<local>[\w.%+-]+)(?P<at>@|%40)(?P<domain>(?:[\w-]+\.)+[\w-]+)")

# Keys our own processors set, never personal: not worth scanning on the hot path.
_PLAIN_KEYS = frozenset({"timestamp", "level", "logger"})
_MAX_DEPTH = 6

_handler: logging.Handler | None = None
_OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# Alembic announces each of its plugins at INFO when first imported: noise on every command that happens to
# configure logging before it imports alembic.
_QUIET = ("alembic.runtime.plugins",)


def configure_logging(level: int | str = "INFO", json: bool = False, *, stream: TextIO | None = None) -> None:
    """Route structlog and the standard library's loggers to ``stream`` (stderr), redacted, at ``level``.

    ``json`` gives one JSON object a line (servers, workers); otherwise lines for people. Calling it again
    replaces the previous configuration; handlers that others added to the root logger stay.
    """
    global _handler
    stream = stream if stream is not None else sys.stderr
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            # First, so that a line below the level costs nothing more.
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before `redact`, so that it sees them; this also keeps the console
            # renderer from printing local variables (tokens among them) in rich tracebacks.
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    _handler = handler
    # uvicorn, when left to configure logging, gives its loggers handlers of their own that bypass the root
    # (and so the redaction): they go through the root like every other library's.
    for name in _OWN_HANDLERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A logger for module ``name``; configures the defaults first if nothing did, so none logs in clear."""
    if not structlog.is_configured():
        configure_logging()
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: addresses pseudonymised, secrets replaced by ``[redacted]`` (module docstring)."""
    for key, value in event_dict.items():
        if key not in _PLAIN_KEYS:
            event_dict[key] = _redacted(key, value, 0)
    return event_dict


def redact_text(text: str) -> str:
    """``text`` with secret parameters, tokens and addresses redacted as in log lines."""
    if "=" in text:
        text = _PARAMETER.sub(_parameter_replacement, text)
    # The substring test first: the token scan costs ~25 us on a 120-character URL line, the test ~1 us.
    lowered = text.lower()
    if any(marker in lowered for marker in _TOKEN_MARKERS):
        text = _TOKENS.sub(_token_replacement, text)
    if "@" in text or "%40" in text:
        text = _ADDRESS.sub(_address_replacement, text)
    return text


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Uvicorn passes its message again with terminal colours as an extra; one copy is enough.
    event_dict.pop("color_message", None)
    return event_dict


def _redacted(key: str, value: Any, depth: int) -> Any:
    if value is None:
        return None
    if _is_secret_name(key):
        return REDACTED
    return _cleaned(value, depth)


def _cleaned(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool | int | float):
        return value
    if depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            return {redact_text(str(k)): _redacted(str(k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [_cleaned(item, depth + 1) for item in value]
    # Anything else (exceptions, models, bytes, too deep) becomes its text, so that the text is checked.
    return redact_text(str(value))


@lru_cache(maxsize=4096)
def _is_secret_name(name: str) -> bool:
    words = [word for word in _NOT_ALNUM.split(_CAMEL.sub("_", name).lower()) if word]
    snake = "_".join(words)
    if snake in _SECRET_NAMES or any(word in _SECRET_PARTS for word in words):
        return True
    return snake.endswith(_SECRET_SUFFIXES)


@lru_cache(maxsize=1024)
def _is_secret_parameter(name: str) -> bool:
    return _is_secret_name(name) or name.lower() in _SECRET_PARAMETERS


def _parameter_replacement(match: re.Match[str]) -> str:
    if not match["value"] or not _is_secret_parameter(match["name"]):
        return match[0]
    return f"{match['lead']}{match['name']}={REDACTED}"


def _token_replacement(match: re.Match[str]) -> str:
    return (match["header"] or match["bearer"] or "") + REDACTED


def _address_replacement(match: re.Match[str]) -> str:
    return f"<{_tag(match['local'])}>{match['at']}{match['domain']}"


@lru_cache(maxsize=4096)
def _tag(local: str) -> str:
    # Case-folded and percent-decoded: Ann@ and ann@ and ann%2Bx / ann+x are one mailbox, so one tag.
    plain = unquote(local).lower()
    digest = hmac.new(_TAG_KEY, plain.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:_TAG_HEX_DIGITS]
