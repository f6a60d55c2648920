"""`omnihub bench saga --workers N`: both sides on N worker processes, on PostgreSQL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from omnihub.cli import app


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_saga_with_worker_processes_runs_both_sides_on_them() -> None:
    result = CliRunner().invoke(
        app, ["bench", "saga", "--goals", "6", "--steps", "2", "--workers", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["workers"], report["baseline"]["workers"]) == (2, 2)
    assert report["store"] == "postgresql"
    assert report["completed"] == report["baseline"]["completed"] == 6
    assert report["duplicate_side_effects"] == report["baseline"]["duplicate_side_effects"] == 0
    assert report["goals_per_s"] > 0
    assert report["baseline"]["goals_per_s"] > 0
    assert "recovery" not in report
