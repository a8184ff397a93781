"""Microsoft 365: the connector the sync engine drives, over Microsoft Graph v1.0 with httpx (no Graph SDK).

``auth`` gives access tokens with msal (a user's grant, or the app in a tenant with a secret or a
certificate); ``connect`` connects a user (authorization code with PKCE) or gives the admin consent address;
``client`` speaks Graph (``transport``: retries, quota, ``$batch``; ``errors``: what refusals mean);
``messages`` turns Graph's message JSON into ``IncomingEmail``; ``connector`` lists and follows a mailbox
folder by folder with delta (``cursor``); ``notifications`` answers the validation handshake and reads
change and lifecycle notifications. Only base URLs and credentials differ between production and the sandbox.
"""

from mailtrail.providers.microsoft.auth import (
    GRAPH_BASE_URL,
    GRAPH_DEFAULT,
    LOGIN_BASE_URL,
    MAIL_READ,
    AppTokens,
    CertificateCredential,
    DelegatedGrant,
    DelegatedTokens,
    MicrosoftApp,
    authority_url,
)
from mailtrail.providers.microsoft.client import DeltaPage, GraphClient
from mailtrail.providers.microsoft.connect import (
    ConnectedUser,
    ConnectStart,
    admin_consent_url,
    finish_connect,
    start_connect,
)
from mailtrail.providers.microsoft.connector import GraphConnector
from mailtrail.providers.microsoft.notifications import (
    Notification,
    NotificationRejected,
    WatchState,
    parse_notifications,
    subscription_ids,
    validation_answer,
)

__all__ = [
    "GRAPH_BASE_URL",
    "GRAPH_DEFAULT",
    "LOGIN_BASE_URL",
    "MAIL_READ",
    "AppTokens",
    "CertificateCredential",
    "ConnectStart",
    "ConnectedUser",
    "DelegatedGrant",
    "DelegatedTokens",
    "DeltaPage",
    "GraphClient",
    "GraphConnector",
    "MicrosoftApp",
    "Notification",
    "NotificationRejected",
    "WatchState",
    "admin_consent_url",
    "authority_url",
    "finish_connect",
    "parse_notifications",
    "start_connect",
    "subscription_ids",
    "validation_answer",
]
