"""The goal index: one row per goal (stream) with its summary, kept by every append.

Listing a tenant's goals must not fold every stream per request, so each append updates the
goal's row in the same transaction as its events (on SQLite and PostgreSQL alike): the index
can never disagree with the events it summarises. The summary is folded with the same
:func:`fold_summary` as the full :class:`~omnihub.events.GoalState`, so a goal's status in a
list is the status its page shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict

from omnihub.events._projection import GoalStatus, fold_summary, summarizes

__all__ = ["GoalIndexRow", "GoalSummary", "IndexedGoal", "summarize_rows"]

# The stored summary leaves out what every event changes (``event_count``, ``updated_at``):
# those are read from the stream's last event when goals are listed, so an append whose events
# change nothing else (most of a saga's) leaves the index row alone and writes no index page.
_SUMMARY_KEYS = (
    "goal_id",
    "status",
    "goal",
    "user_id",
    "plan_source",
    "error",
    "paused",
    "created_at",
    "finished_at",
)


class GoalSummary(BaseModel):
    """One goal as goal lists show it (the summary fields of its GoalState)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    goal_id: str
    status: GoalStatus = "new"
    goal: str | None = None
    user_id: str | None = None
    plan_source: str | None = None
    error: str | None = None
    paused: bool = False
    event_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None


class IndexedGoal(NamedTuple):
    """A goal of the index and its place in it (the position of its first event)."""

    position: int
    summary: GoalSummary


class GoalIndexRow(NamedTuple):
    """What a backend writes to its goal index for one stream."""

    tenant_id: str
    goal_id: str
    status: str
    created_position: int
    updated_position: int
    summary: str
    """Summary JSON; ``updated_position`` is the last event that changed it."""


# The last summary JSON summarize_rows wrote, its fields (without ``_position``) and position:
# the next append to the same goal starts from them.
_last_summary: tuple[str, dict[str, Any], Any] = ("", {}, None)


def _summary_json(kept: dict[str, Any]) -> str:
    """Compact JSON with sorted keys: orjson inside every append (about ten times faster), the
    json module for what orjson refuses (a lone surrogate), which writes the same text."""
    try:
        return orjson.dumps(kept, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def summarize_rows(
    previous: str | None, rows: Sequence[Sequence[Any]], payloads: Sequence[object]
) -> GoalIndexRow | None:
    """The stream's new index row after ``rows`` (stored rows in COLUMNS order, one stream,
    in version order, and their payloads) on top of ``previous`` (the stored summary JSON, or
    None), or None when the stored row stays as it is."""
    if not rows:
        return None
    # Only the events that change a summary field are folded (it runs inside every append).
    changes = [pair for pair in zip(rows, payloads, strict=True) if summarizes(type(pair[1]))]
    if previous is not None and not changes:
        return None
    global _last_summary  # one tuple, swapped whole: safe across threads
    last = _last_summary
    if previous is not None and previous == last[0]:
        # The summary this process wrote last (the same goal's previous append, mostly):
        # its fields as they were, without parsing the text again.
        before, created = last[1], last[2]
        state = dict(before)
    else:
        state = orjson.loads(previous) if previous else {}
        created = state.pop("_position", None)
        before = {key: state[key] for key in _SUMMARY_KEYS if key in state}
    first = rows[0]
    goal_id = str(first[2])
    # What the fold takes from a goal's first event that a summary keeps: the goal and the time
    # of that event (the rest, like event_count and updated_at, is read from the stream when
    # listing).
    state.setdefault("goal_id", goal_id)
    state.setdefault("created_at", first[7])  # occurred_at, as stored
    state.setdefault("status", "new")
    for row, payload in changes:
        fold_summary(state, payload, row[7])
    kept = {key: state[key] for key in _SUMMARY_KEYS if key in state}
    if previous is not None and created is not None and kept == before:
        return None
    created = int(first[0]) if created is None else int(created)
    text = _summary_json({**kept, "_position": created})
    _last_summary = (text, kept, created)
    return GoalIndexRow(
        str(first[1]), goal_id, str(state["status"]), created, int(rows[-1][0]), text
    )


def rebuild_rows(
    rows: Iterable[Sequence[Any]], payload_of: Callable[[Sequence[Any]], object]
) -> list[GoalIndexRow]:
    """Index rows for every stream in ``rows`` (one tenant's rows in global order): for a store
    opened on events written before the index existed."""
    streams: dict[str, list[Sequence[Any]]] = {}
    for row in rows:
        streams.setdefault(str(row[2]), []).append(row)
    built = [
        summarize_rows(None, found, [payload_of(row) for row in found])
        for found in streams.values()
    ]
    return [row for row in built if row is not None]


def indexed(position: int, summary: str, event_count: int, updated_at: str) -> IndexedGoal:
    """An index entry from its stored columns and the stream's last version and time."""
    values = json.loads(summary)
    values.update(event_count=event_count, updated_at=updated_at)
    return IndexedGoal(int(position), GoalSummary.model_validate(values))


def payload_decoder(
    decode: Callable[[str, int, str], tuple[object, int]],
) -> Callable[[Sequence[Any]], object]:
    """Reads the payload of a stored row (COLUMNS order) with the registry's ``decode``."""

    def payload_of(row: Sequence[Any]) -> object:
        return decode(str(row[5]), int(row[6]), str(row[12]))[0]

    return payload_of
