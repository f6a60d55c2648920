"""Secret settings are SecretStr: never shown by repr, str, logs or a JSON dump."""

from __future__ import annotations

import logging
import re
import typing

import pytest
from pydantic import SecretStr

from omnihub.config import Settings, load_settings

# Names that hold a secret: API keys, passwords, signing secrets, codec keys, tokens.
SECRET_NAME = re.compile(r"(^|_)(api_key|password|secret|secrets|token|codec_keys?|key_file)$")
VALUE = "s3cr3t-value-that-must-not-leak"


def secret_fields() -> list[str]:
    return [
        name
        for name in Settings.model_fields
        if SECRET_NAME.search(name) and not name.endswith("_file")
    ]


def test_every_secret_setting_is_a_secret_str() -> None:
    names = secret_fields()
    assert {"temporal_api_key", "smtp_password", "llm_api_key"} <= set(names)
    for name in names:
        annotation = Settings.model_fields[name].annotation
        assert SecretStr in typing.get_args(annotation) or annotation is SecretStr, name


def test_secret_settings_never_reach_logs_repr_or_the_config_command(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("temporal_api_key", "smtp_password", "llm_api_key"):
        monkeypatch.setenv(f"OMNIHUB_{name.upper()}", VALUE)
    settings = load_settings()
    assert settings.temporal_api_key is not None
    assert settings.temporal_api_key.get_secret_value() == VALUE
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("omnihub.test").warning("settings: %s %r", settings, settings)
    assert VALUE not in caplog.text
    assert VALUE not in repr(settings)
    assert VALUE not in settings.model_dump_json()
