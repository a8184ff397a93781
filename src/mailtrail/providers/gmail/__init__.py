"""Gmail: the connector the sync engine drives, over the Gmail API v1 with httpx (no Google API client).

``auth`` gives access tokens (a user's grant, or a service account with domain-wide delegation) and
connects a user's mailbox (authorization code with PKCE); ``client`` speaks the API (batching,
retries, quota units); ``messages`` turns Gmail's JSON into ``IncomingEmail``; ``connector`` lists and
follows a mailbox; ``push`` checks and reads Pub/Sub push notifications. Only base URLs and credentials differ
between production and the sandbox.
"""

from mailtrail.providers.gmail.auth import (
    GMAIL_BASE_URL,
    GMAIL_METADATA,
    GMAIL_READONLY,
    GOOGLE_AUTH_URI,
    GOOGLE_TOKEN_URI,
    OPENID_EMAIL,
    GrantedTokens,
    OAuthTokens,
    ServiceAccountTokens,
    TokenSource,
    authorization_url,
    exchange_code,
    pkce_pair,
    scopes_for,
)
from mailtrail.providers.gmail.client import GmailClient, Spend
from mailtrail.providers.gmail.connector import GmailConnector
from mailtrail.providers.gmail.push import GOOGLE_CERTS_URL, PushRejected, decode_push, verify_push
from mailtrail.providers.gmail.retry import RetryPolicy

__all__ = [
    "GMAIL_BASE_URL",
    "GMAIL_METADATA",
    "GMAIL_READONLY",
    "GOOGLE_AUTH_URI",
    "GOOGLE_CERTS_URL",
    "GOOGLE_TOKEN_URI",
    "OPENID_EMAIL",
    "GmailClient",
    "GmailConnector",
    "GrantedTokens",
    "OAuthTokens",
    "PushRejected",
    "RetryPolicy",
    "ServiceAccountTokens",
    "Spend",
    "TokenSource",
    "authorization_url",
    "decode_push",
    "exchange_code",
    "pkce_pair",
    "scopes_for",
    "verify_push",
]
