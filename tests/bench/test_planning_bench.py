"""`omnihub bench planning`: the cache-first flow against the planner alone."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from omnihub.cli import app


def test_bench_planning_prints_one_json_object() -> None:
    invoked = CliRunner().invoke(app, ["bench", "planning", "--goals", "12", "--json"])
    assert invoked.exit_code == 0, invoked.output
    result = json.loads(invoked.stdout)
    assert result["goals"] == 12
    assert result["hits"] + result["misses"] == 12
    assert result["hits"] >= 5  # six intents, each planned once, then served from the cache
    assert set(result["latency_ms"]) == {"p50", "p99"}
    assert result["baseline"]["latency_ms"]["p50"] > 0
    assert result["p50_ratio"] > 0
    assert result["false_hits"] == 0
