"""Configuration: one :class:`Settings` object, built at the entry point."""

from omnihub.config._reference import render_settings_table, settings_table
from omnihub.config._settings import Settings, load_settings

__all__ = ["Settings", "load_settings", "render_settings_table", "settings_table"]
