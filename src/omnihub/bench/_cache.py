"""Lookup latency benchmark at scale.

Every timed lookup uses a distinct query text from a generator (``--queries`` of them), and
the wording guard's memo caches (texts and verdicts) and the lemmatiser's are cleared before
the first pass: the ``latency_ms`` figures are cold (each text new, memos empty),
``warm_latency_ms`` repeats the same texts with the memos filled. The plan cache remembers
template embeddings (requests that differ only in their values share a template): the cache
is new, so that memo is empty at the start of the cold pass, and each pass reports how many
lookups ran the model (``model_runs``) and the embedding's latency over those lookups alone
(``embed_model``). Before the passes the process is prepared as a server's is once its
entries are loaded (:func:`~omnihub.cache._factory.prepare_process`: the lexicon's tables
read, the heap frozen); the memos are cleared after that.

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
import random
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np

from omnihub.cache import CacheEntry, PlanCache, PlanIndex
from omnihub.cache._factory import prepare_process
from omnihub.cache._guards import _content, _wording
from omnihub.cache._metrics import percentiles
from omnihub.embeddings import Embedder
from omnihub.entities._lexicon import is_common_word, lemma

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
_CITIES = [
    "Lyon", "Nice", "Turin", "Bern", "Madrid", "Seville", "Vienna", "Prague", "Oslo", "Rome",
    "Lisbon", "Porto", "Dublin", "Krakow", "Geneva", "Milan", "Munich", "Ghent", "Bergen", "Riga",
]  # fmt: skip
_MONTHS = ["January", "March", "May", "July", "September", "November"]
_NAMES = ["ana", "bob", "carla", "dev", "emma", "farid", "grace", "hugo", "ines", "jon"]
_QUERY_VERBS = ["Book", "Cancel", "Reserve", "Pay", "Refund", "Schedule", "Rent", "Move", "Buy"]
_QUERY_FRAMES = [
    "{verb} {obj} from {a} to {b} on {day} {month}",
    "Please {verb_l} {obj} in {a} for ${amount}",
    "{verb} {obj} for {name}@example.org on 2027-{mm:02d}-{day:02d} at {hour}pm",
    "{verb} order ORD-{n} please",
    "Transfer {amount} GBP to {name}@example.net",
    "{verb} {obj} with id ACC-{n}",
]


def cache_query_texts(count: int, seed: int = 11) -> list[str]:
    """``count`` distinct, realistic query texts (varied intents, places, dates, amounts, ids),
    deterministic for a seed: no text is looked up twice in one pass."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < count:
        verb = rng.choice(_QUERY_VERBS)
        a, b = rng.sample(_CITIES, 2)
        text = rng.choice(_QUERY_FRAMES).format(
            verb=verb,
            verb_l=verb.lower(),
            obj=rng.choice(_OBJECTS),
            a=a,
            b=b,
            day=rng.randint(1, 28),
            month=rng.choice(_MONTHS),
            mm=rng.randint(1, 12),
            hour=rng.randint(1, 11),
            amount=rng.randint(5, 5000),
            name=rng.choice(_NAMES),
            n=rng.randint(10000, 99999),
        )
        seen.setdefault(text, None)
    return list(seen)


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
    index: PlanIndex, embedder: Embedder, *, entries: int, backend: str, queries: int = 1000
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
    prepare_process()  # as open_plan_cache does once a server has loaded its entries
    cache = PlanCache(index, embedder, version=version)
    now = datetime.now(UTC)
    texts = cache_query_texts(queries)
    # Warm the model, graph pages and connection with a search that involves no wording
    # guard, so the guard's and the lemmatiser's memo caches stay cold for the timed pass.
    warm_vector = embedder.embed_one("warm the embedding model up")
    index.search(BENCH_TENANT, warm_vector, 8, time.time())
    for memo in (_content, _wording, lemma, is_common_word):
        memo.cache_clear()
    cold = _timed_pass(cache, texts, now)  # every text new, memo caches cold
    warm = _timed_pass(cache, texts, now)  # the same texts again: memo caches warm
    return {
        "entries": entries,
        "backend": backend,
        "queries": queries,
        "distinct_queries": len(texts),
        "fill_seconds": round(fill_seconds, 1),
        "latency_ms": cold,
        "warm_latency_ms": warm,
    }


def _timed_pass(cache: PlanCache, texts: list[str], now: datetime) -> dict[str, Any]:
    """One lookup per text; p50/p99 per stage, and of the total without the embedding."""
    samples: dict[str, list[float]] = {"embed": [], "search": [], "guards": [], "total": []}
    excluding: list[float] = []
    model: list[float] = []  # the embedding of lookups that ran the model (not remembered)
    for text in texts:
        result = cache.lookup(BENCH_TENANT, text, now)
        for stage in samples:
            samples[stage].append(result.timings[stage])
        excluding.append(result.timings["total"] - result.timings["embed"])
        if result.embedded:
            model.append(result.timings["embed"])
    latency: dict[str, Any] = {stage: percentiles(values) for stage, values in samples.items()}
    latency["excluding_embed"] = percentiles(excluding)
    latency["embed_model"] = percentiles(model)
    latency["model_runs"] = len(model)
    return latency
