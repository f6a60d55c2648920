"""The end-to-end scenario of ``make demo`` on the real stack (the session's Temporal server)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from rich.console import Console

import omnihub.scenario
from omnihub.scenario import render_report, run_scenario, scenario_settings
from omnihub.servers import EmbeddedTemporal


def test_scenario_public_names() -> None:
    assert omnihub.scenario.__all__ == [
        "GoalRun",
        "ScenarioReport",
        "render_report",
        "run_scenario",
        "scenario_settings",
    ]


@pytest.mark.slow
async def test_the_scenario_plans_hits_the_cache_compensates_approves_and_verifies(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    settings = scenario_settings(tmp_path / "home", temporal_address=temporal_server.address)
    console = Console(record=True, width=160)
    report = await run_scenario(settings, console)
    runs = report.runs
    assert [r.status for r in runs] == ["completed"] * 4 + ["failed"]
    assert [r.source for r in runs] == ["playbook", "cache", "cache", "playbook", "playbook"]
    assert runs[1].outcome == "Your trip from Turin to Bern on 2027-04-04 is booked and paid."
    assert runs[3].outcome == "Sent 1200.0 EUR to supplier@example.com."
    assert runs[4].outcome == "ToolError: card declined: insufficient funds"
    # Last done, first undone: the seat hold, then the booking.
    assert [c.split(" ")[0] for c in runs[4].compensations] == ["seat", "book"]
    assert report.hit_rate == pytest.approx(2 / 5)
    assert report.usage["totals"]["cache_hits"] == 2
    assert report.audit_ok
    assert report.audit_events > 0

    with sqlite3.connect(settings.home / "events.db") as db:
        bookings = db.execute("SELECT origin FROM bookings ORDER BY origin").fetchall()
        payments = db.execute("SELECT kind, status FROM payments ORDER BY kind").fetchall()
        seats = db.execute("SELECT count(*) FROM seats").fetchone()
    assert [b[0] for b in bookings] == ["Lyon", "Paris", "Turin"]  # Madrid was undone
    assert seats == (3,)
    assert payments == [("card", "captured")] * 3 + [("wire", "captured")]

    render_report(report, console)
    text = console.export_text()
    assert "plan-cache hit rate: 40% of 5 planned goals" in text
    assert "audit verify: intact" in text
