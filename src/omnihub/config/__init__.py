"""Configuration: one :class:`Settings` object, built at the entry point; the one parser of
backend URLs; private files and directories under ``OMNIHUB_HOME``."""

from omnihub.config._files import private_dir, private_file
from omnihub.config._limits import HARD_MAX_DEPTH, InputLimits, input_limits
from omnihub.config._reference import render_settings_table, settings_table
from omnihub.config._settings import Settings, load_settings
from omnihub.config._urls import (
    BackendKind,
    BackendURL,
    UnsupportedBackendError,
    parse_backend_url,
    redact_url,
)

__all__ = [
    "HARD_MAX_DEPTH",
    "BackendKind",
    "BackendURL",
    "InputLimits",
    "Settings",
    "UnsupportedBackendError",
    "input_limits",
    "load_settings",
    "parse_backend_url",
    "private_dir",
    "private_file",
    "redact_url",
    "render_settings_table",
    "settings_table",
]
