"""Settings from the environment (``GONGCHE_*``), the smallest wiring that works."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGCHE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/gongche.db",
        description="SQLAlchemy URL: sqlite:///path (embedded, WAL) or postgresql+psycopg://user@host/db.",
    )
    audit_checkpoint_file: Path = Field(
        default=Path("var/audit-checkpoints.jsonl"),
        description="Where `gongche audit checkpoint` appends the signed chain head; keep it off the database host.",
    )
    audit_key_file: Path = Field(
        default=Path("var/audit.key"),
        description="The HMAC key of the checkpoints (created on first use, mode 0600); or set GONGCHE_AUDIT_KEY.",
    )
    audit_key: str | None = Field(default=None, description="The HMAC key itself, instead of the key file.")
    policy_dir: Path = Field(
        default=Path("policies"),
        description="Folder of per-jurisdiction policy files (*.yaml) overriding the national defaults.",
    )
    usage_audit_file: Path | None = Field(
        default=None,
        description="YAML rules of the usage audit (公车使用监督: thresholds, calendar, geofences) overriding the "
        "shipped fleet/usage_audit.yaml key by key; unset: the shipped rules.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()


def audit_key(settings: Settings | None = None) -> bytes:
    """The checkpoint HMAC key: GONGCHE_AUDIT_KEY, else the key file (made once, readable by its owner only)."""
    settings = settings or get_settings()
    if settings.audit_key:
        return settings.audit_key.encode("utf-8")
    path = settings.audit_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode("utf-8")
