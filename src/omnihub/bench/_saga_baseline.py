"""The benchmark's baseline: a bare Temporal workflow running the same activity S times in
sequence, with no OmniHub layer (no plan, events, ledger or compensation)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio import activity, workflow

from omnihub.tools import SqlDatabase


class BareEffects:
    """The baseline's activity: the same row insert as the saga benchmark's tool, unguarded."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    @activity.defn(name="bare_effect")
    async def bare_effect(self, goal: str, step: int) -> str:
        row_id = uuid.uuid4().hex

        def insert() -> None:
            with self.database.transaction() as cursor:
                cursor.execute(
                    "INSERT INTO baseline_effects (id, goal, step) VALUES (?, ?, ?)",
                    (row_id, goal, str(step)),
                )

        await asyncio.to_thread(insert)
        return row_id


@workflow.defn(name="BareBenchmark")
class BareBenchmark:
    """S activities in sequence, nothing else."""

    @workflow.run
    async def run(self, goal: str, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_activity(
                "bare_effect",
                args=[goal, step],
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return steps


@workflow.defn(name="BareLocalBenchmark")
class BareLocalBenchmark:
    """The floor: S local activities in sequence (started eagerly by the benchmark), the
    design choices AgentSaga makes for short steps, with nothing else."""

    @workflow.run
    async def run(self, goal: str, steps: int) -> int:
        for step in range(steps):
            await workflow.execute_local_activity(
                "bare_effect",
                args=[goal, step],
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return steps
