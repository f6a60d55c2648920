from __future__ import annotations

from pathlib import Path

import pytest

from omnihub.config import load_settings
from omnihub.errors import ConfigurationError


def test_defaults_put_the_event_store_under_home(omnihub_home: Path) -> None:
    settings = load_settings()
    assert settings.home == omnihub_home
    assert settings.resolved_event_store_url == f"sqlite:///{omnihub_home / 'events.db'}"


def test_environment_overrides_toml_file(
    omnihub_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (omnihub_home / "config.toml").write_text(
        '[omnihub]\ntenant_id = "from-file"\ntask_queue = "file-queue"\n'
    )
    monkeypatch.setenv("OMNIHUB_TENANT_ID", "from-env")
    settings = load_settings()
    assert settings.tenant_id == "from-env"
    assert settings.task_queue == "file-queue"


def test_explicit_missing_config_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIHUB_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings()


def test_malformed_toml_is_a_configuration_error(omnihub_home: Path) -> None:
    (omnihub_home / "config.toml").write_text("this is = = not toml")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings()


def test_invalid_value_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIHUB_MAX_PAYLOAD_BYTES", "-1")
    with pytest.raises(ConfigurationError, match="max_payload_bytes"):
        load_settings()


def test_flat_toml_file_is_accepted(omnihub_home: Path) -> None:
    (omnihub_home / "config.toml").write_text('tenant_id = "flat"\n')
    assert load_settings().tenant_id == "flat"
