"""A small typed Gmail API v1 client over httpx: the read methods a sync needs, batching, retries, quota.

Every request first spends its quota units through ``spend`` (the engine's shared budget keeps a mailbox
within Google's per-user limit; a batch spends the sum of its parts), then goes out with a bearer token.
What comes back is handled as Google's error guide says
(https://developers.google.com/workspace/gmail/api/guides/handle-errors):

- 5xx and timeouts are retried with exponential backoff and jitter, then raise ``Unavailable``;
- 401 renews the token and retries once, then raises ``Unavailable`` (a revoked grant is ``AccessRevoked``
  at the renewal: Google's token endpoint is what says that access is gone);
- 429, and 403 ``rateLimitExceeded`` or ``userRateLimitExceeded``, raise ``Throttled`` (Retry-After, else
  a wait);
- 404 on history raises ``CursorExpired`` (https://developers.google.com/workspace/gmail/api/guides/sync);
- any other 4xx raises ``ProviderError`` with Google's message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from mailtrail.logs import get_logger
from mailtrail.providers.base import AccessRevoked, CursorExpired, ProviderError, Throttled, Unavailable
from mailtrail.providers.gmail.auth import TokenSource
from mailtrail.providers.gmail.batch import PartResponse, build_batch, parse_batch
from mailtrail.providers.gmail.retry import RetryPolicy, retry_after

log = get_logger(__name__)

# Quota units per method (https://developers.google.com/workspace/gmail/api/reference/quota).
COSTS = {"messages.get": 5, "messages.list": 5, "history.list": 2, "getProfile": 1, "watch": 100, "stop": 50}
# "Sending batches larger than 50 requests is not recommended" (the batch guide, in batch.py).
MAX_BATCH = 50
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
# The renewal worked, so the grant is alive: a refusal of the new token passes (the next sync renews
# again, and a revoked grant fails there). If it lasts, the mailbox ends in "error" with these words.
_STILL_REFUSED = (
    "Gmail refused the mailbox's access token even after renewing it (HTTP 401); "
    "if this lasts, re-authorise it"
)

Spend = Callable[[int], Awaitable[None]]


async def _no_budget(_units: int) -> None:
    """Spend nothing (no shared budget: tests, one-off scripts)."""


class GmailClient:
    """One mailbox's Gmail API; ``base_url`` is ``https://gmail.googleapis.com`` in production."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        http: httpx.AsyncClient | None = None,
        *,
        spend: Spend = _no_budget,
        user_id: str = "me",
        retry: RetryPolicy | None = None,
        batch_size: int = MAX_BATCH,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.spend = spend
        self.retry = retry or RetryPolicy()
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self._user_path = f"/gmail/v1/users/{quote(user_id, safe='@')}"
        self._http = http or httpx.AsyncClient(timeout=_TIMEOUT)
        self._own_http = http is None

    async def aclose(self) -> None:
        """Close the HTTP client (if this client made it) and the token source."""
        if self._own_http:
            await self._http.aclose()
        await self.tokens.aclose()

    # ---- methods ---------------------------------------------------------------------------------------

    async def get_profile(self) -> dict[str, Any]:
        """users.getProfile: ``emailAddress``, ``historyId`` (the mailbox's latest change) and totals."""
        return await self._json("GET", "/profile", "getProfile", "reading the mailbox profile")

    async def list_history(
        self,
        start_history_id: int | str,
        page_token: str | None = None,
        history_types: Sequence[str] = ("messageAdded",),
        max_results: int = 100,
    ) -> dict[str, Any]:
        """users.history.list: changes after ``start_history_id``; ``CursorExpired`` once Google forgot it."""
        params: list[tuple[str, str]] = [
            ("startHistoryId", str(start_history_id)),
            ("maxResults", str(max_results)),
        ]
        params += [("historyTypes", kind) for kind in history_types]
        if page_token:
            params.append(("pageToken", page_token))
        expired = CursorExpired(
            "Gmail no longer has the mailbox's change history from mailtrail's last sync position"
        )
        return await self._json(
            "GET", "/history", "history.list", "reading the mailbox's changes", params, gone=expired
        )

    async def list_messages(
        self,
        q: str | None = None,
        page_token: str | None = None,
        max_results: int = 100,
        include_spam_trash: bool = False,
    ) -> dict[str, Any]:
        """users.messages.list, newest first: ``messages`` (ids), ``nextPageToken``, ``resultSizeEstimate``
        (an estimate of the total)."""
        params: list[tuple[str, str]] = [("maxResults", str(max_results))]
        if q is not None:
            params.append(("q", q))
        if include_spam_trash:
            params.append(("includeSpamTrash", "true"))
        if page_token:
            params.append(("pageToken", page_token))
        return await self._json("GET", "/messages", "messages.list", "listing messages", params)

    async def get_messages(
        self, ids: Iterable[str], format: str = "metadata", metadata_headers: Sequence[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """users.messages.get for each id through the batch endpoint; by id, messages gone left out."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, dict[str, Any]] = {}
        params = [("format", format)] + [("metadataHeaders", name) for name in metadata_headers]
        for start in range(0, len(wanted), self.batch_size):
            chunk = wanted[start : start + self.batch_size]
            found.update(await self._batch_get(chunk, urlencode(params)))
        return {message_id: found[message_id] for message_id in wanted if message_id in found}

    async def watch(self, topic: str, label_ids: Sequence[str] = ()) -> dict[str, Any]:
        """users.watch: push notifications to a Pub/Sub topic; returns ``historyId``, ``expiration`` (ms)."""
        body: dict[str, Any] = {"topicName": topic}
        if label_ids:
            body |= {"labelIds": list(label_ids), "labelFilterBehavior": "include"}
        return await self._json("POST", "/watch", "watch", "starting push notifications", body=body)

    async def stop(self) -> None:
        """users.stop: no more push notifications for this mailbox."""
        response = await self._send("POST", self._url("/stop"), COSTS["stop"], "stopping push notifications")
        _check(response, "stopping push notifications", self.retry)

    # ---- plumbing --------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.base_url}{self._user_path}{path}"

    async def _json(
        self,
        method: str,
        path: str,
        name: str,
        what: str,
        params: list[tuple[str, str]] | None = None,
        body: dict[str, Any] | None = None,
        gone: ProviderError | None = None,
    ) -> dict[str, Any]:
        response = await self._send(method, self._url(path), COSTS[name], what, params=params, json=body)
        _check(response, what, self.retry, gone)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Unavailable(f"Gmail answered {what} with something that is not JSON")
        return data

    async def _send(
        self,
        method: str,
        url: str,
        cost: int,
        what: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request with its retries: server errors and timeouts back off; a 401 renews the token once."""
        renewed = False
        attempt = 0
        while True:
            await self.spend(cost)
            token = await self.tokens.access_token()
            request_headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=list(params or ()),
                    json=json,
                    content=content,
                    headers=request_headers,
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__} (no answer)"
            else:
                if response.status_code == 401 and not renewed:
                    renewed = True
                    await self.tokens.refresh()
                    continue
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}: {_error_text(response)}"
            if attempt >= self.retry.attempts:
                raise Unavailable(f"Gmail did not answer {what} after {attempt + 1} tries ({problem})")
            delay = self.retry.delay(attempt)
            log.info("gmail request retried", what=what, problem=problem, attempt=attempt + 1, delay=delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def _batch_get(self, ids: list[str], query: str) -> dict[str, dict[str, Any]]:
        """messages.get for up to 50 ids in one batch; refused parts are sent again.

        Parts run concurrently at Google, so a batch can meet the per-user concurrency limit and see some
        parts refused while others pass: those are sent again at once. Rounds that get nothing through wait
        longer each time (the Retry-After of a refusal, else the backoff); after ``retry.attempts`` of them
        the refusal is raised (``Throttled``, else ``Unavailable``).
        """
        what = "fetching messages"
        base_path = urlsplit(self.base_url).path.rstrip("/") + self._user_path
        found: dict[str, dict[str, Any]] = {}
        todo, renewed, stalled = ids, False, 0
        while todo:
            targets = [f"{base_path}/messages/{quote(message_id, safe='')}?{query}" for message_id in todo]
            content, content_type = build_batch(targets)
            response = await self._send(
                "POST", f"{self.base_url}/batch/gmail/v1", COSTS["messages.get"] * len(todo), what,
                content=content, headers={"Content-Type": content_type},
            )  # fmt: skip
            _check(response, what, self.retry)
            parts = parse_batch(response.headers.get("content-type", ""), response.content, len(todo))
            again = _sort_parts(todo, parts, found, what, self.retry)
            if not again.ids:
                break
            if again.unauthorised:
                if renewed:
                    raise Unavailable(_STILL_REFUSED)
                renewed = True
                await self.tokens.refresh()
            stalled = 0 if len(again.ids) < len(todo) else stalled + 1
            if stalled > self.retry.attempts:
                if again.throttle is not None:
                    raise again.throttle
                raise Unavailable(
                    f"Gmail did not answer {what} for {len(again.ids)} messages after {stalled} tries"
                )
            delay = max(again.wait, self.retry.delay(stalled - 1)) if stalled else again.wait
            log.info("gmail batch parts sent again", parts=len(again.ids), stalled=stalled, delay=delay)
            await asyncio.sleep(delay)
            todo = again.ids
        return found


@dataclass(slots=True)
class _Again:
    """The parts of a batch to send again, and why."""

    ids: list[str] = field(default_factory=list)
    wait: float = 0.0
    throttle: Throttled | None = None
    unauthorised: bool = False


def _sort_parts(
    ids: list[str],
    parts: list[PartResponse | None],
    found: dict[str, dict[str, Any]],
    what: str,
    retry: RetryPolicy,
) -> _Again:
    """Put each answered message in ``found``; a 404 part is a message deleted since it was listed (left
    out); the rest are to be sent again."""
    again = _Again()
    for message_id, part in zip(ids, parts, strict=True):
        outcome = _part_outcome(part, what, retry)
        if isinstance(outcome, dict):
            found[message_id] = outcome
        elif outcome != "gone":
            again.ids.append(message_id)
        if isinstance(outcome, Throttled) and part is not None:
            again.throttle = outcome
            again.wait = max(again.wait, retry_after(part.headers) or 0.0)
        again.unauthorised |= outcome == "unauthorised"
    return again


def _part_outcome(
    part: PartResponse | None, what: str, retry: RetryPolicy
) -> dict[str, Any] | Throttled | str:
    """A message, a throttle, or "retry" (server error), "unauthorised", "gone"; other refusals raise."""
    if part is None or part.status >= 500:
        return "retry"
    if part.status == 401:
        return "unauthorised"
    if part.status == 404:
        return "gone"
    body = part.json()
    if 200 <= part.status < 300 and isinstance(body, dict):
        return body
    if 200 <= part.status < 300:
        return "retry"  # a truncated answer
    reason, message = _reason_and_message(body)
    if part.status == 429 or (part.status == 403 and reason in _RATE_REASONS):
        wait = retry_after(part.headers)
        return Throttled(
            _detail(what, part.status, reason, message), wait if wait is not None else retry.throttle_delay
        )
    raise _refusal(what, part.status, reason, message)


def _check(
    response: httpx.Response, what: str, retry: RetryPolicy, gone: ProviderError | None = None
) -> None:
    """Raise the provider error a non-2xx answer stands for."""
    if response.is_success:
        return
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    reason, message = _reason_and_message(body)
    if status == 404 and gone is not None:
        raise gone
    if status == 401:
        raise Unavailable(_STILL_REFUSED)
    if status == 429 or (status == 403 and reason in _RATE_REASONS):
        wait = retry_after(response.headers)
        raise Throttled(
            _detail(what, status, reason, message), wait if wait is not None else retry.throttle_delay
        )
    raise _refusal(what, status, reason, message)


def _refusal(what: str, status: int, reason: str, message: str) -> ProviderError:
    if status == 403 and (reason == "insufficientPermissions" or message.startswith("Delegation denied")):
        return AccessRevoked(
            f"Google says mailtrail may not read this mailbox ({message}): re-authorise it and allow Gmail "
            "access"
        )
    return ProviderError(_detail(what, status, reason, message))


def _detail(what: str, status: int, reason: str, message: str) -> str:
    return f"Gmail refused {what}: {message or 'no message'} (HTTP {status}{', ' + reason if reason else ''})"


def _reason_and_message(body: Any) -> tuple[str, str]:
    """Google's error ``reason`` and ``message`` from ``{"error": {"message", "errors": [{"reason"}]}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", ""
    errors = error.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return str(first.get("reason", "")), str(error.get("message", "")).strip()


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    return _reason_and_message(body)[1] or response.reason_phrase
