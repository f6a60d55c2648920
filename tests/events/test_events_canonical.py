"""Canonical JSON (RFC 8785 vectors and properties) and event ids."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnihub.errors import ValidationError
from omnihub.events import _payloads as payloads
from omnihub.events import (
    canonical_json,
    chain_hash,
    deterministic_event_id,
    new_event_id,
    validate_event_id,
)
from omnihub.events._canonical import (
    _PLAIN_FIELDS,
    _slow,
    event_canonical_json,
    event_canonical_json_writer,
    payload_canonical_json,
)
from omnihub.events._ids import format_timestamp, parse_timestamp
from omnihub.plans import PlanStep

# RFC 8785, appendix B: IEEE-754 bit patterns and their canonical text.
NUMBERS = {
    "0000000000000000": "0",
    "8000000000000000": "0",
    "0000000000000001": "5e-324",
    "8000000000000001": "-5e-324",
    "7fefffffffffffff": "1.7976931348623157e+308",
    "ffefffffffffffff": "-1.7976931348623157e+308",
    "4340000000000000": "9007199254740992",
    "c340000000000000": "-9007199254740992",
    "4430000000000000": "295147905179352830000",
    "44b52d02c7e14af5": "9.999999999999997e+22",
    "44b52d02c7e14af6": "1e+23",
    "44b52d02c7e14af7": "1.0000000000000001e+23",
    "444b1ae4d6e2ef4e": "999999999999999700000",
    "444b1ae4d6e2ef4f": "999999999999999900000",
    "444b1ae4d6e2ef50": "1e+21",
    "3eb0c6f7a0b5ed8c": "9.999999999999997e-7",
    "3eb0c6f7a0b5ed8d": "0.000001",
    "41b3de4355555553": "333333333.3333332",
    "41b3de4355555554": "333333333.33333325",
    "41b3de4355555555": "333333333.3333333",
    "41b3de4355555556": "333333333.3333334",
    "41b3de4355555557": "333333333.33333343",
    "becbf647612f3696": "-0.0000033333333333333333",
    "43143ff3c1cb0959": "1424953923781206.2",
}


@pytest.mark.parametrize(("bits", "expected"), sorted(NUMBERS.items()))
def test_numbers_follow_rfc_8785(bits: str, expected: str) -> None:
    (value,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(value) == expected


def test_rfc_8785_example_object() -> None:
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        '"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        '"literals": [null, true, false]}'
    )
    assert canonical_json(value) == (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )


def test_keys_sort_by_utf16_code_units() -> None:
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    text = canonical_json({k: i for i, k in enumerate(keys)})
    assert list(json.loads(text)) == [
        "\r",
        "1",
        "\u0080",
        "\u00f6",
        "\u20ac",
        "\U0001f600",
        "\ufb33",
    ]


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), {"a": "\ud800"}, {1: "x"}, {"a": object()}, b"x"]
)
def test_values_without_a_canonical_form_are_rejected(bad: Any) -> None:
    with pytest.raises(ValidationError):
        canonical_json(bad)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_round_trips_and_is_a_fixed_point(value: Any) -> None:
    text = canonical_json(value)
    # Like any JSON reader, read integers beyond 2**53 as doubles (RFC 8785 writes large
    # doubles without an exponent up to 1e21).
    parsed = json.loads(text, parse_int=lambda s: int(s) if len(s) < 16 else float(s))
    assert parsed == value
    assert canonical_json(parsed) == text
    assert _slow(value) == text


def test_chain_hash_covers_previous_hash_and_content() -> None:
    a = chain_hash("0" * 64, '{"x":1}')
    assert len(a) == 64
    assert chain_hash("0" * 64, '{"x":2}') != a
    assert chain_hash("1" * 64, '{"x":1}') != a


def test_event_ids_are_uuid7_and_time_sortable() -> None:
    first = new_event_id()
    assert validate_event_id(first) == first
    assert first[14] == "7"
    moment = datetime(2020, 1, 1, tzinfo=UTC)
    a = deterministic_event_id(moment, "goal", "s1")
    assert a == deterministic_event_id(moment, "goal", "s1")
    assert a != deterministic_event_id(moment, "goal", "s2")
    later = deterministic_event_id(moment.replace(year=2021), "goal", "s1")
    assert a < later < new_event_id()
    assert validate_event_id(a.upper()) == a
    for bad in ["", "nope", "01234567-89ab-4def-8123-456789abcdef", 5]:
        with pytest.raises(ValidationError):
            validate_event_id(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        deterministic_event_id(datetime(2026, 1, 1), "naive")


def test_timestamps_are_utc_with_z() -> None:
    text = format_timestamp(datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC))
    assert text == "2026-03-04T05:06:07.000008Z"
    assert parse_timestamp(text) == datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    with pytest.raises(ValidationError):
        format_timestamp(datetime(2026, 1, 1))


@given(
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True)
    | st.floats(min_value=-1e16, max_value=-1e-4, exclude_min=True)
)
def test_fast_and_slow_encoders_agree_on_floats(value: float) -> None:
    assert canonical_json([value]) == "[" + _slow(value) + "]"
    assert canonical_json({"v": value}) == '{"v":' + _slow(value) + "}"


def test_unusual_values_fall_back_to_the_slow_encoder() -> None:
    assert (
        canonical_json({"big": 2**70, "t": (1, 2.0)}) == '{"big":1180591620717411303424,"t":[1,2]}'
    )
    assert canonical_json({"\U0001f600": 1, "\ufb33": 2}) == '{"\U0001f600":1,"\ufb33":2}'
    assert canonical_json([1e-7, 1e22, -0.0]) == "[1e-7,1e+22,0]"


def _dumped(payload: Any) -> str:
    return canonical_json(payload.model_dump(mode="json"))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(value=_json_values, duration=st.floats(min_value=0))
def test_a_payload_encoded_from_its_fields_is_its_dump(value: Any, duration: float) -> None:
    for payload in (
        payloads.ToolExecuted(tool_name="t", output=value, duration_ms=duration),
        payloads.GoalCompleted(result={"x": value}, metrics={"n": value}),
        payloads.StepCompleted(step_id="s1", result=value),
    ):
        try:
            expected = _dumped(payload)
        except ValidationError:  # a lone surrogate: both refuse it
            with pytest.raises(ValidationError):
                payload_canonical_json(payload)
        else:
            assert payload_canonical_json(payload) == expected


def test_payloads_with_nested_models_or_datetimes_take_the_dump() -> None:
    step = PlanStep(id="s1", tool="t", args={"n": 1.0})
    planned = payloads.PlanGenerated(plan_id="p", steps=[step], source="cache")
    asked = payloads.ApprovalRequested(
        step_id="s1", tool_name="t", risk_lane="high", expires_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    for payload in (planned, asked):
        assert payload_canonical_json(payload) == _dumped(payload)
    assert _PLAIN_FIELDS[payloads.PlanGenerated] is None  # a nested model: never the fast path
    assert _PLAIN_FIELDS[payloads.ApprovalRequested] is not None  # only its datetime falls back
    assert payload_canonical_json(asked).count("2026-01-01T00:00:00Z") == 1


_ids = st.text(min_size=1, max_size=12)


@given(
    stream=_ids,
    tenant=_ids,
    correlation=st.one_of(st.none(), _ids, st.just("same")),
    causation=st.one_of(st.none(), _ids),
    key=st.one_of(st.none(), _ids),
    version=st.integers(1, 10**6),
)
def test_event_canonical_json_is_the_sorted_compact_json_of_the_stored_event(
    stream: str,
    tenant: str,
    correlation: str | None,
    causation: str | None,
    key: str | None,
    version: int,
) -> None:
    if correlation == "same":
        correlation = stream  # the default, which one append's writer shortcuts
    event = {
        "causation_id": causation,
        "correlation_id": correlation,
        "event_id": "0190a-id",
        "event_type": "StepStarted",
        "idempotency_key": key,
        "occurred_at": "2026-01-01T00:00:00Z",
        "payload": {"a": 1},
        "recorded_at": "2026-01-02T03:04:05.000006Z",
        "schema_version": 2,
        "stream_id": stream,
        "stream_version": version,
        "tenant_id": tenant,
    }
    expected = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    fields = [event[k] for k in ("causation_id", "correlation_id", "event_id", "event_type")]
    fields += [key, event["occurred_at"], '{"a":1}']
    write = event_canonical_json_writer(event["recorded_at"], stream, tenant)
    assert write(*fields, 2, version) == expected
    assert (
        event_canonical_json(*fields, event["recorded_at"], 2, stream, version, tenant) == expected
    )
