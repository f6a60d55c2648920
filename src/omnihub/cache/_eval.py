"""The evaluation harness: replay a JSONL dataset against an empty cache, with an oracle
planner, and measure hit rate and false-hit rate against a plain semantic cache baseline."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from omnihub.cache._cache import PlanCache
from omnihub.cache._index import PlanIndex
from omnihub.cache._metrics import percentiles
from omnihub.embeddings import Embedder
from omnihub.errors import CacheInputError, ValidationError

EVAL_VERSION = "eval"


class EvalRecord(BaseModel):
    """One dataset line; other keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    tenant: str = Field(min_length=1)
    query: str = Field(min_length=1)
    plan: Any
    now: datetime


def load_dataset(path: Path) -> list[EvalRecord]:
    """Parse a JSONL dataset; a bad line raises ValidationError naming the line."""
    records: list[EvalRecord] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read dataset {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(EvalRecord.model_validate_json(line))
        except PydanticValidationError as exc:
            raise ValidationError(f"{path}:{number}: invalid record: {exc}") from exc
    return records


def plans_equal(left: Any, right: Any) -> bool:
    """JSON equality with numbers compared by value and key order ignored."""
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(plans_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            plans_equal(a, b) for a, b in zip(left, right, strict=True)
        )
    return bool(left == right)


@dataclass
class _Tally:
    queries: int = 0
    hits: int = 0
    false_hits: int = 0
    rejected: int = 0

    def report(self, latency: dict[str, list[float]]) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "hits": self.hits,
            "misses": self.queries - self.hits,
            "false_hits": self.false_hits,
            "hit_rate": round(self.hits / self.queries, 4) if self.queries else 0.0,
            "false_hit_rate": round(self.false_hits / self.queries, 4) if self.queries else 0.0,
            "rejected_requests": self.rejected,
            "latency_ms": {stage: percentiles(values) for stage, values in latency.items()},
        }


#: Thresholds of the baseline sweep: where a plain semantic cache would sit.
SWEEP = (0.75, 0.8, 0.85, 0.9, 0.95, 0.98)


def _intent(plan: Any) -> str:
    """A plan's shape: the tools it calls, in order ("search_trains>book_train")."""
    steps = plan if isinstance(plan, list) else [plan]
    names = [str(s.get("tool")) for s in steps if isinstance(s, dict) and "tool" in s]
    return ">".join(names) or "(no tool)"


def _replay_baseline(
    records: list[EvalRecord], vectors: list[Any], threshold: float
) -> tuple[_Tally, list[float]]:
    tally = _Tally()
    search: list[float] = []
    stored: dict[str, tuple[list[Any], list[Any]]] = {}
    for record, vector in zip(records, vectors, strict=True):
        tally.queries += 1
        started = time.perf_counter()
        seen, plans = stored.setdefault(record.tenant, ([], []))
        best = -1
        if seen:
            scores = np.stack(seen) @ vector
            best = int(np.argmax(scores))
            if float(scores[best]) < threshold:
                best = -1
        search.append(time.perf_counter() - started)
        if best >= 0:
            tally.hits += 1
            if not plans_equal(plans[best], record.plan):
                tally.false_hits += 1
        else:
            seen.append(vector)
            plans.append(record.plan)
    return tally, search


def _baseline(records: list[EvalRecord], embedder: Embedder, threshold: float) -> dict[str, Any]:
    """A plain semantic cache: raw query text, nearest neighbour in the tenant, no guards,
    at ``threshold`` and, as ``sweep``, at each threshold of :data:`SWEEP`."""
    vectors: list[Any] = []
    embed: list[float] = []
    for record in records:
        started = time.perf_counter()
        vectors.append(embedder.embed_one(record.query))
        embed.append(time.perf_counter() - started)
    tally, search = _replay_baseline(records, vectors, threshold)
    total = [a + b for a, b in zip(embed, search, strict=True)]
    report = tally.report({"embed": embed, "search": search, "total": total})
    report["sweep"] = [
        {"threshold": value, **_rates(_replay_baseline(records, vectors, value)[0])}
        for value in sorted({*SWEEP, threshold})
    ]
    return report


def _rates(tally: _Tally) -> dict[str, Any]:
    report = tally.report({})
    return {key: report[key] for key in ("hits", "false_hits", "hit_rate", "false_hit_rate")}


def evaluate(
    records: list[EvalRecord],
    index: PlanIndex,
    embedder: Embedder,
    *,
    threshold: float = 0.85,
    baseline: bool = True,
) -> dict[str, Any]:
    """Replay ``records`` in order against ``index`` (which must start empty)."""
    cache = PlanCache(
        index,
        embedder,
        version=EVAL_VERSION,
        threshold=threshold,
        ttl_seconds=365 * 24 * 3600,
        max_request_chars=max([2000, *(len(r.query) for r in records)]),
    )
    tally = _Tally()
    latency: dict[str, list[float]] = {"embed": [], "search": [], "guards": [], "total": []}
    false_hits: list[dict[str, Any]] = []
    intents: dict[str, _Tally] = {}
    reasons: dict[str, int] = {}
    for record in records:
        tally.queries += 1
        per_intent = intents.setdefault(_intent(record.plan), _Tally())
        per_intent.queries += 1
        now = record.now if record.now.tzinfo else record.now.replace(tzinfo=UTC)
        try:
            result = cache.lookup(record.tenant, record.query, now)
        except CacheInputError:
            tally.rejected += 1  # the cache refuses the request: the planner answers it
            per_intent.rejected += 1
            reasons["rejected_request"] = reasons.get("rejected_request", 0) + 1
            continue
        for stage in latency:
            latency[stage].append(result.timings.get(stage, 0.0))
        if result.hit:
            tally.hits += 1
            per_intent.hits += 1
            if not plans_equal(result.plan, record.plan):
                tally.false_hits += 1
                per_intent.false_hits += 1
                false_hits.append({"query": record.query, "entry": result.entry_id})
        else:
            reason = result.reason or "unknown"
            reasons[reason] = reasons.get(reason, 0) + 1
            cache.store(record.tenant, record.query, record.plan, now=now, lookup=result)
    report = tally.report(latency)
    report["misses_by_reason"] = dict(sorted(cache.metrics.misses.items()))
    report["rejections"] = dict(sorted(cache.metrics.rejections.items()))
    # Where the cache helps and where it does not: per plan shape, and each miss reason's
    # share of all requests (cold misses, "empty_index" and first sightings, are unavoidable).
    report["by_intent"] = {
        name: {key: value for key, value in t.report({}).items() if key != "latency_ms"}
        for name, t in sorted(intents.items())
    }
    report["by_miss_reason"] = {
        reason: {"misses": count, "rate": round(count / tally.queries, 4)}
        for reason, count in sorted(reasons.items())
    }
    report["threshold"] = threshold
    if false_hits:
        report["false_hit_examples"] = false_hits[:10]
    if baseline:
        report["baseline"] = _baseline(records, embedder, threshold)
    return report
