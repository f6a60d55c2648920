"""Process logging: human-readable lines by default, one JSON object per line by the
``log_format`` setting; every record carries the current trace and span ids, and the goal id
and tenant when given (``extra={"goal_id": ..., "tenant": ...}``). Secrets registered with
:func:`redact` are masked in every line, whatever logged them."""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any

from omnihub.telemetry._tracing import current_ids

_MASK = "***"
_CONTEXT = ("goal_id", "tenant", "step_id", "tool", "event_type")
# Shapes of credentials worth masking even when nobody registered their value.
_PATTERNS = re.compile(
    r"(?i)(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(\b(?:api[_-]?key|password|passwd|secret|token)\b\s*[=:]\s*)['\"]?[^\s'\",;]+"
    r"|\b(sk-[A-Za-z0-9_-]{8,})"
    r"|\b(omk_[A-Za-z0-9_-]{8,})"
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def redact(*values: str | None) -> None:
    """Mask these values (API keys, provider keys, passwords) in every log line from now on."""
    with _secrets_lock:
        _secrets.update(v for v in values if v and len(v) >= 4)


def scrub(text: str) -> str:
    """``text`` with registered secrets and credential-shaped strings masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, _MASK)

    def mask(match: re.Match[str]) -> str:
        for prefix in (match.group(1), match.group(2)):
            if prefix is not None:
                return prefix + _MASK
        return _MASK

    return _PATTERNS.sub(mask, text)


class _ContextFilter(logging.Filter):
    """Adds the trace and span ids of the current span to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, trace/span ids, goal
    context and the exception, all scrubbed of secrets."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, default=str))


class TextFormatter(logging.Formatter):
    """A readable line, with the goal and trace when known, scrubbed of secrets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}"
            for key in (*_CONTEXT, "trace_id")
            if getattr(record, key, None) is not None
        )
        return scrub(f"{text} [{context}]" if context else text)


_HANDLER_NAME = "omnihub"


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, except that a record that cannot be written is reported without its message
    (logging's default report prints the raw message and arguments, secrets included)."""

    def handleError(self, record: logging.LogRecord) -> None:
        if logging.raiseExceptions:
            import sys

            sys.stderr.write(
                f"--- Logging error in {record.name} at {record.pathname}:"
                f"{record.lineno} (message withheld)\n"
            )


def configure_logging(level: str = "WARNING", log_format: str = "text") -> logging.Handler:
    """Send the root logger's records to stderr as text or JSON (``log_format``). Calling it
    again replaces OmniHub's handler rather than adding a second."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == _HANDLER_NAME:
            root.removeHandler(existing)
    handler = _Handler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
