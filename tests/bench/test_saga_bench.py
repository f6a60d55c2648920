"""`omnihub bench saga`: AgentSaga against bare Temporal, and the worker-kill recovery probe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from omnihub.bench import parse_sizes
from omnihub.cli import app
from omnihub.errors import ValidationError

ISSUE_KEYS = {
    "goals",
    "steps",
    "rate",
    "completed",
    "failed",
    "duplicate_side_effects",
    "start_latency_ms",
    "e2e_latency_ms",
    "goals_per_s",
}


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_saga_prints_the_issue_keys_with_a_baseline_and_recovery() -> None:
    result = CliRunner().invoke(app, ["bench", "saga", "--goals", "4", "--steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) >= ISSUE_KEYS
    assert set(report["baseline"]) >= ISSUE_KEYS
    assert report["completed"] == report["baseline"]["completed"] == 4
    assert report["duplicate_side_effects"] == report["baseline"]["duplicate_side_effects"] == 0
    # The floor: bare Temporal with the saga's design choices (local activities, eager start).
    assert report["floor"]["completed"] == 4
    assert report["floor"]["design"] == "local activities, eager start"
    assert report["overhead_ratio"] == pytest.approx(
        report["baseline"]["goals_per_s"] / report["goals_per_s"], rel=0.01
    )
    recovery = report["recovery"]
    assert recovery["completed"] is True
    assert recovery["next_step_after_new_worker_start_s"] is not None
    # The worker died after the killed step's row had committed; its retry on the new worker
    # found the idempotency key in the ledger instead of inserting again.
    assert (recovery["killed_step"], recovery["killed_step_retried"]) == ("s1", True)
    assert recovery["effects_per_step"] == {"0": 1, "1": 1, "2": 1}
    assert (recovery["duplicate_side_effects"], recovery["missing_side_effects"]) == (0, 0)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_saga_sweeps_sizes_with_a_baseline_at_each() -> None:
    result = CliRunner().invoke(
        app, ["bench", "saga", "--sizes", "2,3", "--steps", "1", "--no-recovery", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [run["goals"] for run in report["sweep"]] == [2, 3]
    for run in report["sweep"]:
        assert set(run) >= ISSUE_KEYS | {"baseline", "overhead_ratio"}
        assert run["completed"] == run["baseline"]["completed"] == run["goals"]
    assert report["goals"] == 3
    assert "recovery" not in report


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_saga_compares_with_dbos_and_kills_each_side() -> None:
    args = "bench saga --goals 3 --steps 2 --no-recovery --compare dbos --json"
    result = CliRunner().invoke(app, args.split())
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    dbos = report["peers"]["dbos"]
    assert set(dbos) >= ISSUE_KEYS
    assert dbos["completed"] == report["completed"] == 3
    assert dbos["duplicate_side_effects"] == 0  # nothing was killed in the timed run
    assert report["ratio"]["dbos"]["goals_per_s"] == pytest.approx(
        report["goals_per_s"] / dbos["goals_per_s"], rel=0.02
    )
    ours, theirs = report["kill"]["omnihub"], report["kill"]["dbos"]
    assert ours["completed"] == 3
    # OmniHub's ledger keeps every effect once across the SIGKILL; DBOS's rows are counted.
    assert (ours["duplicate_side_effects"], ours["missing_side_effects"]) == (0, 0)
    assert theirs["missing_side_effects"] == 0
    assert theirs["rows"] == 6 + theirs["duplicate_side_effects"]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bench_saga_with_tracing_interleaves_rounds_and_traces_every_goal() -> None:
    # Each round runs in a process of its own: tracing, once on, stays on for a process.
    args = "bench saga --goals 3 --steps 1 --no-recovery --tracing --tracing-pairs 2 --json"
    result = subprocess.run(
        [sys.executable, "-m", "omnihub", *args.split()],
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    tracing = json.loads(result.stdout.splitlines()[-1])["tracing"]
    # Pairs in alternating order, so neither half always runs on the later, bigger history.
    assert [r["tracing"] for r in tracing["rounds"]] == ["off", "on", "on", "off"]
    assert all(r["completed"] == 3 and r["cpu_ms_per_goal"] > 0 for r in tracing["rounds"])
    assert tracing["off"]["completed"] == tracing["on"]["completed"] == 6
    lost = tracing["pair_throughput_overhead_pct"]
    assert len(lost) == 2
    assert tracing["throughput_overhead_pct"] == pytest.approx(sum(lost) / 2)
    assert tracing["throughput_overhead_range_pct"] == [min(lost), max(lost)]
    assert tracing["exporter"] == "otlp/http to a collector stand-in process"
    sink = tracing["sink"]
    # Every goal of both traced rounds, their warm-up goals too, is one connected trace.
    assert tracing["traced_goals"] == 2 * (3 + 3)
    assert sink["goal_traces"] == sink["connected_goal_traces"] == tracing["traced_goals"]
    # A one-step goal: the client's start, the workflow's run, two activities (prepare, and
    # the step, whose append also records the goal's end), the tool call and its one
    # statement; the ledger's bookkeeping adds none, and neither do Temporal's zero-length
    # StartActivity spans nor a normal end's CompleteWorkflow (left out by the runtime's
    # interceptor). A new span per goal is a cost the tracing-overhead target pays: change
    # this count deliberately.
    assert sink["span_names"] == {
        "RunActivity:execute_step": 12,
        "RunActivity:prepare_goal": 12,
        "RunWorkflow:AgentSaga": 12,
        "StartWorkflow:AgentSaga": 12,
        "db.sql": 12,
        "tool.bench_effect": 12,
    }
    assert sink["spans_per_goal"] == 6


def test_bench_saga_rejects_bad_sizes() -> None:
    for bad in ("", "100,x", "0,10"):
        with pytest.raises(ValidationError, match="--sizes"):
            parse_sizes(bad)
    assert parse_sizes("100,300,1000") == (100, 300, 1000)
