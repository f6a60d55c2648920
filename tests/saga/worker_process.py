"""A saga worker in its own process, for the crash-recovery tests (killed with SIGKILL).

Usage: python worker_process.py ADDRESS TASK_QUEUE DB_PATH SLOW_SECONDS
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

sys.path.insert(0, str(Path(__file__).parent))

from sagakit import make_resources, slow_write_tool

from omnihub.events import open_event_store
from omnihub.guard import Guard
from omnihub.saga import SagaActivities, build_worker
from omnihub.tools import default_registry


async def main(address: str, task_queue: str, db_path: Path, slow_s: float) -> None:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    store = open_event_store(f"sqlite:///{db_path}")
    resources = make_resources(db_path)
    registry = default_registry([slow_write_tool(slow_s)])
    activities = SagaActivities(registry, resources, store, guard=Guard.permitting(registry))
    async with build_worker(client, activities, task_queue=task_queue):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])))
    finally:
        sys.stdout.flush()
        os._exit(0)
