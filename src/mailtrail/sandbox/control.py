"""Sandbox-only HTTP controls shared by the emulators: quota counters and fault scripting.

Lets a person (or a benchmark) driving ``mailtrail sandbox`` from outside the process do what tests do in
process: read ``/sandbox/quota`` and script faults with ``POST /sandbox/faults``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, cast, get_args

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.faults import Fault, FaultKind, FaultPlan
from mailtrail.sandbox.quota import QuotaLimiter

FAULT_KINDS = frozenset(get_args(FaultKind))


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}, 400)


def control_router(faults: FaultPlan, limiter: QuotaLimiter) -> APIRouter:
    """``GET /sandbox/quota``, ``POST /sandbox/faults``, ``DELETE /sandbox/faults``."""
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

    return router
