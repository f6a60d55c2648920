"""The one backend URL parser, and the URL settings of every stateful part."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.config import (
    BackendURL,
    UnsupportedBackendError,
    load_settings,
    parse_backend_url,
    redact_url,
)
from omnihub.errors import ConfigurationError

ALL = ("sqlite", "postgresql", "redis", "memory")


@pytest.mark.parametrize(
    ("url", "kind", "scheme", "path"),
    [
        ("sqlite:///relative/x.db", "sqlite", "sqlite", Path("relative/x.db")),
        ("sqlite:////abs/x.db", "sqlite", "sqlite", Path("/abs/x.db")),
        ("SQLITE:////abs/x.db", "sqlite", "sqlite", Path("/abs/x.db")),
        ("postgresql://u:pw@127.0.0.1:5432/db", "postgresql", "postgresql", None),
        ("postgres://127.0.0.1/db", "postgresql", "postgres", None),
        ("redis://127.0.0.1:6379/0", "redis", "redis", None),
        ("rediss://127.0.0.1:6380/0", "redis", "rediss", None),
        ("memory://", "memory", "memory", None),
    ],
)
def test_each_scheme_parses_to_its_kind(
    url: str, kind: str, scheme: str, path: Path | None
) -> None:
    parsed = parse_backend_url(url, allowed=ALL)
    assert parsed == BackendURL(kind, scheme, url, path)  # type: ignore[arg-type]


def test_sqlite_paths_expand_the_user_directory() -> None:
    parsed = parse_backend_url("sqlite:///~/x.db", allowed=("sqlite",))
    assert parsed.path == Path("~/x.db").expanduser()
    assert parsed.path.is_absolute()


def test_rediss_and_sslmode_count_as_tls() -> None:
    assert parse_backend_url("rediss://127.0.0.1", allowed=ALL).tls
    assert not parse_backend_url("redis://127.0.0.1", allowed=ALL).tls
    assert parse_backend_url("postgresql://127.0.0.1/db?sslmode=require", allowed=ALL).tls


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("events.db", "has no scheme"),
        ("sqlite://", "must give a file path"),
        ("sqlite:///", "must give a file path"),
        ("sqlite:///:memory:", "not :memory:"),
        ("memory://somewhere", "takes no host"),
        ("redis://", "needs a host"),
        ("redis://127.0.0.1:notaport", "malformed"),
        ("mysql://127.0.0.1/db", "unsupported backend 'mysql'"),
    ],
)
def test_bad_urls_raise_a_typed_configuration_error(url: str, reason: str) -> None:
    with pytest.raises(UnsupportedBackendError, match=reason) as caught:
        parse_backend_url(url, allowed=ALL, purpose="test store URL")
    assert isinstance(caught.value, ConfigurationError)
    assert str(caught.value).startswith("test store URL")
    assert caught.value.url == url


def test_a_kind_the_part_cannot_use_is_refused_naming_the_accepted_forms() -> None:
    with pytest.raises(UnsupportedBackendError) as caught:
        parse_backend_url("redis://127.0.0.1", allowed=("sqlite", "postgresql"), purpose="keys")
    assert "sqlite:///PATH or postgresql://" in str(caught.value)
    assert caught.value.allowed == ("sqlite", "postgresql")


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(UnsupportedBackendError) as caught:
        parse_backend_url("mysql://admin:hunter2@127.0.0.1/db", allowed=ALL)
    assert "hunter2" not in str(caught.value)
    assert redact_url("redis://:hunter2@127.0.0.1:6379") == "redis://:***@127.0.0.1:6379"
    assert redact_url("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"


def test_a_bad_url_setting_fails_at_load_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError, match="api_keys_url") as caught:
        load_settings(api_keys_url="redis://:hunter2@127.0.0.1")
    assert "hunter2" not in str(caught.value)


def test_every_stateful_part_has_a_url_with_embedded_defaults(omnihub_home: Path) -> None:
    settings = load_settings()
    assert settings.resolved_api_keys_url == f"sqlite:///{omnihub_home / 'api.db'}"
    assert settings.resolved_api_idempotency_url == settings.resolved_api_keys_url
    assert settings.resolved_api_nonces_url == "memory://"
    assert settings.resolved_api_rate_limit_url == "memory://"
    assert settings.resolved_cache_url == f"sqlite:///{omnihub_home / 'plan_cache.db'}"


def test_api_redis_url_is_the_default_of_nonces_and_limits() -> None:
    settings = load_settings(api_redis_url="redis://127.0.0.1:1", api_nonces_url="memory://")
    assert settings.resolved_api_nonces_url == "memory://"
    assert settings.resolved_api_rate_limit_url == "redis://127.0.0.1:1"


def test_deprecated_cache_settings_still_choose_the_index() -> None:
    legacy = load_settings(cache_backend="redis", cache_redis_url="redis://127.0.0.1:1")
    assert legacy.resolved_cache_url == "redis://127.0.0.1:1"
    assert load_settings(cache_url="memory://").resolved_cache_url == "memory://"
    with pytest.raises(ConfigurationError, match="CACHE_REDIS_URL"):
        _ = load_settings(cache_backend="redis").resolved_cache_url
