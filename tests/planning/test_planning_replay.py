"""`omnihub bench planning --llm scripted` and `omnihub bench planning-memory`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from omnihub.bench import replay_traffic
from omnihub.cli import app


def test_replayed_traffic_mixes_repeats_near_repeats_noise_and_new_intents() -> None:
    traffic = replay_traffic(300, seed=3)
    kinds = {request.kind for request in traffic}
    assert kinds == {"new_intent", "repeat", "near", "noisy"}
    assert traffic[0].kind == "new_intent"
    noisy = [r for r in traffic if r.kind == "noisy"]
    assert all(r.text != r.clean for r in noisy[:20])
    assert replay_traffic(300, seed=3) == traffic  # seeded: the same replay every time


def test_bench_planning_against_the_scripted_llm_prints_savings_and_wrong_plans() -> None:
    invoked = CliRunner().invoke(
        app, ["bench", "planning", "--llm", "scripted", "--goals", "40", "--json"]
    )
    assert invoked.exit_code == 0, invoked.output
    result = json.loads(invoked.stdout)
    assert result["goals"] == 40
    misses = 40 - result["llm_calls_avoided"]
    assert result["llm_calls"] == misses  # every miss asked the LLM once, every hit never
    assert result["by_kind"]["new_intent"]["hit_rate"] == 0.0
    assert result["by_kind"]["repeat"]["hit_rate"] == 1.0
    assert result["tokens"]["saved"] > result["tokens"]["spent"] > 0
    assert result["cost_usd"]["saved"] > 0
    assert result["wrong_plans_served"] == 0


def test_bench_planning_memory_prints_the_heap_bounded_and_unbounded() -> None:
    invoked = CliRunner().invoke(app, ["bench", "planning-memory", "--goals", "200"])
    assert invoked.exit_code == 0, invoked.output
    result = json.loads(invoked.stdout)
    assert result["bounded"]["outcomes_kept"] == 200
    assert len(result["unbounded"]["heap"]) == 10
    assert result["unbounded_growth_kib"] > 0
