"""Settings from the environment (``GONGCHE_*``), the smallest wiring that works."""

from __future__ import annotations

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
    policy_dir: Path = Field(
        default=Path("policies"),
        description="Folder of per-jurisdiction policy files (*.yaml) overriding the national defaults.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
