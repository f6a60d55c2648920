"""The chaos suite (``omnihub chaos``): goals on real servers and worker processes while
tools fail and processes are killed, then proof that nothing was lost or done twice."""

from omnihub.chaos._driver import ChaosOptions, ChaosRun, run_chaos
from omnihub.chaos._schedule import GoalPlan, Kill, Schedule, make_schedule
from omnihub.chaos._sinks import HttpSink, SinkLog, SmtpSink
from omnihub.chaos._tools import chaos_tools

__all__ = [
    "ChaosOptions",
    "ChaosRun",
    "GoalPlan",
    "HttpSink",
    "Kill",
    "Schedule",
    "SinkLog",
    "SmtpSink",
    "chaos_tools",
    "make_schedule",
    "run_chaos",
]
