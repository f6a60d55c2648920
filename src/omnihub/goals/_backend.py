"""What runs goals under the goal service, and its real implementation on the saga.

Reads come from the event store (the goal index for lists, the GoalState projection and the
raw events for one goal, all scoped to the tenant by the store); starting and steering goes
through :class:`omnihub.saga.SagaClient`, whose workflow ids embed the tenant, so one tenant
can never address another's workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from omnihub.auth import Principal
from omnihub.errors import (
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
    ValidationError,
)
from omnihub.events import (
    EventEnvelope,
    EventStore,
    GoalState,
    SQLiteEventStore,
)
from omnihub.goals._models import (
    ControlAction,
    GoalAccepted,
    GoalDecision,
    GoalPage,
    GoalRequest,
    StreamEvent,
)

# The saga (and Temporal's SDK) is imported where a goal is started or steered, not with the
# package: the goal models and the official client import this package and stay light.
if TYPE_CHECKING:
    from omnihub.saga import SagaClient

TERMINAL_EVENTS = frozenset({"GoalCompleted", "GoalFailed", "GoalCancelled"})


class GoalBackend(Protocol):
    """Goals of one tenant as the runtime keeps them: start, read, follow and steer. Every
    call takes the caller's tenant and never returns another tenant's data (NotFoundError)."""

    async def submit(
        self,
        tenant_id: str,
        goal_id: str,
        request: GoalRequest,
        *,
        submitter: Principal | None = None,
    ) -> GoalAccepted:
        """Start the goal ``goal_id`` for ``submitter`` (the policy's principal); GoalExistsError
        if that id was started before."""
        ...

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        """The goal's state (the GoalState projection as JSON); NotFoundError if absent."""
        ...

    async def list_goals(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> GoalPage:
        """Goals of the tenant, newest first, optionally with one status."""
        ...

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int, limit: int
    ) -> list[dict[str, Any]]:
        """The goal's stored events after ``after_version``, oldest first."""
        ...

    def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int
    ) -> AsyncIterator[StreamEvent]:
        """The goal's events after ``after_version``, then live ones until the goal ends."""
        ...

    async def decide(
        self,
        tenant_id: str,
        goal_id: str,
        step_id: str,
        decision: GoalDecision,
        actor: str,
        *,
        approver: Principal | None = None,
    ) -> dict[str, Any]:
        """Approve or reject a waiting step; returns the state once the workflow accepted it.
        An approval by the API key ``approver`` is judged by the tenant's ``approve`` policy
        first (PermissionDeniedError: by default nobody approves their own goal's steps)."""
        ...

    async def control(
        self, tenant_id: str, goal_id: str, action: ControlAction, reason: str | None, actor: str
    ) -> GoalAccepted:
        """Send cancel, pause or resume to a running goal."""
        ...


@contextlib.contextmanager
def temporal_errors(goal_id: str) -> Iterator[None]:
    """Translate a Temporal RPC error that got past the saga client's retries into a typed
    error the adapters answer with a clear 4xx or 503 (never a 500)."""
    from temporalio.service import RPCError, RPCStatusCode

    try:
        yield
    except RPCError as exc:
        status = exc.status
        if status == RPCStatusCode.NOT_FOUND:
            raise NotFoundError(f"goal {goal_id!r} does not exist") from exc
        if status in (
            RPCStatusCode.INVALID_ARGUMENT,
            RPCStatusCode.FAILED_PRECONDITION,
            RPCStatusCode.OUT_OF_RANGE,
        ):
            raise ValidationError(f"Temporal refused the request: {exc.message}") from exc
        raise StoreUnavailableError(
            f"Temporal is not answering ({status.name if status else 'unknown'}); try again shortly"
        ) from exc


def _approval_decision(
    store: EventStore, tenant_id: str, goal_id: str, approver: Principal
) -> tuple[bool, str]:
    """Whether the tenant's policies let ``approver`` approve a step of ``goal_id``, and why."""
    from omnihub.guard import PolicyStore
    from omnihub.guard import Principal as PolicyPrincipal

    events = store.read_stream(tenant_id, goal_id)
    if not events:
        raise NotFoundError(f"goal {goal_id} not found")
    submitter = getattr(events[0].payload, "submitter_id", None)
    decision = (
        PolicyStore(store)
        .engine(tenant_id)
        .evaluate(
            # The same principal the worker's policy checks use for the goal's submitter.
            PolicyPrincipal(
                id=approver.key_id, tenant=tenant_id, role=approver.role.value, kind="ApiKey"
            ),
            "approve",
            ("Goal", goal_id),
            {
                "tenant": tenant_id,
                "is_submitter": submitter is not None and submitter == approver.key_id,
                "hour": datetime.now(UTC).hour,
            },
        )
    )
    return decision.outcome == "permit", decision.reason


def _event_json(event: EventEnvelope) -> dict[str, Any]:
    data: dict[str, Any] = event.model_dump(mode="json")
    return data


class SagaGoalBackend:
    """:class:`GoalBackend` on the event store and the AgentSaga workflow.

    The store's calls are synchronous, so they run in worker threads. Live streams follow the
    store's subscription where its notifications cross processes (PostgreSQL's LISTEN/NOTIFY:
    the worker appending the events may be on another machine); on SQLite, whose
    notifications stay inside one process, they poll the goal's stream (an indexed read)
    every ``poll_interval`` seconds. ``notified`` overrides that choice.
    """

    def __init__(
        self,
        store: EventStore,
        sagas: SagaClient | None,
        *,
        poll_interval: float = 0.2,
        notified: bool | None = None,
        wait_s: float = 1.0,
    ) -> None:
        self.store = store
        self._sagas = sagas
        self.poll_interval = poll_interval
        self.notified = not isinstance(store, SQLiteEventStore) if notified is None else notified
        # How long one wait for a notification lasts: a closed stream's waiting thread
        # ends within it.
        self.wait_s = wait_s

    def _check_approver(self, tenant_id: str, goal_id: str, approver: Principal) -> None:
        allowed, why = _approval_decision(self.store, tenant_id, goal_id, approver)
        if not allowed:
            raise PermissionDeniedError(why)

    @property
    def sagas(self) -> SagaClient:
        """The saga client; ConfigurationError when built for reading only (no Temporal)."""
        if self._sagas is None:
            raise ConfigurationError("no OmniHub stack is running: start one with `omnihub up`")
        return self._sagas

    async def _read(
        self, tenant_id: str, goal_id: str, from_version: int = 1
    ) -> list[EventEnvelope]:
        return await asyncio.to_thread(self.store.read_stream, tenant_id, goal_id, from_version)

    async def _exists_in_temporal(self, tenant_id: str, goal_id: str) -> bool:
        if self._sagas is None:
            return False
        with temporal_errors(goal_id):
            return await self.sagas.exists(goal_id, tenant_id)

    async def state(self, tenant_id: str, goal_id: str) -> GoalState:
        """The goal's GoalState; NotFoundError if neither its events nor Temporal know it."""
        state = await asyncio.to_thread(self.store.goal_state, tenant_id, goal_id)
        if state.event_count:
            return state
        # Started, but its first event is not recorded yet: known to Temporal only.
        if await self._exists_in_temporal(tenant_id, goal_id):
            return GoalState(goal_id=goal_id, tenant_id=tenant_id, status="new")
        raise NotFoundError(f"goal {goal_id!r} of tenant {tenant_id!r} has no events (yet)")

    async def submit(
        self,
        tenant_id: str,
        goal_id: str,
        request: GoalRequest,
        *,
        submitter: Principal | None = None,
    ) -> GoalAccepted:
        with temporal_errors(goal_id):
            await self.sagas.start(
                request.goal,
                request.plan,
                goal_id=goal_id,
                tenant_id=tenant_id,
                user_id=request.user_id or "api",
                context=request.context,
                deadline_s=request.deadline_s,
                submitter_id=submitter.key_id if submitter else None,
                submitter_role=submitter.role.value if submitter else "operator",
            )
        return GoalAccepted(goal_id=goal_id, status="new")

    async def get(self, tenant_id: str, goal_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.state(tenant_id, goal_id)).model_dump(mode="json")
        return data

    async def list_goals(
        self, tenant_id: str, *, status: str | None, limit: int, cursor: str | None
    ) -> GoalPage:
        # The cursor is the index position of the last goal of the previous page.
        before = int(cursor) if cursor is not None and cursor.isdigit() else None
        found = await asyncio.to_thread(
            self.store.list_goals, tenant_id, status=status, limit=limit + 1, before=before
        )
        page = found[:limit]
        items = [entry.summary.model_dump(mode="json") for entry in page]
        more = len(found) > limit
        return GoalPage(items=items, next_cursor=str(page[-1].position) if more else None)

    async def events(
        self, tenant_id: str, goal_id: str, *, after_version: int, limit: int
    ) -> list[dict[str, Any]]:
        await self.state(tenant_id, goal_id)  # 404 for another tenant's or no goal
        events = await self._read(tenant_id, goal_id, after_version + 1)
        return [_event_json(e) for e in events[:limit]]

    async def stream(
        self, tenant_id: str, goal_id: str, *, after_version: int
    ) -> AsyncIterator[StreamEvent]:
        # One full read first: it says whether the goal has ended (a stream opened after the
        # final event sends what is left and ends, instead of waiting for events that will
        # never come) and where the goal stands in the tenant's global order.
        events = await self._read(tenant_id, goal_id)
        sent = after_version
        for event in events:
            if event.stream_version > sent:
                sent = event.stream_version
                yield StreamEvent(sent, event.event_type, _event_json(event))
        if any(event.event_type in TERMINAL_EVENTS for event in events):
            return
        live = self._follow if self.notified else self._poll
        position = events[-1].global_position if events else None
        async for item in live(tenant_id, goal_id, sent, position):
            yield item

    async def _poll(
        self, tenant_id: str, goal_id: str, sent: int, position: int | None
    ) -> AsyncIterator[StreamEvent]:
        """Live events by reading the goal's stream (an indexed read) every poll interval."""
        while True:
            await asyncio.sleep(self.poll_interval)
            for event in await self._read(tenant_id, goal_id, sent + 1):
                sent = event.stream_version
                yield StreamEvent(sent, event.event_type, _event_json(event))
                if event.event_type in TERMINAL_EVENTS:
                    return

    async def _follow(
        self, tenant_id: str, goal_id: str, sent: int, position: int | None
    ) -> AsyncIterator[StreamEvent]:
        """Live events from the store's subscription: it wakes on the store's notification
        (LISTEN/NOTIFY on PostgreSQL) from any process, instead of polling."""
        while position is None:  # started, nothing recorded yet: wait for the first event
            await asyncio.sleep(self.poll_interval)
            first = await self._read(tenant_id, goal_id)
            position = first[0].global_position - 1 if first else None
        subscription = await asyncio.to_thread(
            self.store.subscribe, tenant_id, position, poll_interval=self.wait_s
        )
        try:
            while True:
                batch = await asyncio.to_thread(subscription.poll, self.wait_s)
                for event in batch:
                    if event.stream_id != goal_id or event.stream_version <= sent:
                        continue
                    sent = event.stream_version
                    yield StreamEvent(sent, event.event_type, _event_json(event))
                    if event.event_type in TERMINAL_EVENTS:
                        return
        finally:
            subscription.stop()
            await asyncio.to_thread(subscription.close)

    async def decide(
        self,
        tenant_id: str,
        goal_id: str,
        step_id: str,
        decision: GoalDecision,
        actor: str,
        *,
        approver: Principal | None = None,
    ) -> dict[str, Any]:
        from omnihub.saga import ApprovalDecision

        if approver is not None and decision.decision == "approve":
            await asyncio.to_thread(self._check_approver, tenant_id, goal_id, approver)
        with temporal_errors(goal_id):
            await self.sagas.decide(
                goal_id,
                ApprovalDecision(
                    step_id=step_id,
                    approved=decision.decision == "approve",
                    decided_by=actor,
                    reason=decision.reason,
                ),
                tenant_id,
            )
        return await self.get(tenant_id, goal_id)

    async def control(
        self, tenant_id: str, goal_id: str, action: ControlAction, reason: str | None, actor: str
    ) -> GoalAccepted:
        from omnihub.saga import ControlRequest

        request = ControlRequest(by=actor, reason=reason)
        with temporal_errors(goal_id):
            if action == "cancel":
                await self.sagas.cancel(goal_id, request, tenant_id)
            elif action == "pause":
                await self.sagas.pause(goal_id, request, tenant_id)
            else:
                await self.sagas.resume(goal_id, request, tenant_id)
            state = await self.sagas.state(goal_id, tenant_id)
        return GoalAccepted(goal_id=goal_id, status=state.status)
