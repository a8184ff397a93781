"""One typed settings object, read from the environment (prefix ``MAILTRAIL_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///mailtrail.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAILTRAIL_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Emails decided and written per transaction during an import.
    import_batch_size: int = 500
    # Keys that encrypt stored secrets (mailtrail.secrets): comma-separated Fernet keys, the first encrypts,
    # the others still decrypt until `mailtrail keys rotate` has run.
    secret_keys: SecretStr | None = None
    # Without secret_keys: a file holding them (default: mailtrail.key beside a SQLite database).
    secret_key_file: Path | None = None

    # Where this deployment is reached from outside: OAuth redirects and push notifications come back here.
    public_url: str = "http://127.0.0.1:8000"

    # Google. Production values by default; the sandbox (`mailtrail sandbox`) stands in with its own URLs.
    gmail_api_url: str = "https://gmail.googleapis.com"
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a password
    # Google's public keys (a JWK set): they sign Pub/Sub push tokens and "Sign in with Google" ID tokens.
    google_certs_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    # The OAuth client of this deployment (Google Cloud console, "OAuth client ID", type "Web application").
    google_client_id: str = ""
    google_client_secret: SecretStr | None = None
    # Push: the Pub/Sub topic Gmail publishes to, and the service account the push subscription signs as.
    google_pubsub_topic: str = ""
    google_push_service_account: str = ""
    # Gmail's per-user quota: "default" (6,000 units per minute, Cloud projects created from May 2026) or
    # "legacy" (15,000 per minute and 250 per second, older projects).
    gmail_quota: str = "default"

    # Microsoft. Production values by default; the sandbox stands in with its own (and its loopback CA).
    graph_api_url: str = "https://graph.microsoft.com"
    microsoft_login_url: str = "https://login.microsoftonline.com"
    # The app registration of this deployment (Entra ID), for people connecting their own mailbox; app-only
    # connections of a tenant carry their own client id and secret or certificate.
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr | None = None
    # Whose accounts may connect: "organizations" (any work account) or one tenant's id.
    microsoft_tenant: str = "organizations"
    # Only for the sandbox: a CA certificate to trust (its loopback certificate). Production leaves it unset.
    microsoft_ca_file: Path | None = None
    # Push for Microsoft 365: Graph sends change notifications to public_url (which must then be https).
    microsoft_notifications: bool = True

    # Sync: each mailbox at least this often (push makes it sooner); how many at once in one process.
    sync_poll_seconds: float = 300.0
    sync_concurrency: int = 8


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
