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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
