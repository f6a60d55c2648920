"""OmniHub settings: ``OMNIHUB_*`` environment variables over an optional TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from omnihub.errors import ConfigurationError

DEFAULT_HOME = Path("~/.omnihub")
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
        env_prefix="OMNIHUB_", extra="forbid", frozen=True, validate_default=True
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

    # Orchestration (Temporal).
    temporal_address: str | None = Field(
        None,
        description="host:port of a Temporal cluster; unset starts an embedded dev server.",
    )
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_tls: bool = Field(False, description="Use TLS to reach the Temporal cluster.")
    temporal_api_key: str | None = Field(None, description="API key for Temporal Cloud.")
    task_queue: str = Field("omnihub", description="Temporal task queue of the workers.")

    log_level: str = Field("WARNING", description="Python logging level.")

    # Semantic plan cache.
    embedder: str = Field(
        "onnx", description="Embedding backend: onnx (default) or sentence-transformers."
    )
    cache_backend: str = Field(
        "memory", description="Plan-cache index: memory (HNSW persisted to SQLite) or redis."
    )
    cache_path: Path | None = Field(
        None, description="SQLite file of the embedded plan cache (default: home/plan_cache.db)."
    )
    cache_redis_url: str | None = Field(None, description="Redis URL of the plan cache index.")
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

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_cache_path(self) -> Path:
        """The embedded plan cache's SQLite file, defaulting to ``home/plan_cache.db``."""
        return self.cache_path or self.home / "plan_cache.db"

    @property
    def resolved_event_store_url(self) -> str:
        """The event store URL, defaulting to an SQLite file under ``home``."""
        return self.event_store_url or f"sqlite:///{self.home / 'events.db'}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and the TOML file; raise ConfigurationError if bad."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid configuration: {exc}") from exc
