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
    """S activities in sequence, nothing else; with ``local``, S local activities: the floor,
    the design choices AgentSaga makes for short steps (the benchmark also starts it eagerly)."""

    @workflow.run
    async def run(self, goal: str, steps: int, local: bool = False) -> int:
        call = workflow.execute_local_activity if local else workflow.execute_activity
        for step in range(steps):
            await call(
                "bare_effect",
                args=[goal, step],
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return steps
