"""The one set of input limits every door shares (API, console, CLI, the goal service and the
event store), so a goal the boundary accepts can always be recorded and run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnihub.errors import ValidationError

if TYPE_CHECKING:
    from omnihub.config._settings import Settings

# Past ~250 levels Temporal's payload decoding gives up and the workflow task fails forever;
# 64 leaves room for the envelope around a payload and is far beyond any real context.
HARD_MAX_DEPTH = 64


@dataclass(frozen=True)
class InputLimits:
    """How deep, how large and how long user input may be.

    ``max_bytes`` is the event store's payload limit (``max_payload_bytes``): the goal's first
    event carries the context and the plan event carries the plan, so anything larger would be
    accepted here and then refused by the store with the goal half-started.
    """

    max_depth: int = 32
    max_bytes: int = 256 * 1024
    max_plan_steps: int = 256

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= HARD_MAX_DEPTH:
            raise ValidationError(f"max_depth must be between 1 and {HARD_MAX_DEPTH}")
        if self.max_bytes < 1024 or self.max_plan_steps < 1:
            raise ValidationError("max_bytes must be at least 1024 and max_plan_steps positive")

    def check_json(self, value: Any, what: str, *, headroom: int = 0) -> None:
        """Refuse ``value`` if it nests deeper than ``max_depth``, holds a number JSON cannot
        carry (NaN, ±Infinity), or its JSON is over ``max_bytes - headroom`` bytes.

        Iterative, so a hostile depth costs a list, never the interpreter's stack.
        """
        pending: list[tuple[Any, int]] = [(value, 0)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, dict | list):
                if depth >= self.max_depth:
                    raise ValidationError(
                        f"{what} nests deeper than the limit of {self.max_depth} levels"
                    )
                children = item.values() if isinstance(item, dict) else item
                pending.extend((child, depth + 1) for child in children)
            elif isinstance(item, float) and not math.isfinite(item):
                raise ValidationError(f"{what} holds {item!r}, which JSON cannot carry")
        limit = self.max_bytes - headroom
        try:
            size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{what} holds a lone surrogate, which UTF-8 cannot carry"
            ) from exc
        if size > limit:
            raise ValidationError(f"{what} is {size} bytes of JSON, over the limit of {limit}")


def input_limits(settings: Settings) -> InputLimits:
    """The limits ``settings`` configure; the size limit is the event store's payload limit."""
    return InputLimits(
        max_depth=settings.input_max_depth,
        max_bytes=settings.max_payload_bytes,
        max_plan_steps=settings.input_max_plan_steps,
    )
