"""Time-sortable event ids (UUIDv7, RFC 9562) and the UTC timestamp format of the CDM."""

from __future__ import annotations

import hashlib
import random
import re
import time
from datetime import UTC, datetime

from omnihub.errors import ValidationError

__all__ = [
    "deterministic_event_id",
    "format_timestamp",
    "new_event_id",
    "parse_timestamp",
    "validate_event_id",
]

_UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_RAND_B_MASK = (1 << 62) - 1
_random_bits = random.getrandbits


def _format_uuid7(unix_ms: int, random_bits: int) -> str:
    """Lay out a UUIDv7: 48-bit milliseconds, version 7, 12 + 62 bits of ``random_bits``."""
    rand_a = (random_bits >> 62) & 0xFFF
    value = (
        (unix_ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | rand_a << 64
        | 0b10 << 62
        | (random_bits & _RAND_B_MASK)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event_id() -> str:
    """A fresh UUIDv7: sortable by creation time (millisecond resolution), random below that.

    The 74 random bits come from :mod:`random` (seeded from the OS, re-seeded after fork):
    ids must be unique, not secret, and a system call per event would slow appends down.
    """
    return _format_uuid7(time.time_ns() // 1_000_000, _random_bits(74))


def deterministic_event_id(at: datetime, *parts: str) -> str:
    """A UUIDv7 built from a timestamp and a hash of ``parts``, the same on every call.

    Temporal activities use it with the workflow's time and, for example, (goal id, step id,
    event type), so a retried activity appends an event with the same id and the store
    recognises it as already written.
    """
    if at.tzinfo is None:
        raise ValidationError("deterministic_event_id needs a timezone-aware datetime")
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    unix_ms = int(at.timestamp() * 1000)
    return _format_uuid7(unix_ms, int.from_bytes(digest[:10], "big"))


def validate_event_id(value: str) -> str:
    """Return ``value`` in canonical lower-case form if it is a UUIDv7, else raise."""
    if not isinstance(value, str):
        raise ValidationError(f"event id must be a string, not {type(value).__name__}")
    lowered = value.lower()
    if not _UUID7.match(lowered):
        raise ValidationError(
            f"event id {value!r} is not a UUIDv7 (8-4-4-4-12 hex, version 7, RFC variant)"
        )
    return lowered


def format_timestamp(moment: datetime) -> str:
    """UTC, ISO 8601 with microseconds and ``Z``: the one textual form the store keeps."""
    if moment.tzinfo is None:
        raise ValidationError("timestamps must be timezone-aware (UTC)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Inverse of :func:`format_timestamp`."""
    return datetime.fromisoformat(text)
