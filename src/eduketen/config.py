"""Settings: one pydantic-settings class, every variable prefixed EDUKETEN_.

Build it once (``Settings()``) and pass it on; nothing here is read at import time.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["toetsaanbieder", "las", "register"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EDUKETEN_", env_file=None, extra="ignore")

    # Storage. SQLite file by default; postgresql://... for production.
    database_url: str = "sqlite:///var/eduketen.db"

    # Which roles this installation plays.
    roles: list[Role] = Field(default_factory=lambda: ["toetsaanbieder"])

    # The OIN of the organisation running this installation (for a test supplier: its own
    # supplier OIN). Its toetssysteem must be mandated by each school ("this receiving test
    # system has a valid mandate").
    own_oin: str | None = None

    # Credential for the admin JSON API (Authorization: Bearer ...). None disables the admin API.
    admin_token: str | None = None

    # Proxies whose Client-Cert header (RFC 9440) is trusted. Addresses or networks.
    trusted_proxies: list[str] = Field(default_factory=list)

    # Largest accepted request body in bytes (a 300-pupil list is about 110 KB).
    max_body_bytes: int = 2_000_000

    # Seconds that mandate and school look-ups are cached per process.
    register_cache_seconds: float = 5.0

    # Where mandates, schools and endpoints come from: this installation's own register
    # ("embedded") or a remote OSR-compatible API ("remote", HTTPS with our client certificate).
    register_source: Literal["embedded", "remote"] = "embedded"
    register_url: str | None = None  # e.g. https://osr.example/osr/api/v2
    register_client_cert: str | None = None
    register_client_key: str | None = None
    register_ca: str | None = None  # CA bundle for the register's server certificate
    register_timeout_seconds: float = 5.0
    # When the remote register is down, cached answers stay usable this much longer.
    register_grace_seconds: float = 300.0

    # The OSR-compatible API this installation serves (role "register"): reads per caller.
    osr_read_rate: float = 20.0  # sustained requests per second per caller OIN
    osr_read_burst: int = 40

    # Worker: messages claimed per round, lease time, poll interval, attempts before failing.
    worker_batch: int = 50
    worker_lease_seconds: float = 60.0
    worker_poll_seconds: float = 0.2
    worker_max_attempts: int = 5
    # Priority for the API: while it is busy (worker_yield_arrivals messages or more arrived
    # within worker_yield_seconds) the worker waits, so 202s are not held up by processing;
    # worker_yield_seconds 0 turns it off. Once the oldest waiting message is
    # worker_max_lag_seconds old it processes anyway, round after round, until the oldest
    # waiting message is younger than half of that (a steady flow is kept up with).
    worker_yield_seconds: float = 0.25
    worker_yield_arrivals: int = 10
    worker_max_lag_seconds: float = 10.0
    # How often the worker looks at its periodic tasks (reminders before chain-test periods, ...).
    periodic_seconds: float = 3600.0
    # Run the worker inside `eduketen serve` (embedded default).
    embedded_worker: bool = True

    # Inbox group commit: most messages per transaction, longest wait for company (ms). With no
    # wait a batch is whatever arrived while the previous one was being written: under load that
    # is already several, and an idle writer does not hold the first one back.
    inbox_batch_max: int = 256
    inbox_batch_wait_ms: float = 0.0
    # `serve`: how long a thread may keep the interpreter lock while another waits for it (ms;
    # Python's default is 5). See cli._serve_here.
    serve_switch_interval_ms: float = 1.0

    # Outgoing calls to peers (results to a LAS, lists to a test supplier, report fetches):
    # our client certificate and the CA bundle that peers' server certificates chain to.
    client_cert: str | None = None
    client_key: str | None = None
    peer_ca: str | None = None
    outbox_concurrency: int = 16
    outbox_timeout_seconds: float = 10.0
    outbox_max_attempts: int = 12
    outbox_backoff_base_seconds: float = 1.0
    outbox_backoff_max_seconds: float = 300.0
    # How long a claimed outgoing message stays with its deliverer; a killed one's come back after it.
    outbox_lease_seconds: float = 120.0
    # Where this installation is reached by peers (report links travel in aanvullendeinfo).
    public_url: str = "https://localhost:8443"
    # Files: pupil reports (PDF) made or fetched.
    data_dir: str = "var/data"

    # GET /metrics (Prometheus): with a token set, only ``Authorization: Bearer <token>``; without
    # one, only direct (not proxied) callers from these networks. Anyone else gets 404.
    metrics_token: str | None = None
    metrics_allow: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])

    # Failed authentication (401 answers) per client: sustained per second and burst; then 429.
    # A burst of 0 switches the limit off.
    auth_failure_rate: float = 5.0
    auth_failure_burst: int = 200

    # Retention: pupil data of this many school years is kept (the current one included);
    # `eduketen privacy purge` deletes older years.
    retention_school_years: int = 2

    # OAuth2 (Edu-V M2M profile): this installation's authorization server and resource servers.
    # The issuer (``iss`` of our access tokens) and the audience client assertions must name;
    # both default to ``public_url``. The token endpoint is ``<issuer>/oauth/token``.
    oauth_issuer: str | None = None
    # Audience of the access tokens our resource endpoints accept (``aud``); default ``public_url``.
    oauth_resource_audience: str | None = None
    oauth_token_seconds: int = 300  # lifetime of an access token
    oauth_assertion_max_seconds: int = 300  # longest exp - iat of a client assertion
    oauth_leeway_seconds: int = 30  # clock skew tolerated on exp/nbf/iat
    # A new signing key is published this long before it signs (so caches of our JWKS have it).
    oauth_key_publish_seconds: int = 300
    # JWKS of clients (jwks_uri) and of an external authorization server: cache and fetch limits.
    oauth_jwks_cache_seconds: float = 300.0
    oauth_jwks_refetch_seconds: float = 10.0  # an unknown kid refetches at most this often
    oauth_jwks_timeout_seconds: float = 3.0
    oauth_jwks_ca: str | None = None  # CA bundle for jwks_uri servers (default: system store)
    # An external authorization server whose access tokens our resource endpoints also accept.
    oauth_external_issuer: str | None = None
    oauth_external_jwks_uri: str | None = None
    # Which system of ``own_oin`` receives results posted to /toetsresultaten (consent is
    # between the sender's system and this one).
    results_system: str = "Resultatenadministratie"
    # Staff pages (insight/): session length; cookies are Secure, HttpOnly, SameSite=Strict.
    staff_session_seconds: int = 8 * 3600

    # Learning progress (leervoortgang/): the system of ``own_oin`` that receives progress records
    # (consent "progress-api" is between the sender's system and this one), the largest bulk body.
    progress_system: str = "Leermiddelendashboard"
    progress_bulk_max_bytes: int = 16_000_000
    # The worker's progress maintenance: how often it looks for dirty aggregate cells (the pages'
    # data is at most about this many seconds plus one round behind ingest), cells per round, and
    # how many months ahead the PostgreSQL partitions of progress_record are created.
    progress_aggregate_poll_seconds: float = 2.0
    progress_aggregate_batch: int = 5_000  # cells per round (read, then one short write transaction)
    progress_partitions_ahead: int = 3
    # Group-context signals (the mentor's pages): thresholds, not magic numbers.
    progress_period_days: int = 42  # the period the group view looks at, ending today
    progress_recent_days: int = 14  # "recent" for the drop against the pupil's own history
    progress_z_high: float = 2.0  # robust z of practice above which a pupil "practises much more"
    progress_much_factor: float = 1.5  # ... and at least this many times the group median (a tight group has a tiny MAD)
    progress_low_percentile: float = 20.0  # score percentile at or below which a pupil "scores among the lowest"
    progress_hardly_fraction: float = 0.35  # units below this fraction of the group median: "hardly practises"
    progress_abandon_rate: float = 0.30  # share of units abandoned from which a pupil "often abandons"
    progress_abandon_min: int = 3  # ... and at least this many abandoned units
    progress_drop_points: float = 20.0  # recent mean score this many points under the pupil's own earlier mean
    progress_drop_min_records: int = 3  # scored records needed on both sides of the drop

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for item in value:
            ipaddress.ip_network(item, strict=False)
        return value

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @property
    def issuer(self) -> str:
        return (self.oauth_issuer or self.public_url).rstrip("/")

    @property
    def resource_audience(self) -> str:
        return (self.oauth_resource_audience or self.public_url).rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        raw = self.database_url.split(":///", 1)[1] if ":///" in self.database_url else ""
        return Path(raw) if raw and raw != ":memory:" else None
