from __future__ import annotations

from omnihub.errors import (
    ConcurrencyError,
    PayloadTooLargeError,
    SchemaVersionError,
    StoreError,
    UnknownEventTypeError,
    ValidationError,
)


def test_concurrency_error_carries_the_actual_version() -> None:
    exc = ConcurrencyError("goal-1", expected_version=3, actual_version=5)
    assert isinstance(exc, StoreError)
    assert exc.actual_version == 5
    assert "version 5" in str(exc)


def test_validation_errors_say_what_is_wrong() -> None:
    assert "over the limit of 10" in str(PayloadTooLargeError(11, 10))
    assert "'Nope'" in str(UnknownEventTypeError("Nope"))
    exc = SchemaVersionError("GoalReceived", 9, 2)
    assert isinstance(exc, ValidationError)
    assert "1..2" in str(exc)
