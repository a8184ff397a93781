"""``/v1.0/subscriptions``: create (with the validation handshake), list, get, renew (PATCH), delete."""

from __future__ import annotations

import json
import re
import secrets
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from mailtrail.sandbox.graph.access import resolve_mailbox
from mailtrail.sandbox.graph.errors import GraphError
from mailtrail.sandbox.graph.identity import AccessGrant
from mailtrail.sandbox.graph.lookup import find_folder
from mailtrail.sandbox.graph.params import id_kind
from mailtrail.sandbox.graph.state import GraphSandbox
from mailtrail.sandbox.graph.subscriptions import (
    CHANGE_TYPES,
    MAX_MESSAGE_SUBSCRIPTION,
    MIN_SUBSCRIPTION,
    VALIDATION_TIMEOUT,
    Subscription,
    SubscriptionHub,
)

_RESOURCE = re.compile(
    r"^/?(?:users(?:/(?P<u1>[^/()]+)|\('(?P<u2>[^']+)'\))|(?P<me>me))"
    r"(?:/mailFolders(?:/(?P<f1>[^/()]+)|\('(?P<f2>[^']+)'\)))?/messages$",
    re.IGNORECASE,
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


async def validate_endpoint(url: str, timeout: float = VALIDATION_TIMEOUT) -> None:
    """The handshake: POST ``?validationToken=`` and expect the token back as text/plain, 200, within 10 s."""
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token)}"
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.post(target, headers={"Content-Type": "text/plain; charset=utf-8"})
    except httpx.TimeoutException:
        raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.") from None
    except httpx.HTTPError:
        raise GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
            "validation request.",
        ) from None
    if response.status_code != 200:
        raise GraphError(
            400,
            "ValidationError",
            f"Subscription validation request failed. HTTP status code is '{response.status_code}'. "
            "Notification endpoint must respond with 200 OK to validation request.",
        )
    if not response.headers.get("content-type", "").startswith("text/plain") or response.text != token:
        raise GraphError(
            400,
            "ValidationError",
            "Subscription validation request failed. Response must exactly match validationToken query "
            "parameter.",
        )


def _check_url(name: str, url: object) -> str:
    if not isinstance(url, str) or not url:
        raise GraphError(400, "InvalidRequest", f"{name} is a required property for subscription creation.")
    parts = urlsplit(url)
    # Graph accepts https only; the sandbox also accepts plain http on loopback so that tests need no TLS.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise GraphError(400, "InvalidRequest", f"The {name} must be an https URL, got '{url}'.")
    return url


def _expiration(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise GraphError(
            400, "InvalidRequest", "expirationDateTime is a required property for subscription creation."
        )
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(
            400, "InvalidRequest", f"Cannot convert the literal '{value}' to DateTimeOffset."
        ) from None
    if when.tzinfo is None:
        raise GraphError(400, "InvalidRequest", f"expirationDateTime '{value}' needs a time zone offset.")
    if when <= now:
        raise GraphError(400, "InvalidRequest", "Subscription expiration must be in the future.")
    if when - now > MAX_MESSAGE_SUBSCRIPTION:
        raise GraphError(
            400,
            "InvalidRequest",
            f"Subscription expiration can only be {int(MAX_MESSAGE_SUBSCRIPTION.total_seconds() // 60)} "
            "minutes "
            "in the future.",
        )
    return max(when.astimezone(UTC), now + MIN_SUBSCRIPTION)  # documented: under 45 minutes becomes 45


async def _json_body(request: Request) -> dict[str, object]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of "
            "valid JSON format.",
        ) from None
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "The request payload must be a JSON object.")
    return body


def subscription_router(graph: GraphSandbox, hub: SubscriptionHub) -> APIRouter:
    """The subscription routes of one emulator."""
    router = APIRouter(prefix="/v1.0/subscriptions", tags=["subscriptions"])

    def grant_of(request: Request) -> AccessGrant:
        return graph.identity.verify(request.headers.get("authorization"))

    def owned(request: Request, sub_id: str) -> tuple[AccessGrant, Subscription]:
        grant = grant_of(request)
        sub = hub.get(sub_id)
        if sub is None or sub.app_id != grant.app_id:
            raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'.")
        return grant, sub

    def context(request: Request, entity: bool) -> str:
        return (
            f"{str(request.base_url).rstrip('/')}/v1.0/$metadata#subscriptions{'/$entity' if entity else ''}"
        )

    @router.post("")
    async def create(request: Request) -> Response:
        grant = grant_of(request)
        body = await _json_body(request)
        change_types = frozenset(str(body.get("changeType", "")).split(","))
        if not change_types or not change_types <= CHANGE_TYPES:
            raise GraphError(
                400,
                "InvalidRequest",
                f"Invalid changeType '{body.get('changeType')}'; use created, updated, deleted.",
            )
        notification_url = _check_url("notificationUrl", body.get("notificationUrl"))
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url is not None:
            lifecycle_url = _check_url("lifecycleNotificationUrl", lifecycle_url)
        resource = str(body.get("resource", ""))
        match = _RESOURCE.match(resource)
        if match is None:
            raise GraphError(
                400,
                "InvalidRequest",
                f"The resource '{resource}' is not supported; use users/{{id}}/messages or "
                f"users/{{id}}/mailFolders('{{folder}}')/messages.",
            )
        user = "me" if match["me"] else (match["u1"] or match["u2"])
        box = resolve_mailbox(graph.identity, graph.tenant, grant, user, graph.policies)
        folder_name = match["f1"] or match["f2"]
        folder = find_folder(box, folder_name) if folder_name else None
        expiration = _expiration(body.get("expirationDateTime"), graph.tenant.clock.now())
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise GraphError(400, "InvalidRequest", "clientState must be a string of at most 128 characters.")
        await validate_endpoint(notification_url, hub.validation_timeout)
        if lifecycle_url is not None:
            await validate_endpoint(lifecycle_url, hub.validation_timeout)
        directory_user = graph.identity.find_user(box.address)
        sub = Subscription(
            id=str(uuid.UUID(bytes=secrets.token_bytes(16), version=4)),
            app_id=grant.app_id,
            mailbox=box.address,
            user_object_id=directory_user.object_id if directory_user else box.address,
            folder_id=folder.id if folder else None,
            resource=resource,
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_url=lifecycle_url,
            client_state=client_state,
            expiration=expiration,
            id_kind=id_kind(request),
            token_expires_at=grant.expires_at,
        )
        hub.add(sub)
        return JSONResponse({"@odata.context": context(request, True), **sub.json()}, status_code=201)

    @router.get("")
    def list_subscriptions(request: Request) -> Response:
        grant = grant_of(request)
        values = [s.json() for s in hub.active(grant.app_id)]
        return JSONResponse({"@odata.context": context(request, False), "value": values})

    @router.get("/{sub_id}")
    def get_subscription(request: Request, sub_id: str) -> Response:
        _, sub = owned(request, sub_id)
        return JSONResponse({"@odata.context": context(request, True), **sub.json()})

    @router.patch("/{sub_id}")
    async def renew(request: Request, sub_id: str) -> Response:
        grant, sub = owned(request, sub_id)
        body = await _json_body(request)
        expiration = _expiration(body.get("expirationDateTime"), graph.tenant.clock.now())
        url = body.get("notificationUrl")
        if url is not None:
            url = _check_url("notificationUrl", url)
        await validate_endpoint(url or sub.notification_url, hub.validation_timeout)
        sub.expiration = expiration
        sub.notification_url = url or sub.notification_url
        sub.token_expires_at, sub.reauthorization_sent = grant.expires_at, False
        return JSONResponse({"@odata.context": context(request, True), **sub.json()})

    @router.post("/{sub_id}/reauthorize")
    def reauthorize(request: Request, sub_id: str) -> Response:
        grant, sub = owned(request, sub_id)
        sub.token_expires_at, sub.reauthorization_sent = grant.expires_at, False
        return Response(status_code=204)

    @router.delete("/{sub_id}")
    def delete(request: Request, sub_id: str) -> Response:
        owned(request, sub_id)
        hub.remove(sub_id)
        return Response(status_code=204)

    return router
