"""How mailtrail talks to Microsoft Graph v1.0 over httpx: one request or a ``$batch``, retries, quota.

Every request first spends one unit through ``spend`` (a ``$batch`` of n parts spends n: Graph evaluates each
part against the limits, https://learn.microsoft.com/graph/json-batching#batch-size-limitations), so that the
runtime's shared budget keeps the app within Outlook's 10,000 requests per 10 minutes per mailbox. Then:

- 5xx and timeouts are retried with exponential backoff and jitter, waiting at least what ``Retry-After`` says
  (https://learn.microsoft.com/graph/best-practices-concept#handling-expected-errors), then ``Unavailable``;
  a ``Retry-After`` longer than the policy's longest pause is not slept through: ``Unavailable`` at once, and
  the engine's back-off waits instead;
- 401 renews the token and tries once more;
- everything else that is not a success is mapped by ``errors.refusal`` (429 ``Throttled``, 410
  ``CursorExpired``, 403 ``AccessRevoked``...).

Mailbox requests carry ``Prefer: IdType="ImmutableId"``: a message keeps its id when it moves between
folders (https://learn.microsoft.com/graph/outlook-immutable-id), so a move is still one message. Parts of a
``$batch`` run four at a time at Graph
(https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits); a part refused for throttling
or a server error is sent again in the next round, as in ``gmail/client.py``.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from mailtrail.logs import get_logger
from mailtrail.providers.base import ProviderError, Throttled, Unavailable
from mailtrail.providers.gmail.auth import TokenSource
from mailtrail.providers.gmail.retry import RetryPolicy, retry_after
from mailtrail.providers.microsoft.batch import MAX_BATCH, Part, batch_body, read_batch
from mailtrail.providers.microsoft.errors import STILL_REFUSED, refusal

log = get_logger(__name__)

IMMUTABLE_IDS = 'IdType="ImmutableId"'
_TIMEOUT = httpx.Timeout(60.0, connect=15.0)

Spend = Callable[[int], Awaitable[None]]


async def _no_budget(_units: int) -> None:
    """Spend nothing (no shared budget: tests, one-off scripts)."""


def _verify(ca_file: str | None) -> ssl.SSLContext | bool:
    """Certificate checks always on; ``ca_file`` (tests only) is the CA to trust instead of the system's."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


class GraphTransport:
    """Requests to one mailbox's Graph API (``user`` is ``me`` for a delegated token, else the user's id or
    address); ``base_url`` is ``https://graph.microsoft.com`` in production. ``GraphClient`` adds the
    calls."""

    def __init__(
        self,
        base_url: str,
        tokens: TokenSource,
        http: httpx.AsyncClient | None = None,
        *,
        spend: Spend = _no_budget,
        retry: RetryPolicy | None = None,
        user: str = "me",
        batch_size: int = MAX_BATCH,
        ca_file: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_url = f"{self.base_url}/v1.0"
        self.tokens = tokens
        self.spend = spend
        self.retry = retry or RetryPolicy()
        self.user = user
        self.batch_size = max(1, min(batch_size, MAX_BATCH))
        self.user_path = "/me" if user == "me" else f"/users/{quote(user, safe='@')}"
        self._http = http or httpx.AsyncClient(timeout=_TIMEOUT, verify=_verify(ca_file))
        self._own_http = http is None

    async def aclose(self) -> None:
        """Close the HTTP client (if this client made it) and the token source."""
        if self._own_http:
            await self._http.aclose()
        await self.tokens.aclose()

    # ---- links -------------------------------------------------------------------------------------------

    def relative(self, link: str) -> str:
        """A link Graph handed out (nextLink, deltaLink), relative to ``/v1.0`` as ``$batch`` wants it.

        A link to another host is refused: the bearer token must never travel anywhere but Graph.
        """
        if link.startswith(self.api_url + "/"):
            return link[len(self.api_url) :]
        if link.startswith("/"):
            return link
        raise ProviderError("Microsoft Graph handed out a link to another host; mailtrail did not follow it")

    def mailbox_url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """A path under this mailbox (``/mailFolders/inbox``), relative to ``/v1.0``, with its query."""
        query = f"?{urlencode(params, quote_via=quote, safe='$,:()')}" if params else ""
        return f"{self.user_path}{path}{query}"

    # ---- requests ----------------------------------------------------------------------------------------

    async def get(self, url: str, what: str, *, prefer: Sequence[str] = (IMMUTABLE_IDS,)) -> dict[str, Any]:
        """GET a URL relative to ``/v1.0``: its JSON."""
        headers = {"Prefer": ", ".join(prefer)} if prefer else {}
        response = await self.send("GET", self.api_url + url, what, headers=headers)
        body = _json(response)
        self.check(response, body, what)
        if not isinstance(body, dict):
            raise Unavailable(f"Microsoft Graph answered {what} with something that is not JSON")
        return body

    async def send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        cost: int = 1,
    ) -> httpx.Response:
        """One request with its retries: server errors and timeouts back off; a 401 renews the token once."""
        renewed = False
        attempt = 0
        while True:
            await self.spend(cost)
            token = await self.tokens.access_token()
            # A fresh id per request, which Graph echoes and Microsoft's support asks for
            # (https://learn.microsoft.com/graph/best-practices-concept#reliability-and-support).
            request_id = str(uuid.uuid4())
            request_headers = {
                **(headers or {}),
                "Authorization": f"Bearer {token}",
                "client-request-id": request_id,
            }
            wait: float | None = None
            try:
                response = await self._http.request(method, url, json=json, headers=request_headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__} (no answer)"
            else:
                if response.status_code == 401 and not renewed:
                    renewed = True
                    await self.tokens.refresh()
                    continue
                if response.status_code < 500:
                    return response
                problem = f"HTTP {response.status_code}"
                wait = retry_after(response.headers)
            if attempt >= self.retry.attempts or (wait is not None and wait > self.retry.max_delay):
                tries = attempt + 1
                raise Unavailable(f"Microsoft Graph did not answer {what} after {tries} tries ({problem})")
            delay = max(self.retry.delay(attempt), wait or 0.0)
            log.info(
                "graph request retried", what=what, problem=problem, attempt=attempt + 1, delay=delay,
                client_request_id=request_id,
            )  # fmt: skip
            await asyncio.sleep(delay)
            attempt += 1

    def check(self, response: httpx.Response, body: Any, what: str) -> None:
        """Raise the provider error a non-2xx answer stands for."""
        if not response.is_success:
            raise refusal(response.status_code, response.headers, body, what, self.retry)

    def check_part(self, part: Part, what: str) -> None:
        """Raise the provider error a refused batch part stands for."""
        if not 200 <= part.status < 300:
            raise refusal(part.status, part.headers, part.body, what, self.retry)

    async def batch(
        self, urls: Sequence[str], what: str, *, prefer: Sequence[str] = (IMMUTABLE_IDS,)
    ) -> list[Part]:
        """GET each URL (relative to ``/v1.0``) through ``$batch``; the final answer of each, in order.

        Parts refused for throttling (429), a server error or an expired token are sent again, all of them
        in the next round. Rounds that get nothing through wait longer each time (the Retry-After of a
        refusal, else the backoff); after ``retry.attempts`` of them the refusal is raised (``Throttled``,
        else ``Unavailable``). Every other answer, 404 included, is the caller's to read.
        """
        headers = {"Prefer": ", ".join(prefer)} if prefer else {}
        answers: dict[int, Part] = {}
        todo = list(range(len(urls)))
        renewed, stalled = False, 0
        while todo:
            again: list[int] = []
            wait, throttle, unauthorised = 0.0, None, False
            for start in range(0, len(todo), self.batch_size):
                chunk = todo[start : start + self.batch_size]
                parts = await self._send_batch([urls[i] for i in chunk], headers, what)
                for index, part in zip(chunk, parts, strict=True):
                    if part is not None and part.status < 500 and part.status not in (401, 429):
                        answers[index] = part
                        continue
                    again.append(index)
                    if part is not None and part.status == 429:
                        refused = refusal(429, part.headers, part.body, what, self.retry)
                        throttle = refused if isinstance(refused, Throttled) else throttle
                        wait = max(wait, retry_after(part.headers) or 0.0)
                    unauthorised |= part is not None and part.status == 401
            if not again:
                break
            if unauthorised:
                if renewed:
                    raise Unavailable(STILL_REFUSED)
                renewed = True
                await self.tokens.refresh()
            stalled = 0 if len(again) < len(todo) else stalled + 1
            if stalled > self.retry.attempts or wait > self.retry.max_delay:
                if throttle is not None:
                    raise throttle
                raise Unavailable(f"Microsoft Graph did not answer {what} for {len(again)} requests")
            delay = max(wait, self.retry.delay(stalled - 1)) if stalled else wait
            log.info("graph batch parts sent again", parts=len(again), stalled=stalled, delay=delay)
            await asyncio.sleep(delay)
            todo = again
        return [answers[index] for index in range(len(urls))]

    async def _send_batch(
        self, urls: Sequence[str], headers: Mapping[str, str], what: str
    ) -> list[Part | None]:
        response = await self.send(
            "POST", f"{self.api_url}/$batch", what, json=batch_body(urls, headers), cost=len(urls)
        )
        body = _json(response)
        self.check(response, body, what)
        return read_batch(body, len(urls))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
