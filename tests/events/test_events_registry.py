"""The open event registry: registration, upcasting v1 -> v2, typed errors on bad payloads."""

from __future__ import annotations

import json

import pytest

from omnihub.errors import SchemaVersionError, UnknownEventTypeError, ValidationError
from omnihub.events import (
    ApprovalGranted,
    ApprovalGrantedV1,
    ApprovalRejected,
    ApprovalRejectedV1,
    EventPayload,
    EventRegistry,
    EventStore,
    NewEvent,
    PlanGenerated,
    PlanGeneratedV1,
    PlanGeneratedV2,
    PlanStepV1,
    ToolExecuted,
    ToolExecutedV1,
    default_registry,
    register_event,
    register_upcaster,
)
from omnihub.plans import PlanStep


def test_tool_executed_v1_is_upcast_to_v2_on_read(store: EventStore) -> None:
    old = ToolExecutedV1(tool_name="search", input={"q": "x"}, output=[1, 2], duration_s=1.25)
    store.append("acme", "g", [NewEvent(payload=old)])
    record = next(iter(store.iter_records("acme")))
    assert record.schema_version == 1
    assert json.loads(record.payload)["duration_s"] == 1.25
    event = store.read_stream("acme", "g")[0]
    assert event.schema_version == 2
    assert event.payload == ToolExecuted(
        tool_name="search", input={"q": "x"}, output=[1, 2], duration_ms=1250.0, attempt=1
    )


def test_approval_decisions_v1_are_upcast_to_v2_without_inventing_a_binding(
    store: EventStore,
) -> None:
    granted = ApprovalGrantedV1(step_id="pay", decided_by="ann")
    rejected = ApprovalRejectedV1(step_id="pay", decided_by="bob", timed_out=True)
    store.append("acme", "g", [NewEvent(payload=granted), NewEvent(payload=rejected)])
    first, second = store.read_stream("acme", "g")
    assert (first.schema_version, second.schema_version) == (2, 2)
    assert first.payload == ApprovalGranted(
        step_id="pay", tool_name=None, args_hash=None, decided_by="ann"
    )
    assert second.payload == ApprovalRejected(step_id="pay", decided_by="bob", timed_out=True)


@pytest.mark.parametrize("old_model", [PlanGeneratedV1, PlanGeneratedV2])
def test_plan_generated_v1_and_v2_are_upcast_to_the_one_plan_step_shape(
    store: EventStore, old_model: type[PlanGeneratedV1] | type[PlanGeneratedV2]
) -> None:
    old = old_model(
        plan_id="p",
        source="playbook",
        steps=[
            PlanStepV1(step_id="book", tool_name="hotel.book", args={"n": 2}),
            PlanStepV1(
                step_id="pay",
                tool_name="card.charge",
                depends_on=["book"],
                compensation="card.refund",
                description="charge the card",
            ),
        ],
    )
    store.append("acme", "g", [NewEvent(payload=old)])
    record = next(iter(store.iter_records("acme")))
    assert json.loads(record.payload)["steps"][0]["step_id"] == "book"  # stored as written
    event = store.read_stream("acme", "g")[0]
    assert event.schema_version == 3
    assert event.payload == PlanGenerated(
        plan_id="p",
        source="playbook",
        steps=[
            PlanStep(id="book", tool="hotel.book", args={"n": 2}),
            PlanStep(id="pay", tool="card.charge", depends_on=["book"]),
        ],
        compensations={"pay": "card.refund"},
    )


def test_current_version_is_the_highest_registered() -> None:
    assert default_registry.current_version("ToolExecuted") == 2
    assert default_registry.model_for("ToolExecuted") is ToolExecuted
    assert default_registry.model_for("ToolExecuted", 1) is ToolExecutedV1
    assert "GoalReceived" in default_registry.event_types()


def test_registry_is_open_to_new_event_types() -> None:
    registry = EventRegistry()

    @register_event("InvoiceSent", registry=registry)
    class InvoiceSent(EventPayload):
        invoice_id: str

    @register_event("InvoiceSent", version=2, registry=registry)
    class InvoiceSentV2(EventPayload):
        invoice_id: str
        channel: str

    @register_upcaster("InvoiceSent", 1, registry=registry)
    def _to_v2(data: dict[str, object]) -> dict[str, object]:
        return {**data, "channel": "email"}

    payload, version = registry.decode("InvoiceSent", 1, '{"invoice_id":"i-1"}')
    assert version == 2
    assert payload == InvoiceSentV2(invoice_id="i-1", channel="email")
    assert InvoiceSent.event_type == "InvoiceSent"
    assert registry.key_of(InvoiceSentV2(invoice_id="i", channel="c")) == ("InvoiceSent", 2)
    # Registering the same class twice is harmless; another class under the key is not.
    registry.register(InvoiceSent, "InvoiceSent", 1)
    with pytest.raises(ValidationError):
        registry.register(InvoiceSentV2, "InvoiceSent", 1)


def test_decode_after_warm_use_still_types_errors_and_sees_new_versions() -> None:
    registry = EventRegistry()

    @register_event("Shipped", registry=registry)
    class Shipped(EventPayload):
        parcel: str

    assert registry.decode("Shipped", 1, '{"parcel":"p-1"}') == (Shipped(parcel="p-1"), 1)
    assert registry.decode("Shipped", 1, '{"parcel":"p-2"}') == (Shipped(parcel="p-2"), 1)
    with pytest.raises(ValidationError, match="not valid JSON"):
        registry.decode("Shipped", 1, '{"parcel": ')
    with pytest.raises(ValidationError, match="invalid at parcel"):
        registry.decode("Shipped", 1, '{"parcel": 5}')

    @register_event("Shipped", version=2, registry=registry)
    class ShippedV2(EventPayload):
        parcel: str
        carrier: str

    # Version 1 is no longer current: without an upcaster it cannot be read as version 2.
    with pytest.raises(SchemaVersionError):
        registry.decode("Shipped", 1, '{"parcel":"p-1"}')
    registry.register_upcaster("Shipped", 1, lambda data: {**data, "carrier": "post"})
    assert registry.decode("Shipped", 1, '{"parcel":"p-1"}') == (
        ShippedV2(parcel="p-1", carrier="post"),
        2,
    )


def test_decode_errors_are_typed_and_clear() -> None:
    registry = default_registry
    with pytest.raises(UnknownEventTypeError, match="NoSuchEvent"):
        registry.decode("NoSuchEvent", 1, "{}")
    with pytest.raises(SchemaVersionError) as caught:
        registry.decode("GoalReceived", 7, "{}")
    assert caught.value.current == 1
    with pytest.raises(SchemaVersionError):
        registry.decode("ToolExecuted", 0, "{}")
    with pytest.raises(ValidationError, match="not valid JSON"):
        registry.decode("GoalReceived", 1, '{"goal": ')
    with pytest.raises(ValidationError, match="not valid JSON"):
        registry.decode("ToolExecuted", 1, "{oops")
    with pytest.raises(ValidationError, match="JSON object"):
        registry.decode("ToolExecuted", 1, "[1]")
    with pytest.raises(ValidationError, match="invalid at goal"):
        registry.decode("GoalReceived", 1, '{"goal": 5, "user_id": "u"}')


def test_missing_upcaster_is_a_schema_version_error() -> None:
    registry = EventRegistry()

    @register_event("Thing", version=3, registry=registry)
    class Thing(EventPayload):
        name: str

    with pytest.raises(SchemaVersionError):
        registry.decode("Thing", 1, '{"name": "x"}')
    with pytest.raises(SchemaVersionError):
        registry.model_for("Thing", 2)


def test_invalid_registrations_are_rejected() -> None:
    registry = EventRegistry()

    class Thing(EventPayload):
        name: str

    with pytest.raises(ValidationError):
        registry.register(Thing, "not an identifier", 1)
    with pytest.raises(ValidationError):
        registry.register(Thing, "Thing", 0)
    with pytest.raises(UnknownEventTypeError):
        registry.key_of(Thing(name="x"))
