"""OmniHub settings: ``OMNIHUB_*`` environment variables over an optional TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from omnihub.config._files import private_dir
from omnihub.config._urls import BackendKind, parse_backend_url
from omnihub.errors import ConfigurationError

DEFAULT_HOME = Path("~/.omnihub")

_SQL: tuple[BackendKind, ...] = ("sqlite", "postgresql")
_KV: tuple[BackendKind, ...] = ("memory", "redis")
# Every URL setting and the backend kinds it accepts.
_URL_KINDS: dict[str, tuple[BackendKind, ...]] = {
    "event_store_url": _SQL,
    "tools_database_url": _SQL,
    "api_keys_url": _SQL,
    "api_idempotency_url": _SQL,
    "api_nonces_url": _KV,
    "api_rate_limit_url": _KV,
    "api_sessions_url": ("sqlite", "postgresql", "redis"),
    "api_throttle_url": _KV,
    "api_redis_url": ("redis",),
    "cache_url": ("sqlite", "memory", "redis"),
    "cache_redis_url": ("redis",),
}
CONFIG_FILE_ENV = "OMNIHUB_CONFIG_FILE"


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by ``OMNIHUB_CONFIG_FILE`` or ``$OMNIHUB_HOME/config.toml``.

    The path is resolved when settings are built, not at import time, so a test or an entry
    point can point it elsewhere through the environment.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        explicit = os.environ.get(CONFIG_FILE_ENV)
        home = Path(os.environ.get("OMNIHUB_HOME", str(DEFAULT_HOME))).expanduser()
        self._path = Path(explicit).expanduser() if explicit else home / "config.toml"
        self._explicit = explicit is not None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        if not self._path.is_file():
            if self._explicit:
                raise ConfigurationError(f"configuration file {self._path} does not exist")
            return {}
        try:
            with self._path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read configuration file {self._path}: {exc}") from exc
        # Accept both a flat file and one with an [omnihub] table.
        section = data.get("omnihub", data)
        if not isinstance(section, dict):
            raise ConfigurationError(f"{self._path}: [omnihub] must be a table")
        return section


class Settings(BaseSettings):
    """Every OmniHub setting. Build one with :func:`load_settings` at an entry point.

    Priority, highest first: keyword arguments, ``OMNIHUB_*`` environment variables, the TOML
    configuration file, the defaults below.
    """

    model_config = SettingsConfigDict(
        env_prefix="OMNIHUB_",
        extra="forbid",
        frozen=True,
        validate_default=True,
        # URLs may carry passwords: a validation error must not echo them.
        hide_input_in_errors=True,
    )

    home: Path = Field(
        DEFAULT_HOME,
        description="Directory for embedded data (SQLite files, "
        "the Temporal dev server database, keys).",
    )
    event_store_url: str | None = Field(
        None,
        description="Event store URL: sqlite:///PATH or postgresql://... "
        "(default: sqlite under home).",
    )
    tenant_id: str = Field("default", description="Tenant used by the CLI when none is given.")
    max_payload_bytes: int = Field(
        256 * 1024, gt=0, description="Largest accepted event payload, in bytes of JSON."
    )
    # Input limits (apisec): shared by API, console, CLI and the goal service (config.InputLimits).
    input_max_depth: int = Field(
        32, ge=1, le=64, description="Deepest nesting accepted in a goal's context or plan."
    )
    input_max_plan_steps: int = Field(
        256, gt=0, description="Most steps accepted in an explicit plan."
    )

    # Orchestration (Temporal).
    temporal_address: str | None = Field(
        None,
        description="host:port of a Temporal cluster; unset starts an embedded dev server.",
    )
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_tls: bool = Field(False, description="Use TLS to reach the Temporal cluster.")
    temporal_api_key: SecretStr | None = Field(None, description="API key for Temporal Cloud.")
    task_queue: str = Field("omnihub", description="Temporal task queue of the workers.")
    temporal_tls_ca_file: Path | None = Field(
        None, description="CA certificate (PEM) that signs the Temporal server's certificate."
    )
    temporal_tls_cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for mutual TLS to Temporal."
    )
    temporal_tls_key_file: Path | None = Field(
        None, description="Client private key (PEM) for mutual TLS to Temporal."
    )
    codec_keys: SecretStr | None = Field(
        None,
        description="AES-256 keys of the Temporal payload codec, 'id:base64,...': the last "
        "encrypts, every one decrypts (overrides codec_key_file).",
    )
    codec_key_file: Path | None = Field(
        None,
        description="File (mode 0600) of codec keys, one 'id:base64' a line, newest last "
        "(default: home/codec.keys, generated on first start).",
    )
    worker_max_concurrent_activities: int = Field(
        100, gt=0, description="Activities one worker runs at once."
    )
    worker_max_concurrent_workflow_tasks: int = Field(
        100, gt=0, description="Workflow tasks one worker runs at once."
    )
    worker_graceful_shutdown_s: float = Field(
        30.0,
        ge=0,
        description="Seconds a stopping worker (SIGTERM) lets running activities finish before "
        "cancelling them; keep it below the deployment's grace period.",
    )

    # Sagas.
    saga_max_parallel_steps: int = Field(
        4, gt=0, description="Ready steps of one goal that run at the same time."
    )
    saga_workflow_task_timeout_s: float = Field(
        5.0,
        ge=1,
        le=120,
        description="Seconds a worker may hold a goal's workflow task; after a worker crash "
        "its goals move to another worker after this long (Temporal's default is 10).",
    )
    saga_approval_timeout_s: float = Field(
        86400.0, gt=0, description="Seconds an approval may wait before it counts as rejected."
    )
    saga_continue_as_new_steps: int = Field(
        200, gt=0, description="Steps one workflow run executes before it continues as new."
    )
    saga_goal_deadline_s: float | None = Field(
        None,
        gt=0,
        description="Seconds a goal may run before it is cancelled and compensated "
        "(default: no deadline; a goal's own deadline_s takes precedence).",
    )

    # Built-in tools.
    tools_database_url: str | None = Field(
        None,
        description="SQL database the database_* tools act on: sqlite:///PATH or "
        "postgresql://... (default: the event store's database).",
    )
    tools_allowed_tables: list[str] = Field(
        default_factory=list, description="Tables the database_* tools may touch."
    )
    http_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts http_request may reach even when they resolve to loopback, "
        "private, link-local or metadata addresses.",
    )
    http_timeout_s: float = Field(10.0, gt=0, description="Timeout of one http_request call.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server of send_email.")
    smtp_port: int = Field(25, gt=0, lt=65536, description="SMTP port of send_email.")
    smtp_from: str = Field("omnihub@localhost", description="Sender address of send_email.")
    smtp_username: str | None = Field(None, description="SMTP login of send_email.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password of send_email.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")

    log_level: str = Field("WARNING", description="Python logging level.")
    # Observability (traces are configured by the standard OTEL_* variables instead).
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as readable text, or one JSON object per line."
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="Address a worker serves its Prometheus metrics on."
    )
    worker_metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of a worker's Prometheus /metrics (off if unset)."
    )
    temporal_metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of the Temporal SDK's own Prometheus metrics in a worker (off if unset).",
    )

    # HTTP API (omnihub serve / omnihub up).
    api_host: str = Field("127.0.0.1", description="Address the HTTP API binds to.")
    api_port: int = Field(8700, ge=0, le=65535, description="Port of the HTTP API.")
    api_keys_url: str | None = Field(
        None,
        description="API key store: sqlite:///PATH or postgresql://... "
        "(default: sqlite under home, api.db).",
    )
    api_keys_secret: SecretStr | None = Field(
        None,
        description="Key that encrypts the stored request-signing secrets (AES-256-GCM): "
        "32 bytes as URL-safe base64. Every API process sharing a key store needs the same "
        "one (default: read from api_keys_secret_file).",
    )
    api_keys_secret_file: Path | None = Field(
        None,
        description="File holding api_keys_secret, created 0600 with a random key when "
        "missing (default: home/api-keys.key).",
    )
    api_idempotency_url: str | None = Field(
        None,
        description="Idempotency-Key records: sqlite:///PATH or postgresql://... "
        "(default: the API key store's URL).",
    )
    api_nonces_url: str | None = Field(
        None,
        description="Seen signature nonces: memory:// or redis(s)://... "
        "(default: api_redis_url, else memory://).",
    )
    api_rate_limit_url: str | None = Field(
        None,
        description="Rate-limit buckets: memory:// or redis(s)://... "
        "(default: api_redis_url, else memory://).",
    )
    api_sessions_url: str | None = Field(
        None,
        description="Console sessions: sqlite:///PATH, postgresql://... or redis(s)://... "
        "(default: the API key store's URL).",
    )
    api_throttle_url: str | None = Field(
        None,
        description="Failed sign-ins per client address: memory:// or redis(s)://... "
        "(default: api_redis_url, else memory://).",
    )
    api_redis_url: str | None = Field(
        None,
        description="Shorthand: one Redis (redis(s)://...) for rate limits, signature nonces "
        "and the failed-sign-in throttle, shared by several API processes; unset keeps them "
        "in memory.",
    )
    api_rate_limit_per_second: float = Field(
        20.0, gt=0, description="Requests per second each tenant may make (token refill rate)."
    )
    api_rate_limit_burst: int = Field(
        100, gt=0, description="Largest burst of requests per tenant (token bucket size)."
    )
    api_max_body_bytes: int = Field(
        1024 * 1024, gt=0, description="Largest accepted HTTP request body, in bytes."
    )
    api_signature_skew_seconds: int = Field(
        300, gt=0, description="Accepted clock skew of a signed request's timestamp, in seconds."
    )
    # API boundary security (apisec): per-key rate limits, auth throttling, metrics exposure.
    api_rate_limit_key_share: float = Field(
        0.5,
        gt=0.01,
        le=1,
        description="Share of its tenant's request rate and burst one API key may use.",
    )
    api_auth_free_failures: int = Field(
        5, ge=0, description="Failed sign-ins per client address before backoff starts."
    )
    api_metrics_public: bool = Field(
        False, description="Serve /metrics without a key (else it needs an admin key)."
    )
    api_metrics_tenant_labels: bool = Field(
        False, description="Label request and rate-limit metrics with tenant ids."
    )

    # Planning (LLM providers, playbooks, ledger and budgets).
    planner: Literal["auto", "playbook", "openai", "anthropic"] = Field(
        "auto",
        description="Planner used on a cache miss; auto = openai when llm_base_url is set, "
        "else the offline playbook planner.",
    )
    llm_base_url: str | None = Field(
        None, description="Base URL of the LLM API (OpenAI-compatible .../v1, or Anthropic's)."
    )
    llm_api_key: SecretStr | None = Field(None, description="API key sent to the LLM provider.")
    llm_model: str | None = Field(None, description="Model name sent to the LLM provider.")
    llm_structured_output: Literal["auto", "json_schema", "tools"] = Field(
        "auto",
        description="OpenAI-compatible output mode; auto tries a JSON Schema response format "
        "and falls back to tool calling when the server rejects it.",
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="Timeout of one LLM HTTP request.")
    llm_max_retries: int = Field(
        4, ge=0, description="Retries of one LLM call after 429, 5xx or a timeout."
    )
    llm_backoff_initial_s: float = Field(
        0.5, ge=0, description="First retry delay; doubles per retry, with jitter."
    )
    llm_backoff_max_s: float = Field(20.0, ge=0, description="Largest retry delay.")
    llm_max_retry_after_s: float = Field(
        60.0, ge=0, description="Longest Retry-After honoured; longer waits fail the call."
    )
    llm_max_tokens: int = Field(2048, gt=0, description="Completion token limit per LLM call.")
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Extra or overriding prices per model: USD per million (prompt, completion) "
        "tokens, as JSON.",
    )
    planner_repair_attempts: int = Field(
        2, ge=0, description="Repair turns after an invalid plan before the goal fails."
    )
    playbook_dirs: list[Path] = Field(
        default_factory=list, description="Extra directories of YAML/Python playbooks."
    )
    playbook_defaults: bool = Field(True, description="Load the built-in demo playbooks.")
    playbook_threshold: float = Field(
        0.7, ge=0, le=1, description="Least cosine similarity for a playbook to match a goal."
    )
    budget_daily_tokens: int | None = Field(
        None, ge=0, description="Default per-tenant daily LLM token budget (unset: none)."
    )
    budget_daily_cost: float | None = Field(
        None, ge=0, description="Default per-tenant daily LLM cost budget in USD (unset: none)."
    )
    budget_tenants: dict[str, dict[str, float | None]] = Field(
        default_factory=dict,
        description='Per-tenant budgets overriding the defaults, as JSON: {"acme": '
        '{"tokens": 100000, "cost": 2.5}}.',
    )
    budget_action: Literal["reject", "hold"] = Field(
        "reject", description="Over budget: reject the goal, or hold it for approval."
    )

    # Semantic plan cache.
    embedder: str = Field(
        "onnx", description="Embedding backend: onnx (default) or sentence-transformers."
    )
    cache_url: str | None = Field(
        None,
        description="Plan-cache index: sqlite:///PATH (in-process HNSW persisted to SQLite), "
        "memory:// (not persisted) or redis(s)://... (default: sqlite under home, "
        "plan_cache.db).",
    )
    cache_backend: str = Field(
        "memory",
        description="Deprecated, use cache_url: memory (HNSW persisted to cache_path) or redis "
        "(cache_redis_url).",
    )
    cache_path: Path | None = Field(
        None,
        description="Deprecated, use cache_url: SQLite file of the embedded plan cache.",
    )
    cache_redis_url: str | None = Field(
        None, description="Deprecated, use cache_url: Redis URL of the plan cache index."
    )
    cache_threshold: float = Field(
        0.85, ge=0.0, le=1.0, description="Minimum cosine similarity of a plan-cache hit."
    )
    cache_ttl_seconds: int = Field(
        7 * 24 * 3600, gt=0, description="Absolute lifetime of a plan-cache entry."
    )
    cache_max_entries: int = Field(
        100_000, gt=0, description="Size cap (per tenant) of the embedded plan cache; LRU."
    )
    cache_max_request_chars: int = Field(
        2000, gt=0, description="Longest request the plan cache accepts, in characters."
    )
    cache_max_plan_failures: int = Field(
        2,
        ge=1,
        description="Goals a cached plan may fail because of the plan before it is evicted.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))

    @field_validator(*_URL_KINDS, mode="after")
    @classmethod
    def _check_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Parsed here so a bad URL fails when settings load, naming the setting.
        if value is not None:
            name = info.field_name or "url"
            try:
                parse_backend_url(
                    value, allowed=_URL_KINDS[name], purpose=f"OMNIHUB_{name.upper()}"
                )
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_tools_database_url(self) -> str:
        """The database the database_* tools act on, defaulting to the event store's."""
        return self.tools_database_url or self.resolved_event_store_url

    @property
    def resolved_cache_path(self) -> Path:
        """The embedded plan cache's SQLite file, defaulting to ``home/plan_cache.db``."""
        return self.cache_path or self.home / "plan_cache.db"

    @property
    def resolved_cache_url(self) -> str:
        """The plan-cache index URL: ``cache_url``, else the deprecated ``cache_backend``
        (``redis`` with ``cache_redis_url``), else SQLite under ``home``."""
        if self.cache_url:
            return self.cache_url
        if self.cache_backend == "redis":
            if not self.cache_redis_url:
                raise ConfigurationError("the redis plan cache needs OMNIHUB_CACHE_REDIS_URL")
            return self.cache_redis_url
        if self.cache_backend != "memory":
            raise ConfigurationError(
                f"unknown plan cache backend {self.cache_backend!r}; set OMNIHUB_CACHE_URL"
            )
        return f"sqlite:///{self.resolved_cache_path}"

    @property
    def resolved_event_store_url(self) -> str:
        """The event store URL, defaulting to an SQLite file under ``home``."""
        return self.event_store_url or f"sqlite:///{self.home / 'events.db'}"

    @property
    def resolved_api_keys_url(self) -> str:
        """The API key store URL, defaulting to an SQLite file under ``home``."""
        return self.api_keys_url or f"sqlite:///{self.home / 'api.db'}"

    @property
    def resolved_api_idempotency_url(self) -> str:
        """The idempotency store URL, defaulting to the API key store's."""
        return self.api_idempotency_url or self.resolved_api_keys_url

    @property
    def resolved_api_nonces_url(self) -> str:
        """The nonce store URL: ``api_nonces_url``, else ``api_redis_url``, else memory."""
        return self.api_nonces_url or self.api_redis_url or "memory://"

    @property
    def resolved_api_rate_limit_url(self) -> str:
        """The rate limiter URL: ``api_rate_limit_url``, else ``api_redis_url``, else memory."""
        return self.api_rate_limit_url or self.api_redis_url or "memory://"

    @property
    def resolved_api_sessions_url(self) -> str:
        """The console session store URL, defaulting to the API key store's."""
        return self.api_sessions_url or self.resolved_api_keys_url

    @property
    def resolved_api_throttle_url(self) -> str:
        """The failed-sign-in throttle URL: ``api_throttle_url``, else ``api_redis_url``,
        else memory."""
        return self.api_throttle_url or self.api_redis_url or "memory://"

    @property
    def resolved_api_keys_secret_file(self) -> Path:
        """The file of the signing-secret encryption key, defaulting to home/api-keys.key."""
        return self.api_keys_secret_file or self.home / "api-keys.key"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and the TOML file; raise ConfigurationError if bad."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from exc
    if settings.home.is_dir():  # a home made by an earlier version, or by hand, is tightened
        try:
            private_dir(settings.home)
        except OSError as exc:
            raise ConfigurationError(f"cannot make {settings.home} private: {exc}") from exc
    return settings
