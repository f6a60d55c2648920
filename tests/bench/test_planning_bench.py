"""`omnihub bench planning`: the cache-first flow against the planner alone."""

from __future__ import annotations

import json

import pytest

from omnihub.cli import main


def _run(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr("sys.argv", ["omnihub", *argv])
    try:
        main()
    except SystemExit as exited:
        return exited.code if isinstance(exited.code, int) else 1
    return 0


def test_bench_planning_prints_one_json_object(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, "bench", "planning", "--goals", "12", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["goals"] == 12
    assert result["hits"] + result["misses"] == 12
    assert result["hits"] >= 5  # six intents, each planned once, then served from the cache
    assert set(result["latency_ms"]) == {"p50", "p99"}
    assert result["baseline"]["latency_ms"]["p50"] > 0
    assert result["p50_ratio"] > 0
    assert result["false_hits"] == 0
