"""A replayed workflow does not trace its work again: Temporal's OpenTelemetry interceptor,
as the runtime installs it, creates no span while a workflow task replays history."""

from __future__ import annotations

import sys
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from omnihub.plans import Plan, PlanStep
from omnihub.saga import AgentSaga, SagaClient, workflow_runner
from omnihub.servers import EmbeddedTemporal
from omnihub.telemetry import temporal_interceptors

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "saga"))
from sagakit import saga_stack


async def test_replaying_a_traced_goal_adds_no_spans(
    temporal_server: EmbeddedTemporal, tmp_path: Path
) -> None:
    # A provider of the test's own (the process-wide one is left alone), passed to the
    # interceptor as the runtime's would be.
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    (interceptor,) = temporal_interceptors(provider.get_tracer("test"))
    plan = Plan(
        steps=[
            PlanStep(
                id="a",
                tool="database_write",
                args={"table": "orders", "values": {"sku": "a", "qty": 1}},
            ),
            PlanStep(id="b", tool="always_fails", depends_on=["a"]),
        ]
    )
    async with saga_stack(temporal_server, tmp_path) as stack:
        config = stack.client.config()
        config["interceptors"] = [interceptor]
        traced = Client(**config)
        sagas = SagaClient(traced, task_queue=stack.task_queue)
        async with stack.worker(client=traced):
            goal_id = await sagas.start("traced then replayed", plan)
            assert (await sagas.result(goal_id)).status == "failed"
        history = await sagas.handle(goal_id).fetch_history()
    ran = [span.name for span in exporter.get_finished_spans()]
    assert "RunWorkflow:AgentSaga" in ran
    # The runtime's interceptor leaves out the zero-length StartActivity spans: the
    # activity's own span is the one to count.
    assert ran.count("RunActivity:compensate_step") == 1
    assert not [name for name in ran if name.startswith("StartActivity:")]
    # Still one connected trace: each activity's span is a child of the workflow's context.
    finished = exporter.get_finished_spans()
    ids = {s.context.span_id for s in finished if s.context is not None}
    roots = [s.name for s in finished if s.parent is None or s.parent.span_id not in ids]
    assert roots == ["StartWorkflow:AgentSaga"]
    replayer = Replayer(
        workflows=[AgentSaga],
        interceptors=[interceptor],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(),
    )
    await replayer.replay_workflow(history)
    assert [span.name for span in exporter.get_finished_spans()] == ran
    provider.shutdown()
