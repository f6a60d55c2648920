"""Configuration: one :class:`Settings` object, built at the entry point."""

from omnihub.config._limits import HARD_MAX_DEPTH, InputLimits, input_limits
from omnihub.config._reference import render_settings_table, settings_table
from omnihub.config._settings import Settings, load_settings

__all__ = [
    "HARD_MAX_DEPTH",
    "InputLimits",
    "Settings",
    "input_limits",
    "load_settings",
    "render_settings_table",
    "settings_table",
]
