"""The console's shared parts: its event-store reader, templates and static files."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from omnihub.config import Settings
from omnihub.console._views import format_age
from omnihub.events import EventStore, open_event_store

STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def _pretty(value: Any) -> str:
    if value is None:
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%H:%M:%S") if value else "—"


def _duration(ms: float) -> str:
    if ms <= 0:
        return "—"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def build_templates() -> Environment:
    """The Jinja2 environment of the console's templates (autoescaped)."""
    env = Environment(
        loader=PackageLoader("omnihub.console", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pretty"] = _pretty
    env.filters["when"] = _when
    env.filters["clock"] = _clock
    env.filters["duration"] = _duration
    env.globals["age"] = format_age
    return env


def static_files() -> dict[str, Path]:
    """The static files the console serves, by name (a fixed list: no path traversal)."""
    root = Path(str(files("omnihub.console") / "static"))
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in STATIC_TYPES:
            found[path.relative_to(root).as_posix()] = path
    return found


class Console:
    """What every console route shares: settings, the event store it reads, and templates
    (sign-in sessions live in the services' session store, shared by every API process).

    The store is opened on first use from ``settings`` (unless one is passed in) and closed by
    :meth:`close`; SQLite in WAL mode lets it read while workers write.
    """

    def __init__(self, settings: Settings, store: EventStore | None = None) -> None:
        self.settings = settings
        self._store = store
        self._owns_store = store is None
        self._lock = threading.Lock()
        self.templates = build_templates()
        self.static = static_files()

    @property
    def store(self) -> EventStore:
        with self._lock:
            if self._store is None:
                self._store = open_event_store(
                    self.settings.resolved_event_store_url,
                    max_payload_bytes=self.settings.max_payload_bytes,
                )
            return self._store

    def render(self, name: str, **context: Any) -> str:
        return self.templates.get_template(name).render(now=datetime.now(UTC), **context)

    def close(self) -> None:
        """Close the store if the console opened it."""
        with self._lock:
            if self._store is not None and self._owns_store:
                self._store.close()
                self._store = None
