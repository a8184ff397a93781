"""Sandbox-only HTTP controls shared by the emulators: quota counters, fault scripting, mail delivery.

Lets a person (or a benchmark) driving ``mailtrail sandbox`` from outside the process do what tests do in
process: read ``/sandbox/quota``, script faults with ``POST /sandbox/faults``, and deliver mail with
``POST /sandbox/deliver`` (what ``Tenant.deliver`` does in a test), so a running sandbox's mailboxes change
the way they do when mail arrives: history, delta and push follow.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.errors import SandboxError, UnknownMailbox
from mailtrail.sandbox.faults import Fault, FaultKind, FaultPlan
from mailtrail.sandbox.labels import WELL_KNOWN_FOLDERS
from mailtrail.sandbox.quota import QuotaLimiter
from mailtrail.sandbox.store import Tenant

FAULT_KINDS = frozenset(get_args(FaultKind))
# Folders whose new mail is not unread: what one files there oneself.
_READ_FOLDERS = frozenset({"sentitems", "drafts"})
_LISTS = frozenset({"to", "labelIds"})  # options that may repeat as query parameters


class BadDelivery(ValueError):
    """A /sandbox/deliver request that cannot be carried out; the message says why."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What ``POST /sandbox/deliver`` asked for: the message, where it goes, when."""

    raw: bytes
    to: tuple[str, ...] | None
    labels: tuple[str, ...] | None
    at: datetime | None


def _listed(value: object) -> list[str]:
    """A list of strings from JSON (list or comma-separated string) or repeated query parameters."""
    items = value if isinstance(value, list) else [value] if value else []
    return [part.strip() for item in items for part in str(item).split(",") if part.strip()]


def _when(value: object) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise BadDelivery(f"at must be an ISO 8601 time, got {value!r}") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_delivery(raw: bytes, options: dict[str, object]) -> Delivery:
    """Check a delivery request: ``to``, ``labelIds`` or ``folder`` (a well-known Graph name), ``at``."""
    if not raw.strip():
        raise BadDelivery("no message: send raw MIME as message/rfc822, or JSON with raw (base64url)")
    labels, folder = _listed(options.get("labelIds")), str(options.get("folder") or "").lower()
    if labels and folder:
        raise BadDelivery("give labelIds (Gmail) or folder (Graph), not both")
    if folder:
        if folder not in WELL_KNOWN_FOLDERS:
            raise BadDelivery(f"folder must be one of {', '.join(WELL_KNOWN_FOLDERS)}, got {folder!r}")
        label_id = WELL_KNOWN_FOLDERS[folder][1]
        unread = () if folder in _READ_FOLDERS else ("UNREAD",)
        labels = [*([label_id] if label_id else []), *unread]
    to = tuple(_listed(options.get("to"))) or None
    return Delivery(raw, to, tuple(labels) if labels or folder else None, _when(options.get("at")))


def deliver(tenant: Tenant, delivery: Delivery) -> tuple[int, dict[str, Any]]:
    """Carry out a delivery: 200 with the stored copies, or 202 when it waits for its time."""
    try:
        stored = tenant.deliver(delivery.raw, delivery.to, at=delivery.at, labels=delivery.labels)
    except UnknownMailbox as exc:
        raise BadDelivery(f"no sandbox mailbox {exc.args[0]!r}") from None
    except SandboxError as exc:
        raise BadDelivery(str(exc).strip("'\"")) from None
    if not stored and delivery.at is not None and delivery.at > tenant.clock.now():
        return 202, {"scheduled": True, "at": delivery.at.isoformat()}
    if not stored:
        raise BadDelivery("the message names no sandbox mailbox in From/To/Cc/Bcc: give to")
    copies = [
        {
            "mailbox": m.mailbox,
            "id": m.id,
            "threadId": m.thread_id,
            "labelIds": sorted(m.labels),
            "historyId": str(m.history_id),
        }
        for m in stored
    ]
    return 200, {"delivered": copies}


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, 400)


def control_router(faults: FaultPlan, limiter: QuotaLimiter, tenant: Tenant | None = None) -> APIRouter:
    """``GET /sandbox/quota``, ``POST``/``DELETE /sandbox/faults``, ``POST /sandbox/deliver``.

    ``tenant`` is where deliveries go; without it, the serving app's ``app.state.sandbox.tenant``.
    """
    router = APIRouter(prefix="/sandbox", include_in_schema=False)

    @router.get("/quota")
    def quota() -> dict[str, Any]:
        """Requests, units and rejections so far, in total and per user/mailbox."""
        return {
            "total": asdict(limiter.counters()),
            "byKey": {key: asdict(limiter.counters(key)) for key in limiter.seen_keys()},
        }

    @router.post("/faults", status_code=201)
    async def add_fault(request: Request) -> Response:
        """JSON: path, kind, and optionally status, delay, retryAfter, times or probability, method."""
        try:
            spec = await request.json()
        except ValueError:
            return _bad("the body must be JSON")
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            return _bad('need a JSON object with "path" (a regular expression) and "kind"')
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            return _bad(f"kind must be one of {', '.join(sorted(FAULT_KINDS))}, got {kind!r}")
        kind = cast(FaultKind, kind)
        try:
            fault = Fault(
                kind,
                status=int(spec.get("status", 500)),
                delay=float(spec.get("delay", 0.0)),
                retry_after=float(spec["retryAfter"]) if spec.get("retryAfter") is not None else None,
            )
            if "probability" in spec:
                faults.chance(spec["path"], fault, float(spec["probability"]), spec.get("method"))
            else:
                faults.script(spec["path"], fault, int(spec.get("times", 1)), spec.get("method"))
        except (TypeError, ValueError) as exc:
            return _bad(f"bad fault: {exc}")
        return JSONResponse({"added": spec}, 201)

    @router.delete("/faults", status_code=204)
    def clear_faults() -> Response:
        faults.clear()
        return Response(status_code=204)

    @router.post("/deliver")
    async def deliver_mail(request: Request) -> Response:
        """Raw MIME as message/rfc822 (options as query parameters) or JSON ``{"raw": base64url, ...}``."""
        target: Tenant = tenant if tenant is not None else request.app.state.sandbox.tenant
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        body = await request.body()
        query = request.query_params
        options: dict[str, object] = {k: query.getlist(k) if k in _LISTS else query[k] for k in query}
        try:
            if content_type.startswith("message/"):
                raw = body
            else:
                try:
                    spec = await request.json()
                except ValueError:
                    raise BadDelivery("send message/rfc822, or JSON with raw (base64url)") from None
                if not isinstance(spec, dict):
                    raise BadDelivery("the JSON body must be an object")
                text = str(spec.get("raw") or "").replace("+", "-").replace("/", "_").rstrip("=")
                try:
                    raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
                except (binascii.Error, ValueError):
                    raise BadDelivery("raw must be base64url") from None
                options |= {k: v for k, v in spec.items() if k != "raw"}
            status, result = deliver(target, parse_delivery(raw, options))
        except BadDelivery as exc:
            return _bad(str(exc))
        return JSONResponse(result, status)

    return router
