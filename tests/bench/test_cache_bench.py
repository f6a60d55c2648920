"""`omnihub cache bench`: fills an index with synthetic entries and times real lookups."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from omnihub.bench import cache_query_texts
from omnihub.cli import app


def run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_bench_fills_and_measures(redis_url: str) -> None:
    memory = run("cache", "bench", "--entries", "300", "--queries", "20", "--json")
    assert (memory["entries"], memory["backend"]) == (300, "memory")
    latency = memory["latency_ms"]
    assert isinstance(latency, dict)
    stages = {"embed", "search", "guards", "total", "excluding_embed", "embed_model"}
    assert set(latency) == stages | {"model_runs"}
    assert latency["total"]["p99"] >= latency["excluding_embed"]["p99"] > 0
    # A new cache: the first lookup of each template runs the model, none is remembered yet.
    assert 0 < latency["model_runs"] < 20
    assert latency["embed_model"]["p50"] > 0
    assert memory["distinct_queries"] == 20
    warm = memory["warm_latency_ms"]
    assert isinstance(warm, dict)
    assert set(warm) == set(latency)
    assert warm["model_runs"] == 0  # every template's vector is remembered by now
    on_redis = run(
        "cache", "bench", "--entries", "300", "--queries", "10", "--backend", "redis",
        "--redis-url", redis_url, "--threads", "2", "--json",
    )  # fmt: skip
    assert on_redis["backend"] == "redis"


def test_query_texts_are_distinct_and_deterministic() -> None:
    texts = cache_query_texts(1000)
    assert len(set(texts)) == 1000
    assert texts == cache_query_texts(1000)
    assert texts[:10] != cache_query_texts(1000, seed=12)[:10]
