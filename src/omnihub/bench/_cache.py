"""Lookup latency benchmark at scale.

Filling 100,000 entries by embedding 100,000 texts would take ~10 minutes on two shared cores,
so the index is filled with *synthetic* entries: a few hundred real template texts are
embedded with the real model, and every entry's vector is one of them plus small Gaussian
noise, re-normalised (cosine ~0.95 to its base), so the graph has the dense, clustered
neighbourhoods a real cache has. Entry templates carry their base's slot signature and a unique
suffix, so no query can take the exact fast path and every near candidate reaches the wording
guard: every measured lookup pays extraction, a real embedding of a real query, the k-NN search
and the guards over the nearest candidates (a worst case: all of them rejected).
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from omnihub.cache import CacheEntry, PlanCache, PlanIndex
from omnihub.cache._metrics import percentiles
from omnihub.embeddings import Embedder

BENCH_TENANT = "bench"
NOISE = 0.012  # per dimension; ~0.23 in norm over 384 dimensions
_VERBS = ["book", "cancel", "rent", "pay", "delete", "create", "refund", "transfer", "schedule"]
_OBJECTS = ["a train", "a flight", "a hotel room", "the invoice", "the account", "a meeting"]
_FRAMES = [
    "{verb} {obj} from {{LOCATION:origin}} to {{LOCATION:destination}} on {{DATE}}",
    "{verb} {obj} for {{EMAIL}} on {{DATE}} at {{TIME}}",
    "please {verb} {obj} in {{LOCATION}} for {{MONEY}}",
    "{verb} {obj} with id {{ID}}",
]
_QUERIES = [
    "Book a train from Lyon to Nice on 3 March",
    "Please reserve a hotel room in Lisbon for $250",
    "Cancel the flight from Oslo to Rome tomorrow",
    "Pay the invoice of €1,200.50 sent by ana@example.org",
    "Schedule a meeting for bob@example.com on 2027-05-02 at 3pm",
    "Refund order ORD-99812 please",
    "Transfer 300 GBP to carla@example.net",
    "Delete the account with id ACC-1234",
]


def base_templates() -> list[str]:
    """The real template texts synthetic entries are built around (216, stable order)."""
    return [
        frame.format(verb=verb, obj=obj)
        for frame, verb, obj in itertools.product(_FRAMES, _VERBS, _OBJECTS)
    ]


def synthetic_entries(
    embedder: Embedder, count: int, version: str, seed: int = 7
) -> tuple[list[CacheEntry], np.ndarray[Any, np.dtype[np.float32]]]:
    """``count`` entries and their vectors (see the module docstring for the method)."""
    texts = base_templates()
    bases = embedder.embed(texts)
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(texts), size=count)
    vectors = bases[which] + rng.normal(0.0, NOISE, size=(count, bases.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Real slot signatures, so the guards do their full work on every candidate.
    signatures = [tuple(sorted(re.findall(r"\{([^{}]+)\}", text))) for text in texts]
    now = time.time()
    entries = [
        CacheEntry(
            id=uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i).hex,
            tenant=BENCH_TENANT,
            key=f"synthetic-{i}",
            template=f"{texts[int(which[i])]} variant {i}",
            signature=signatures[int(which[i])],
            plan=[{"tool": "noop", "args": {"n": i}}],
            version=version,
            tools=("noop",),
            created_at=now,
            expires_at=now + 24 * 3600,
        )
        for i in range(count)
    ]
    return entries, vectors.astype(np.float32)


def run_cache_benchmark(
    index: PlanIndex, embedder: Embedder, *, entries: int, backend: str, queries: int = 400
) -> dict[str, Any]:
    """Fill ``index`` with ``entries`` synthetic entries, then time ``queries`` lookups."""
    version = "bench"
    started = time.perf_counter()
    filled, vectors = synthetic_entries(embedder, entries, version)
    add_many = getattr(index, "add_many", None)
    if add_many is not None:
        add_many(filled, vectors)
    else:  # pragma: no cover - both built-in backends bulk-load
        for entry, vector in zip(filled, vectors, strict=True):
            index.add(entry, vector)
    fill_seconds = time.perf_counter() - started
    cache = PlanCache(index, embedder, version=version)
    now = datetime.now(UTC)
    for text in _QUERIES:  # warm-up: model, graph pages, connection
        cache.lookup(BENCH_TENANT, text, now)
    samples: dict[str, list[float]] = {"embed": [], "search": [], "guards": [], "total": []}
    excluding: list[float] = []
    for number in range(queries):
        result = cache.lookup(BENCH_TENANT, _QUERIES[number % len(_QUERIES)], now)
        for stage in samples:
            samples[stage].append(result.timings[stage])
        excluding.append(result.timings["total"] - result.timings["embed"])
    latency = {stage: percentiles(values) for stage, values in samples.items()}
    latency["excluding_embed"] = percentiles(excluding)
    return {
        "entries": entries,
        "backend": backend,
        "queries": queries,
        "fill_seconds": round(fill_seconds, 1),
        "latency_ms": latency,
    }
