"""Settings from the environment (``GONGCHE_*``), the smallest wiring that works."""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

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
        description="The audit key: MACs of records and checkpoints (created on first use, mode 0600); or set "
        "GONGCHE_AUDIT_KEY.",
    )
    audit_key: str | None = Field(default=None, description="The HMAC key itself, instead of the key file.")
    audit_checkpoint_every_records: int = Field(
        default=1000, ge=0,
        description="A commit checkpoints the chain head once this many records were appended since the last "
        "checkpoint (0: never by count).",
    )
    audit_checkpoint_every_minutes: float = Field(
        default=10, ge=0,
        description="A commit checkpoints the chain head once the last checkpoint is this old (0: never by age).",
    )
    policy_dir: Path = Field(
        default=Path("policies"),
        description="Folder of per-jurisdiction policy files (*.yaml) overriding the national defaults.",
    )
    usage_audit_file: Path | None = Field(
        default=None,
        description="YAML rules of the usage audit (公车使用监督: thresholds, calendar, geofences) overriding the "
        "shipped fleet/usage_audit.yaml key by key; unset: the shipped rules.",
    )

    token_days: int = Field(
        default=90, ge=1, le=3650,
        description="Days an API bearer token works after `gongche users add` or `gongche users rotate` issues it.",
    )

    # --- Signing in with a password (issue 13) ---
    session_hours: float = Field(
        default=12, gt=0, le=24 * 30,
        description="Hours a browser session works after its sign-in, however busy it is; then the user signs in "
        "again.",
    )
    session_idle_minutes: float = Field(
        default=0, ge=0, le=24 * 60,
        description="A browser session unused this long ends (0: no idle timeout, only session_hours).",
    )
    sign_in_failures_per_name: int = Field(
        default=5, ge=1, le=1000,
        description="Failed sign-ins for one user name, with no quiet spell of sign_in_window_minutes between "
        "them, after which that name's sign-ins are refused (429) for a while.",
    )
    sign_in_failures_per_client: int = Field(
        default=20, ge=1, le=100000,
        description="The same for one client address, whatever names it tries; higher than per name because an "
        "office's browsers may all reach the server from one address.",
    )
    sign_in_window_minutes: float = Field(
        default=15, gt=0, le=24 * 60,
        description="Failures are counted until a quiet spell this long (no failure, no slowdown in force); it is "
        "also the longest slowdown.",
    )
    sign_in_slowdown_seconds: int = Field(
        default=30, ge=1, le=3600,
        description="The first slowdown; each further failure doubles it, up to sign_in_window_minutes.",
    )

    # --- Waiting for the database under load (issue 12) ---
    db_wait_seconds: float = Field(
        default=10.0, gt=0, le=300,
        description="The longest a request waits for its turn at the database: a connection slot, a pooled "
        "connection, or (SQLite) its place in the process's write queue. Past it the API answers 503 with "
        "Retry-After.",
    )
    db_retry_after_seconds: int = Field(
        default=1, ge=0, le=3600, description="The Retry-After of a 503 the database's load causes.")
    db_pool_size: int = Field(
        default=5, ge=1, le=1000, description="Connections each process keeps open (SQLAlchemy pool_size).")
    db_max_overflow: int = Field(
        default=10, ge=0, le=1000,
        description="Connections opened beyond db_pool_size under load. The API admits at most "
        "db_pool_size + db_max_overflow requests to the database at once; the others wait (db_wait_seconds).",
    )

    db_heavy_reads: int = Field(
        default=0, ge=0, le=1000,
        description="Heavy reads (the usage audit over a period, the annual report, the audit chain's "
        "verification, exports, statements) served at once by each process; the rest of the pool stays for the "
        "day's work. 0: a quarter of db_pool_size + db_max_overflow, at least one.",
    )

    # --- The dispatch engine (issue 12) ---
    engine_processes: int = Field(
        default=1, ge=0, le=64,
        description="Worker processes that run the dispatch engine's batch search (its search holds Python's GIL "
        "for seconds, which would stall every request of the server it ran in); 0 runs it in the calling process.",
    )
    engine_search_processes: int = Field(
        default=0, ge=0, le=64,
        description="Processes each batch search may run its parts in (the engine's own parallel search); 0: every "
        "core the worker may use. On a server that must stay responsive during a run, leave one core to requests.",
    )
    live_day: bool = Field(
        default=True,
        description="Keep each running day's network in the server process for urgent placement (`fleet.live_day`), "
        "updated from the audit log before every placement; off, every placement reads and builds the day afresh.",
    )
    live_day_keep_seconds: float = Field(
        default=2.0, ge=0, le=3600,
        description="How often the server brings its live days up to date off the request path (and builds today's "
        "at start, so the first emergency after a restart does not wait for it); 0: only placements do.",
    )

    # --- What counts as "now" for a time a user enters (issue 14) ---
    clock_grace_minutes: float = Field(
        default=15, ge=0, le=24 * 60,
        description="How long ago a driver's start or completion time (and a booking's latest pickup) may be and "
        "still count as now: a driver taps start after loading the passengers or once back in signal. Anything "
        "older is a back-fill (补录): a dispatcher's, with a reason.",
    )
    clock_skew_minutes: float = Field(
        default=2, ge=0, le=60,
        description="How far ahead of the server's clock a time may be: a phone's clock runs a little fast. "
        "Nothing later than this is accepted, back-filled or not.",
    )

    # --- The console's map (issue 13) ---
    map_tiles: str | None = Field(
        default=None, max_length=500, pattern=r"^(https?://|/)\S*\{z\}\S*$",
        description="A raster tile URL template with {z}, {x} and {y} ({s} is not supported): 天地图 or an intranet "
        "tile server. The browser fetches it: on an offline intranet it must be a server the browsers reach.",
    )
    map_pmtiles: Path | None = Field(
        default=None,
        description="A local PMTiles archive (raster or vector) the app serves itself at /api/v1/map/tiles.pmtiles; "
        "used when map_tiles is unset.",
    )
    map_crs: Literal["wgs84", "gcj02"] = Field(
        default="wgs84",
        description="The datum of the tiles: gcj02 for AMap's or Tencent's; the console then shifts the API's WGS-84 "
        "coordinates for display only.",
    )
    map_attribution: str = Field(default="", max_length=200, description="The tiles' attribution, shown on the map.")
    map_max_zoom: int = Field(default=18, ge=1, le=22, description="The deepest zoom the tiles have.")

    # --- One ledger for trips (issue 14: fleet.accounting) ---
    driver_cost_cny_per_hour: Decimal = Field(
        default=Decimal(50), ge=0, le=10000, max_digits=8, decimal_places=2,
        description="What an hour of a driver's time costs the agency that booked the trip (统一核算): charged for "
        "the hours an assignment with a driver holds it. 50 CNY/h by default, about a driver's wage with its "
        "social contributions.",
    )


    # --- Telematics: JT/T 808 and OsmAnd ingest (issue 15) ---
    ingest_host: str = Field(
        default="127.0.0.1", max_length=100,
        description="Interface the ingest listeners bind: 0.0.0.0 where terminals reach the server over the "
        "network.",
    )
    jt808_port: int = Field(
        default=5015, ge=0, le=65535,
        description="TCP port of the JT/T 808 listener (5015 is Traccar's for the protocol); 0: not started.")
    osmand_port: int = Field(
        default=5055, ge=0, le=65535,
        description="HTTP port of the OsmAnd / Traccar Client listener, at / as Traccar's; 0: not started.")
    jt808_heartbeat_seconds: float = Field(
        default=60, gt=0, le=3600,
        description="The terminals' heartbeat interval (JT/T 808 parameter 0x0001): a session with nothing from "
        "its terminal for jt808_missed_heartbeats of these ends.",
    )
    jt808_missed_heartbeats: int = Field(
        default=3, ge=1, le=100, description="Heartbeats missed in a row after which a session ends.")
    ingest_max_connections: int = Field(
        default=10000, ge=1, le=1_000_000,
        description="Most connections each ingest listener of one process holds: beyond it a new JT/T 808 "
        "connection is closed at once and an HTTP request answered 503 (a crowd of idle sockets must not take the "
        "process's memory and file descriptors).")
    telematics_batch_max: int = Field(
        default=2000, ge=1, le=100000,
        description="Most fixes written in one commit (group commit): whatever arrived while the previous commit "
        "was on its way to disk goes in the next, up to this many.",
    )
    telematics_queue_max: int = Field(
        default=50000, ge=100, le=10_000_000,
        description="Fixes waiting for the disk beyond which the listeners stop reading (back-pressure: a terminal "
        "then waits for its answer and resends, nothing is dropped).",
    )
    telematics_raw_retention_days: float = Field(
        default=30, ge=0, le=3650,
        description="Days the raw frames are kept beside the decoded fixes, for disputes; 0: not kept at all.")


@lru_cache
def get_settings() -> Settings:
    return Settings()


def audit_key(settings: Settings | None = None) -> bytes:
    """The audit key (record MACs, checkpoint HMACs): GONGCHE_AUDIT_KEY, else the key file (made once, 0600)."""
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
