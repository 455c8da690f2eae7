"""Schema migrations (alembic), callable from code and from ``gongche db upgrade``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (default: the newest)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def grant_application_role(engine: Engine, role: str) -> None:
    """PostgreSQL: the API's role may read and append to the audit log and nothing more (no UPDATE, DELETE,
    TRUNCATE), on top of the triggers; it reads and writes the other tables."""
    quoted = engine.dialect.identifier_preparer.quote(role)
    with engine.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if exists is None:
            conn.execute(text(f"CREATE ROLE {quoted} LOGIN"))
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        on = engine.dialect.identifier_preparer.quote(schema)
        conn.execute(text(f"GRANT USAGE ON SCHEMA {on} TO {quoted}"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {on} TO {quoted}"))
        conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {on} TO {quoted}"))
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {on}.audit_log FROM {quoted}"))
        conn.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {on}.alembic_version FROM {quoted}"))
