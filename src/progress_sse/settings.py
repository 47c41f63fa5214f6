"""One settings object, read from `PROGRESS_SSE_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./progress_sse.db"


def normalize_url(url: str) -> str:
    """Pick the async driver for a plain `postgresql://` or `sqlite:///` URL."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sibling_sqlite_url(url: str, suffix: str = "_app") -> str:
    """`sqlite+aiosqlite:///x/runs.db` -> `sqlite+aiosqlite:///x/runs_app.db`.

    SQLite has one writer per file, so business data lives in its own file
    and a long business transaction never blocks progress writes.
    An in-memory URL has no file to sit beside and is returned unchanged.
    """
    prefix, sep, path = url.partition(":///")
    if not sep or path in ("", ":memory:") or path.startswith(":memory:"):
        return url
    file = Path(path)
    sibling = file.with_name(f"{file.stem}{suffix}{file.suffix or '.db'}")
    return f"{prefix}:///{sibling}"


def split_names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


def split_origins(value: str) -> list[str]:
    return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]


def check_origin(origin: str) -> None:
    """An exact `scheme://host[:port]`; never `*` (credentials or not, we name who may call)."""
    scheme, sep, host = origin.partition("://")
    if origin == "*" or "*" in origin:
        raise ValueError("CORS origins must be listed one by one; '*' is not allowed")
    if not sep or scheme not in ("http", "https") or not host or "/" in host:
        raise ValueError(f"{origin!r} is not an origin; write e.g. https://app.example.com")


class Settings(BaseSettings):
    """Runtime configuration; every field is `PROGRESS_SSE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="PROGRESS_SSE_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, description="the run store: sqlite:///… or postgresql://…"
    )
    # Business data (the job's own tables). Default: a sibling SQLite file on
    # SQLite, the same database on PostgreSQL.
    app_database_url: str | None = Field(
        default=None,
        description="business data; default: a sibling SQLite file, or the same PostgreSQL one",
    )

    # The run store's pool (progress, heartbeats, API reads). Business work has its own
    # pool, so a job's transaction never takes a connection that a heartbeat needs.
    pool_size: int = Field(
        default=10, ge=1, le=1000, description="run-store connections per process"
    )
    max_overflow: int = Field(
        default=10, ge=0, le=1000, description="run-store connections beyond the pool, briefly"
    )
    pool_timeout_s: float = Field(
        default=10.0, gt=0, description="wait this long for a free run-store connection"
    )
    business_pool_size: int | None = Field(
        default=None, ge=1, le=1000,
        description="business connections; default: job_concurrency + 4 (API reads too)",
    )  # fmt: skip
    sqlite_busy_timeout_ms: int = Field(
        default=5000,
        ge=0,
        description="SQLite waits this long for a lock before 'database is locked'",
    )
    store_statement_timeout_s: float = Field(
        default=15.0, gt=0, description="a run-store statement (or lock wait) ends after this"
    )
    business_lock_wait_s: float = Field(
        default=60.0, gt=0, description="a run waits this long for another's locks, then fails"
    )

    host: str = Field(default="127.0.0.1", description="serve's bind address")
    port: int = Field(default=8000, ge=0, le=65535, description="serve's port")
    timeout_request_header_s: float = Field(
        default=10.0, gt=0, description="a connection whose request is incomplete is closed"
    )
    timeout_request_body_s: float = Field(
        default=60.0, gt=0, description="a request body must have arrived in full by then"
    )
    timeout_keep_alive_s: float = Field(
        default=5.0, gt=0, description="an idle keep-alive connection is closed"
    )
    max_connections: int | None = Field(
        default=None, ge=16, description="per process; default: the open-file limit minus 64"
    )

    ping_interval_s: float = Field(
        default=15.0, gt=0, description="a quiet stream gets a keep-alive comment this often"
    )
    gc_freeze: bool = Field(
        default=True, description="move start-up objects out of the garbage collector's scans"
    )
    retry_ms: int = Field(
        default=3000, ge=0, description="the SSE `retry:` a browser waits before reconnecting"
    )
    client_buffer: int = Field(
        default=256,
        ge=4,
        le=100_000,
        description="events buffered per slow watcher before it catches up from the table",
    )
    replay_page: int = Field(
        default=500, ge=1, le=10_000, description="events per read when a reconnect replays"
    )

    progress_interval_s: float = Field(
        default=0.1,
        ge=0,
        description="at most one progress write per run this often (step changes included)",
    )
    group_commit: bool = Field(
        default=True,
        description="one transaction for all of a process's progress writes ready at once",
    )
    heartbeat_interval_s: float = Field(
        default=5.0, gt=0, description="a running run's row is touched at least this often"
    )
    stale_after_s: float = Field(
        default=300.0, gt=0, description="a running run silent this long is failed as stale"
    )
    sweep_interval_s: float = Field(
        default=30.0, gt=0, description="how often every process looks for stale runs"
    )
    listen_probe_s: float = Field(default=2.0, gt=0, description="LISTEN connection probe")
    retention_days: int = Field(default=90, ge=0, description="0 keeps finished runs forever")
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="how often finished runs past retention are deleted"
    )
    run_jobs: bool = Field(
        default=True, description="this process runs jobs (serve --no-jobs turns it off)"
    )
    job_concurrency: int = Field(
        default=8, ge=1, le=1000, description="runs executed at once by this process"
    )
    shutdown_grace_s: float = Field(default=20.0, ge=0, description="running jobs may finish")
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="the runner looks for pending runs at least this often"
    )
    # Job kinds beyond the installed packages' (entry-point group `progress_sse.jobs`).
    jobs: str = Field(
        default="", description="comma-separated `module:attribute` naming job kinds or plugins"
    )
    disable_plugins: str = Field(
        default="", description="comma-separated entry-point names not to load (e.g. accounting)"
    )

    session_secret: str | None = Field(
        default=None, description="signs browser sessions; set it when several processes serve"
    )
    session_ttl_s: int = Field(
        default=8 * 3600, ge=60, description="a browser session lasts this long"
    )
    cookie_secure: bool | None = Field(default=None, description="None: Secure over HTTPS")
    cors_origins: str = Field(
        default="", description="comma-separated origins allowed to call the API; empty: none"
    )
    redis_url: str | None = Field(
        default=None, description="redis://... shares rate limits and stream caps"
    )
    redis_key_prefix: str = Field(
        default="pss",
        min_length=1,
        max_length=64,
        description="the prefix of every Redis key this service writes",
    )
    # "N/second|minute|hour" per API key (sign-in: per client address); "" turns one off.
    rate_limit_requests: str = Field(
        default="1200/minute", description="API requests per key; '' turns it off"
    )
    rate_limit_starts: str = Field(default="20/minute", description="runs started per key")
    rate_limit_sign_in: str = Field(default="20/minute", description="sign-ins per client address")
    rate_limit_failed_auth: str = Field(
        default="30/minute", description="failed keys and sessions, per client address"
    )
    max_streams_per_key: int = Field(
        default=100, ge=1, description="open event streams per API key or session"
    )
    max_streams_per_tenant: int = Field(
        default=1000, ge=1, description="open event streams per tenant"
    )
    stream_lease_s: float = Field(default=60.0, gt=1, description="Redis stream-slot lease")
    max_body_bytes: int = Field(default=64 * 1024, ge=256, description="a JSON request body")
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, description="headers + URL")
    max_import_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="an uploaded CSV")
    # Webhooks: retries with exponential backoff and jitter, then dead letters.
    webhook_delivery: bool = Field(default=True, description="this process delivers webhooks")
    webhook_attempts: int = Field(default=4, ge=1, le=20, description="first try + retries")
    webhook_backoff_s: float = Field(default=2.0, ge=0, description="waits: 2, 4, 8 s ...")
    webhook_max_backoff_s: float = Field(
        default=60.0, ge=0, description="the longest wait between retries"
    )
    webhook_jitter_s: float = Field(default=1.0, ge=0, description="random extra wait per retry")
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="per request")
    webhook_allow_private: bool = Field(
        default=False, description="allow loopback/private webhook targets (SSRF guard off)"
    )
    webhook_poll_interval_s: float = Field(
        default=1.0, gt=0, description="how often a process looks for due notifications"
    )
    webhook_retention_days: int = Field(
        default=30, ge=0, description="delivered and retried-dead notifications kept this long"
    )
    # Mail (docs/mail.md): outcome emails through the same outbox; off without a host.
    smtp_host: str | None = Field(
        default=None, description="the SMTP server; unset: no mail is queued or sent"
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="the SMTP server's port")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (required, port 587), tls (implicit, port 465) or none",
    )
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user")
    smtp_password: SecretStr | None = Field(
        default=None, description="SMTP AUTH password (never logged or shown)"
    )
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="per SMTP conversation step")
    mail_from: str | None = Field(
        default=None, description="the sender address (required with SMTP_HOST)"
    )
    public_url: str | None = Field(
        default=None,
        description="how people reach this service (https://progress.example.com): mail links",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json (one object per line)"
    )

    @field_validator(
        "rate_limit_requests", "rate_limit_starts", "rate_limit_sign_in", "rate_limit_failed_auth"
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit; write e.g. '20/minute' or '5/second'"
                ) from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in split_origins(value):
            check_origin(origin)
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return split_origins(self.cors_origins)

    @field_validator("jobs")
    @classmethod
    def _job_specs(cls, value: str) -> str:
        for spec in split_names(value):
            module, sep, attribute = spec.partition(":")
            if not sep or not module or not attribute:
                raise ValueError(f"{spec!r} is not `module:attribute` (e.g. my_jobs.sync:KINDS)")
        return value

    @property
    def job_specs(self) -> list[str]:
        return split_names(self.jobs)

    @property
    def disabled_plugins(self) -> set[str]:
        return set(split_names(self.disable_plugins))

    @field_validator("database_url", "app_database_url")
    @classmethod
    def _normalize(cls, value: str | None) -> str | None:
        return normalize_url(value) if value else value

    @model_validator(mode="after")
    def _default_app_database(self) -> Settings:
        if not self.app_database_url:
            self.app_database_url = (
                sibling_sqlite_url(self.database_url)
                if is_sqlite(self.database_url)
                else self.database_url
            )
        return self

    @model_validator(mode="after")
    def _business_pool_fits(self) -> Settings:
        problem = self.pool_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    @field_validator("smtp_host", "smtp_username", "mail_from", "public_url")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """Unset when empty; these reach SMTP commands and mail headers, so one line only."""
        value = (value or "").strip()
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("must be one line without control characters")
        return value or None

    @model_validator(mode="after")
    def _mail_fits(self) -> Settings:
        problem = self.mail_problem()
        if problem is not None:
            raise ValueError(problem)
        return self

    def mail_problem(self) -> str | None:
        """Why the mail settings cannot work together, or None."""
        if self.smtp_host and not self.mail_from:
            return "PROGRESS_SSE_SMTP_HOST needs PROGRESS_SSE_MAIL_FROM (the sender address)"
        if self.mail_from and (self.mail_from.count("@") != 1 or " " in self.mail_from):
            return "PROGRESS_SSE_MAIL_FROM must be one address, like progress@example.com"
        if bool(self.smtp_username) != bool(self.smtp_password):
            return "PROGRESS_SSE_SMTP_USERNAME and PROGRESS_SSE_SMTP_PASSWORD go together"
        if self.smtp_username and self.smtp_security == "none":
            return "SMTP credentials are never sent in clear: set PROGRESS_SSE_SMTP_SECURITY"
        if self.public_url and not self.public_url.startswith(("http://", "https://")):
            return "PROGRESS_SSE_PUBLIC_URL must start with http:// or https://"
        return None

    @property
    def mail_enabled(self) -> bool:
        return self.smtp_host is not None

    @property
    def link_base(self) -> str:
        """Where links in mail point: the public URL, else where `serve` answers."""
        return (self.public_url or self.served_url).rstrip("/")

    @property
    def served_url(self) -> str:
        """Where `serve` answers, as a URL to paste: `http://[::1]:8000` for an IPv6 host."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def pool_problem(self) -> str | None:
        """Why the business pool cannot serve the concurrency (it is too small), or None."""
        if self.business_pool_size is None or self.business_pool_size >= self.job_concurrency:
            return None
        return (
            f"PROGRESS_SSE_BUSINESS_POOL_SIZE={self.business_pool_size} cannot serve "
            f"PROGRESS_SSE_JOB_CONCURRENCY={self.job_concurrency}: each running job holds "
            "one business connection for its transaction. Raise the pool, lower the "
            "concurrency, or leave the pool unset (it is then sized from the concurrency)."
        )

    @property
    def business_pool(self) -> int:
        """Connections for business work: one per concurrent job, and some for API reads."""
        return self.business_pool_size or self.job_concurrency + 4

    @property
    def business_url(self) -> str:
        assert self.app_database_url is not None  # set by the validator
        return self.app_database_url
