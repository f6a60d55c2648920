"""`omnihub cache eval | invalidate` end to end (real Redis where asked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnihub.cache import MemoryPlanIndex, PlanCache, RedisPlanIndex
from omnihub.cli import app
from omnihub.embeddings import open_embedder

ROWS = [
    {
        "tenant": "acme",
        "query": f"Pay the €{amount} bill from {who}@x.io",
        "plan": [
            {"tool": "pay", "args": {"to": f"{who}@x.io", "amount": amount, "currency": "EUR"}}
        ],
        "now": "2026-11-24T10:00:00Z",
        "extra": "ignored",
    }
    for amount, who in ((11, "ana"), (12, "ben"), (13, "cy"))
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS), encoding="utf-8")
    return path


def run(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_eval_prints_one_json_object_with_a_baseline(dataset: Path) -> None:
    report = run("cache", "eval", "--dataset", str(dataset), "--json")
    assert (report["queries"], report["hits"], report["false_hits"]) == (3, 2, 0)
    assert report["hit_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert set(report["baseline"]) >= {"hits", "misses", "false_hit_rate", "latency_ms"}  # type: ignore[arg-type]


def test_eval_on_redis(dataset: Path, redis_url: str) -> None:
    report = run(
        "cache", "eval", "--dataset", str(dataset), "--backend", "redis",
        "--redis-url", redis_url, "--threshold", "0.9", "--no-baseline", "--json",
    )  # fmt: skip
    assert (report["backend"], report["hits"], report["threshold"]) == ("redis", 2, 0.9)
    assert "baseline" not in report


def test_eval_rejects_an_empty_dataset(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["cache", "eval", "--dataset", str(empty)])
    assert result.exit_code == 1
    assert "no records" in str(result.exception)


def test_invalidate_by_tenant_and_tool(omnihub_home: Path, redis_url: str) -> None:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    cache = PlanCache(MemoryPlanIndex(omnihub_home / "plan_cache.db"), open_embedder(), version="v")
    cache.store("acme", ROWS[0]["query"], ROWS[0]["plan"], now=now)  # type: ignore[arg-type]
    cache.close()
    assert run("cache", "invalidate", "--tenant", "acme", "--tool", "other") == {
        "tenant": "acme", "tool": "other", "removed": 0,
    }  # fmt: skip
    assert run("cache", "invalidate", "--tenant", "acme", "--tool", "pay")["removed"] == 1
    shared = PlanCache(RedisPlanIndex(redis_url), open_embedder(), version="v")
    shared.store("acme", ROWS[1]["query"], ROWS[1]["plan"], now=now)  # type: ignore[arg-type]
    removed = run("cache", "invalidate", "--tenant", "acme", "--all", "--backend", "redis",
                  "--redis-url", redis_url)  # fmt: skip
    assert removed["removed"] == 1
    both = CliRunner().invoke(app, ["cache", "invalidate", "--tenant", "acme"])
    assert both.exit_code == 1
    assert "exactly one of" in str(both.exception)
