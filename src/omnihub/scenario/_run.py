"""The end-to-end scenario behind ``make demo``: the whole stack, driven through its API.

Several goals are planned by the playbook planner; paraphrased repeats come from the plan
cache; a declined card mid-saga undoes the earlier steps last-first; a bank transfer waits
for a person who approves it through the API; ``audit verify`` passes at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from omnihub.config import Settings
from omnihub.errors import ServerError

_GOAL_TIMEOUT_S = 60.0


@dataclass
class GoalRun:
    """One goal of the scenario and how it ended."""

    label: str
    goal: str
    goal_id: str = ""
    status: str = ""
    source: str = ""
    outcome: str = ""
    seconds: float = 0.0
    compensations: list[str] = field(default_factory=list)


@dataclass
class ScenarioReport:
    runs: list[GoalRun]
    cache_stats: dict[str, Any]
    usage: dict[str, Any]
    audit_ok: bool
    audit_events: int
    seconds: float

    @property
    def planned(self) -> list[GoalRun]:
        return [r for r in self.runs if r.source in ("cache", "playbook", "llm")]

    @property
    def hit_rate(self) -> float:
        planned = self.planned
        return sum(r.source == "cache" for r in planned) / len(planned) if planned else 0.0


def scenario_settings(home: Path, **overrides: Any) -> Settings:
    """Settings for the scenario: its own home and the example set's tables and playbooks."""
    from omnihub.config import load_settings
    from omnihub.examples import example_settings

    options: dict[str, Any] = {"home": home, "planner": "playbook", "tenant_id": "demo"}
    options.update(overrides)
    return example_settings(load_settings(**options))


def _decline_next_charge(settings: Settings, reason: str) -> None:
    from omnihub.tools import open_database

    database = open_database(settings.resolved_tools_database_url)
    try:
        with database.transaction() as cursor:
            cursor.execute("INSERT INTO payment_failures (reason) VALUES (?)", (reason,))
    finally:
        database.close()


class _Driver:
    """Submits goals through the API and waits for them."""

    def __init__(self, api: httpx.AsyncClient, outcomes: dict[str, Any], approver_key: str) -> None:
        self.api = api
        self.outcomes = outcomes
        # A second person's key: nobody approves their own goal's steps.
        self.approver = {"Authorization": f"Bearer {approver_key}"}

    async def submit(self, run: GoalRun) -> None:
        response = await self.api.post("/v1/goals", json={"goal": run.goal})
        response.raise_for_status()
        run.goal_id = response.json()["goal_id"]

    async def wait(self, run: GoalRun, *statuses: str) -> dict[str, Any]:
        started = time.monotonic()
        async with asyncio.timeout(_GOAL_TIMEOUT_S):
            while True:
                state: dict[str, Any] = (await self.api.get(f"/v1/goals/{run.goal_id}")).json()
                if state.get("status") in statuses:
                    break
                await asyncio.sleep(0.1)
        run.seconds += time.monotonic() - started
        run.status = str(state["status"])
        outcome = self.outcomes.get(run.goal_id)
        run.source = getattr(outcome, "source", "") or run.source
        result = state.get("result")
        if isinstance(result, dict) and result.get("answer"):
            run.outcome = str(result["answer"])
        elif state.get("error"):
            run.outcome = str(state["error"])
        run.compensations = [
            f"{c['step_id']} ({c['tool_name']}: {c['status']})" for c in state["compensations"]
        ]
        return state

    async def run(self, run: GoalRun) -> GoalRun:
        await self.submit(run)
        await self.wait(run, "completed", "failed", "cancelled")
        return run


async def run_scenario(settings: Settings, console: Console) -> ScenarioReport:
    """Run the scenario on a fresh stack under ``settings.home``; stop the stack at the end."""
    from omnihub.api import run_stack
    from omnihub.auth import Role
    from omnihub.events import verify_store
    from omnihub.examples import prepare_examples
    from omnihub.runtime import StackInfo, open_key_store, open_planner, open_store
    from omnihub.servers import free_port

    started = time.monotonic()
    examples = await asyncio.to_thread(prepare_examples, settings)
    settings, registry = examples.settings, examples.registry
    keys = open_key_store(settings)
    try:
        operator = keys.create(settings.tenant_id, Role.OPERATOR).key
        approver = keys.create(settings.tenant_id, Role.OPERATOR).key
    finally:
        keys.close()
    provider, planning = open_planner(settings, registry)
    ready: asyncio.Future[StackInfo] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    console.print("starting the embedded stack (Temporal, worker, API)…")
    stack = asyncio.create_task(
        run_stack(
            settings,
            port=free_port(),
            registry=registry,
            planner=provider,
            on_ready=ready.set_result,
            stop=stop,
        )
    )
    try:
        either: list[asyncio.Future[Any]] = [stack, ready]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            await stack  # raises what went wrong
            raise ServerError("the stack stopped before it was ready")
        info = ready.result()
        console.print(f"stack up: API {info.api_url}, Temporal {info.temporal_address}")
        headers = {"Authorization": f"Bearer {operator}"}
        async with httpx.AsyncClient(base_url=info.api_url, headers=headers, timeout=60) as api:
            runs = await _drive(_Driver(api, provider.outcomes, approver), settings, console)
            cache_stats = (await api.get("/v1/cache/stats")).json()
            usage = (await api.get("/v1/usage")).json()
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await stack
        await planning.aclose()
    with open_store(settings) as store:
        audit = verify_store(store)
    return ScenarioReport(
        runs,
        cache_stats,
        usage,
        audit.ok,
        audit.events,
        time.monotonic() - started,
    )


async def _drive(driver: _Driver, settings: Settings, console: Console) -> list[GoalRun]:
    runs: list[GoalRun] = []

    async def step(label: str, goal: str) -> GoalRun:
        console.print(f"[bold]{label}[/]: {goal}", highlight=False)
        run = await driver.run(GoalRun(label, goal))
        runs.append(run)
        console.print(f"  → {run.status} ({run.source}) {run.outcome}", highlight=False)
        return run

    await step("new request", "Book a trip from Lyon to Nice on 3 March 2027")
    await step("same request, new values", "Book a trip from Turin to Bern on 4 April 2027")
    await step("paraphrase", "Please book a trip from Paris to Berlin on 14 May 2027")
    wire = GoalRun("approval", "Wire 1200 EUR to supplier@example.com")
    console.print(f"[bold]{wire.label}[/]: {wire.goal}", highlight=False)
    await driver.submit(wire)
    await driver.wait(wire, "awaiting_approval")
    console.print("  waiting for approval; a second operator approves step 'wire' (API)")
    decision = {"decision": "approve", "reason": "supplier invoice checked"}
    approved = await driver.api.post(
        f"/v1/goals/{wire.goal_id}/approvals/wire", json=decision, headers=driver.approver
    )
    approved.raise_for_status()
    await driver.wait(wire, "completed", "failed", "cancelled")
    runs.append(wire)
    console.print(f"  → {wire.status} ({wire.source}) {wire.outcome}", highlight=False)
    _decline_next_charge(settings, "insufficient funds")
    failed = await step("card declined", "Arrange a trip from Madrid to Seville on 12 June 2027")
    console.print(f"  compensations, last step first: {', '.join(failed.compensations)}")
    return runs


def render_report(report: ScenarioReport, console: Console) -> None:
    """The summary table and figures printed at the end of ``make demo``."""
    table = Table(title="OmniHub end-to-end scenario")
    for column in ("#", "what", "goal", "plan", "status", "s", "result / compensations"):
        table.add_column(column, overflow="fold")
    for i, run in enumerate(report.runs, 1):
        detail = run.outcome
        if run.compensations:
            detail += "\nundone: " + ", ".join(run.compensations)
        table.add_row(
            str(i), run.label, run.goal, run.source, run.status, f"{run.seconds:.1f}", detail
        )
    console.print(table)
    console.print(
        f"plan-cache hit rate: {report.hit_rate:.0%} of {len(report.planned)} planned goals "
        f"(ledger: {report.usage.get('totals', {}).get('cache_hits', 0)} cache hits, "
        f"{report.usage.get('totals', {}).get('calls', 0)} LLM calls)",
        highlight=False,
    )
    verdict = "[green]intact[/]" if report.audit_ok else "[red]BROKEN[/]"
    console.print(f"audit verify: {verdict} ({report.audit_events} events)")
    console.print(f"finished in {report.seconds:.1f} s")
