"""The checker's view of Temporal: is a goal's workflow running, and what does it say."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from omnihub.config import Settings
from omnihub.errors import OmniHubError
from omnihub.saga import AgentSaga, TemporalSupervisor, connect_temporal, goal_workflow_id
from omnihub.servers import port_open


class TemporalWorkflows:
    """:class:`~omnihub.audit.WorkflowView` backed by a Temporal client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def status(self, tenant_id: str, goal_id: str) -> str | None:
        handle = self.client.get_workflow_handle(goal_workflow_id(tenant_id, goal_id))
        try:
            described = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise
        return described.status.name if described.status is not None else None

    async def state(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        handle = self.client.get_workflow_handle_for(
            AgentSaga.run, goal_workflow_id(tenant_id, goal_id)
        )
        state = await handle.query(AgentSaga.state)
        return state.model_dump(mode="json")


async def reach_temporal(settings: Settings) -> tuple[TemporalWorkflows | None, str]:
    """A view of the configured Temporal, or None and why it cannot be reached.

    The embedded dev server is only looked for, never started: an audit must not bring a
    stopped deployment back to life.
    """
    if settings.temporal_address is None:
        address = TemporalSupervisor(settings.home / "temporal").address
        if address is None:
            return None, "unreachable: no embedded Temporal server was ever started here"
        host, _, port = address.rpartition(":")
        if not port_open(host, int(port)):
            return None, f"unreachable: nothing answers at {address}"
    try:
        client = await connect_temporal(settings)
    except OmniHubError as exc:
        return None, f"unreachable: {exc}"
    return TemporalWorkflows(client), "reachable"
