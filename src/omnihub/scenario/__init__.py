"""The end-to-end scenario of ``make demo``: the example set (``omnihub.examples``) on the stack."""

from omnihub.scenario._run import (
    GoalRun,
    ScenarioReport,
    render_report,
    run_scenario,
    scenario_settings,
)

__all__ = [
    "GoalRun",
    "ScenarioReport",
    "render_report",
    "run_scenario",
    "scenario_settings",
]
