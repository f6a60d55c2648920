"""The end-to-end scenario of ``make demo``: a small travel-and-payments domain on the stack."""

from omnihub.scenario._run import (
    GoalRun,
    ScenarioReport,
    render_report,
    run_scenario,
    scenario_settings,
)
from omnihub.scenario._tools import demo_tools

__all__ = [
    "GoalRun",
    "ScenarioReport",
    "demo_tools",
    "render_report",
    "run_scenario",
    "scenario_settings",
]
