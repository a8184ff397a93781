"""Graph change notifications as a webhook receives them: the validation handshake, and reading a POST.

From https://learn.microsoft.com/graph/change-notifications-delivery-webhooks:

- creating (or renewing) a subscription, Graph POSTs to the notification URL (and the lifecycle URL) with a
  ``validationToken`` query parameter; the endpoint must answer 200 with the URL-decoded token as
  ``text/plain`` within 10 seconds (``validation_answer``);
- a notification POST is ``{"value": [...]}``, each item with its ``subscriptionId`` and the ``clientState``
  given at creation, which "must match": a mismatch is not Graph's (``parse_notifications`` compares in
  constant time, and says which subscription failed, never the secret);
- lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events) carry a
  ``lifecycleEvent``: ``reauthorizationRequired`` (renew: ``watch`` PATCHes, which reauthorizes too),
  ``subscriptionRemoved`` (create it again: ``watch`` does when the PATCH finds it gone) and ``missed`` (some
  notifications were lost: sync now, delta catches up).

Graph waits 3 seconds for the answer to a notification: the endpoint answers 202 once it has read the POST,
and syncs afterwards.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
# "resource": "Users/{user id}/Messages/{message id}" (or "users/{id}@{tenant}/messages/..."); any case.
_RESOURCE_USER = re.compile(r"^/?users/([^/]+)/", re.IGNORECASE)


class NotificationRejected(Exception):
    """A POST that is not a genuine notification for one of our subscriptions; the text says why."""


@dataclass(frozen=True, slots=True)
class WatchState:
    """What the engine stores for a Graph watch (``Watch.state``): the subscription and its client state.

    ``client_state`` is a secret: whoever knows it can make the endpoint believe a notification is Graph's.
    """

    subscription: str
    client_state: str
    resource: str
    notification_url: str

    def dump(self) -> str:
        """The state as JSON."""
        return json.dumps(
            {
                "subscription": self.subscription,
                "client_state": self.client_state,
                "resource": self.resource,
                "notification_url": self.notification_url,
            },
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str | None) -> WatchState | None:
        """The state in ``text``; None when there is none or it cannot be read (a new subscription then)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            return cls(
                str(data["subscription"]),
                str(data["client_state"]),
                str(data.get("resource", "")),
                str(data.get("notification_url", "")),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def __repr__(self) -> str:
        return f"WatchState(subscription={self.subscription!r})"


@dataclass(frozen=True, slots=True)
class Notification:
    """One verified notification: whose subscription, which user's mailbox, what changed or happened."""

    subscription_id: str
    # The user id in the resource ("Users/{id}/Messages/{id}"); None for lifecycle notifications.
    user: str | None
    change_type: str | None = None
    lifecycle_event: str | None = None


def validation_answer(query: Mapping[str, str]) -> str | None:
    """The handshake's answer (the token, to send back as 200 ``text/plain``), or None when this is no
    handshake. ``query`` is the request's decoded query parameters. The answer must be the token exactly,
    so it is not escaped: send it with ``X-Content-Type-Options: nosniff``, so that no browser reads it as
    HTML."""
    token = query.get("validationToken")
    return token if token else None


def parse_notifications(
    body: bytes | str | Mapping[str, Any], expected_client_states: Mapping[str, str]
) -> list[Notification]:
    """The notifications of a POST, each checked against its subscription's client state.

    ``expected_client_states`` maps subscription id to client state (``WatchState``). Any item of an unknown
    subscription or with another client state rejects the whole POST (``NotificationRejected``).
    """
    try:
        payload = body if isinstance(body, Mapping) else json.loads(body)
        items = payload["value"]
        if not isinstance(items, list) or not items:
            raise ValueError("no notifications")
    except (ValueError, TypeError, KeyError):
        raise NotificationRejected("the body is not a Graph notification collection") from None
    found: list[Notification] = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, Mapping):
            raise NotificationRejected(f"notification {position} is not an object")
        subscription = str(item.get("subscriptionId") or "")
        expected = expected_client_states.get(subscription)
        if expected is None:
            raise NotificationRejected(
                f"notification {position} names an unknown subscription {subscription!r}"
            )
        given = item.get("clientState")
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            raise NotificationRejected(
                f"notification {position} (subscription {subscription}) does not carry its client state"
            )
        event = item.get("lifecycleEvent")
        if event is not None:
            if event not in LIFECYCLE_EVENTS:
                raise NotificationRejected(f"notification {position} has an unknown lifecycle event")
            found.append(Notification(subscription, None, lifecycle_event=str(event)))
            continue
        match = _RESOURCE_USER.match(str(item.get("resource") or ""))
        user = match.group(1).split("@")[0] if match else None
        found.append(Notification(subscription, user, change_type=str(item.get("changeType") or "") or None))
    return found


def subscription_ids(body: bytes | str | Mapping[str, Any]) -> set[str]:
    """The subscription ids a POST names, before anything is verified (to look up their client states)."""
    try:
        payload = body if isinstance(body, Mapping) else json.loads(body)
        items = payload.get("value") if isinstance(payload, Mapping) else None
    except (ValueError, TypeError):
        return set()
    if not isinstance(items, list):
        return set()
    return {str(i["subscriptionId"]) for i in items if isinstance(i, Mapping) and i.get("subscriptionId")}
