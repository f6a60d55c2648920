"""``$ref`` argument references between steps: find them and resolve them.

Pure functions over plain data, so the saga workflow can call them deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from omnihub.errors import ValidationError

REF_KEY = "$ref"


def parse_ref(ref: str) -> tuple[str, list[str]]:
    """``"steps.s1.output.record_id"`` → ``("s1", ["record_id"])``; ValidationError if bad."""
    parts = ref.split(".")
    if len(parts) < 3 or parts[0] != "steps" or parts[2] != "output" or not parts[1]:
        raise ValidationError(
            f"bad reference {ref!r}: write it as 'steps.<step id>.output[.<field>…]'"
        )
    return parts[1], parts[3:]


def is_ref(value: Any) -> bool:
    return (
        isinstance(value, Mapping) and set(value) == {REF_KEY} and isinstance(value[REF_KEY], str)
    )


def iter_refs(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``(path, ref)`` in a nested argument structure."""
    if is_ref(value):
        yield path, value[REF_KEY]
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from iter_refs(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_refs(item, (*path, index))


def resolve_refs(value: Any, outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """``value`` with every reference replaced by the referenced step's output."""
    if is_ref(value):
        step_id, fields = parse_ref(value[REF_KEY])
        if step_id not in outputs:
            raise ValidationError(f"reference {value[REF_KEY]!r}: step {step_id!r} has no output")
        current: Any = outputs[step_id]
        for field in fields:
            if not isinstance(current, Mapping) or field not in current:
                raise ValidationError(
                    f"reference {value[REF_KEY]!r}: the output has no field {field!r}"
                )
            current = current[field]
        return current
    if isinstance(value, Mapping):
        return {key: resolve_refs(item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(item, outputs) for item in value]
    return value
