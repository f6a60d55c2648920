"""Canonical JSON (RFC 8785-style) and the per-stream hash chain.

The hash of an event is ``sha256(previous hash bytes || canonical JSON of the stored event)``.
Canonical JSON here follows RFC 8785 (JCS): object members sorted by their UTF-16 code units,
no insignificant whitespace, strings with only the mandatory escapes, numbers in the
ECMAScript shortest round-trip form (``1.0`` is ``1``, ``1e-7`` is ``1e-7``, ``1e21`` is
``1e+21``). Non-finite numbers and lone surrogates are rejected.

The hashed form of an event is built from its stored columns with the payload embedded as the
canonical text it was stored as, so verification never parses a payload.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from omnihub.errors import ValidationError

__all__ = [
    "GENESIS_HASH",
    "canonical_json",
    "chain_hash",
    "event_canonical_json",
    "event_canonical_json_writer",
    "payload_canonical_json",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first event of every stream."""

_encode_string = json.encoder.encode_basestring
_SORT_KEYS = orjson.OPT_SORT_KEYS


def _fast_dumps(value: Any) -> str:
    """orjson, sorted keys: canonical for values :func:`_prepare` let through (its floats
    format like ``repr`` in that range, its strings escape exactly the RFC 8785 set)."""
    return orjson.dumps(value, option=_SORT_KEYS).decode("utf-8")


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def _number(value: float) -> str:
    """ECMAScript Number::toString for a finite double (what RFC 8785 prescribes)."""
    if not math.isfinite(value):
        raise ValidationError(f"canonical JSON cannot hold the number {value!r}")
    if value == 0:
        return "0"
    text = repr(value)  # shortest round-trip digits
    sign = "-" if text.startswith("-") else ""
    text = text.lstrip("-")
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # Decimal exponent n such that value = 0.digits * 10**n.
    if int_part.strip("0"):
        point = len(int_part) + exponent
    else:
        point = exponent - (len(frac_part) - len(frac_part.lstrip("0")))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= point <= 21:
        out = digits + "0" * (point - k)
    elif 0 < point <= 21:
        out = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        out = "0." + "0" * (-point) + digits
    else:
        exp = point - 1
        exp_sign = "+" if exp >= 0 else "-"
        head = digits[0] + ("." + digits[1:] if k > 1 else "")
        out = f"{head}e{exp_sign}{abs(exp)}"
    return sign + out


class _NeedsSlowPath(Exception):
    """The value holds something the fast encoder would not write canonically."""


_EXACT = 2.0**53


def _prepare(value: Any) -> Any:
    """``value`` ready for the fast encoder, or raise _NeedsSlowPath.

    The fast encoder writes floats like ``repr``, which matches ECMAScript for non-integral
    numbers from 1e-4 up to 1e16; integral floats below 2**53 are written as integers. Any
    other float, and object keys outside the Basic Multilingual Plane (whose UTF-16 order
    differs from code-point order), take the slow path. Containers are copied only if needed.
    """
    kind = type(value)
    if kind is float:
        if value.is_integer():
            if -_EXACT < value < _EXACT:
                return int(value)
            raise _NeedsSlowPath
        if 1e-4 <= abs(value) < 1e16:
            return value
        raise _NeedsSlowPath
    if kind is dict:
        copy = None
        for key, item in value.items():
            if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                raise _NeedsSlowPath
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
                continue
            prepared = _prepare(item)
            if prepared is not item:
                if copy is None:
                    copy = dict(value)
                copy[key] = prepared
        return value if copy is None else copy
    if kind is list or kind is tuple:
        items = None
        for index, item in enumerate(value):
            item_kind = type(item)
            if item_kind is str or item_kind is int or item_kind is bool or item is None:
                continue
            prepared = _prepare(item)
            if prepared is not item:
                if items is None:
                    items = list(value)
                items[index] = prepared
        return value if items is None else items
    if kind is str or kind is int or kind is bool or value is None:
        return value
    raise _NeedsSlowPath


def _slow(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(_encode_string(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ValidationError(f"canonical JSON object keys must be strings, not {key!r}")
        items = sorted(value.items(), key=lambda item: _utf16_key(item[0]))
        return "{" + ",".join(f"{_encode_string(k)}:{_slow(v)}" for k, v in items) + "}"
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return "[" + ",".join(_slow(item) for item in value) + "]"
    raise ValidationError(f"canonical JSON cannot hold a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """The RFC 8785 canonical text of a JSON-compatible value."""
    try:
        return _fast_dumps(_prepare(value))
    except (_NeedsSlowPath, orjson.JSONEncodeError):
        # Unusual floats, astral keys, huge integers, lone surrogates, unsupported types.
        text = _slow(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValidationError("canonical JSON cannot hold a lone surrogate") from exc
    return text


# Payload class -> the names of its fields when its JSON-mode dump is just those fields'
# values (for plain JSON values), else None: see payload_canonical_json.
_PLAIN_FIELDS: dict[type[Any], tuple[str, ...] | None] = {}
# Core-schema keys that make a dump differ from the stored values (a custom serialiser, an
# alias or an exclusion), and schema types whose values are not plain JSON values.
_SERIALISING_KEYS = frozenset(
    {"serialization", "serialization_alias", "serialization_exclude", "serialization_exclude_if"}
)
_NESTED_TYPES = frozenset({"model", "dataclass", "typed-dict", "model-fields", "dataclass-args"})


def _changes_dump(schema: Any) -> bool:
    """Whether a core schema (below its model) holds anything that makes a JSON-mode dump
    differ from the validated values: a serialiser, an alias, an exclusion, a nested model."""
    if isinstance(schema, dict):
        if schema.get("type") in _NESTED_TYPES or schema.get("computed_fields"):
            return True
        return any(
            key in _SERIALISING_KEYS or _changes_dump(value) for key, value in schema.items()
        )
    if isinstance(schema, list):
        return any(_changes_dump(item) for item in schema)
    return False


def _plain_fields(kind: type[Any]) -> tuple[str, ...] | None:
    schema = kind.__pydantic_core_schema__
    definitions: Any = ()
    if schema.get("type") == "definitions":
        schema, definitions = schema["schema"], schema["definitions"]
    if schema.get("type") != "model" or schema.get("cls") is not kind:
        return None
    if schema.get("root_model") or schema.get("custom_init"):
        return None
    if (schema.get("config") or {}).get("extra_fields_behavior") == "allow":
        return None
    fields = schema["schema"]
    if fields.get("type") != "model-fields" or fields.get("computed_fields"):
        return None
    own = {key: value for key, value in schema.items() if key not in ("schema", "type")}
    if _changes_dump(own) or _changes_dump(fields["fields"]) or _changes_dump(definitions):
        return None
    return tuple(fields["fields"])


def payload_canonical_json(payload: Any) -> str:
    """The canonical JSON of a payload model: ``canonical_json(payload.model_dump(mode="json"))``.

    For a model whose dump is its field values (no custom serialiser, alias, exclusion or
    nested model, decided once per class from its core schema) and whose values are all plain
    JSON values (checked by the same walk the fast encoder needs anyway), the field values are
    encoded directly: pydantic's dump of them returns equal values, and it cost as much as
    the encoding itself. Anything else (a datetime, an enum, a nested model, an unusual
    float) takes the dump, so the text is always the dump's.
    """
    kind = type(payload)
    try:
        names = _PLAIN_FIELDS[kind]
    except KeyError:
        names = _PLAIN_FIELDS[kind] = _plain_fields(kind)
    if names is not None:
        values = payload.__dict__
        try:
            return _fast_dumps(_prepare({name: values[name] for name in names}))
        except (_NeedsSlowPath, orjson.JSONEncodeError):
            pass
    return canonical_json(payload.__pydantic_serializer__.to_python(payload, mode="json"))


def _opt(value: str | None) -> str:
    return "null" if value is None else str(_encode_string(value))


def event_canonical_json(
    causation_id: str | None,
    correlation_id: str | None,
    event_id: str,
    event_type: str,
    idempotency_key: str | None,
    occurred_at: str,
    payload_json: str,
    recorded_at: str,
    schema_version: int,
    stream_id: str,
    stream_version: int,
    tenant_id: str,
) -> str:
    """The canonical JSON of a stored event (members in sorted order; payload pre-canonical)."""
    return event_canonical_json_writer(recorded_at, stream_id, tenant_id)(
        causation_id,
        correlation_id,
        event_id,
        event_type,
        idempotency_key,
        occurred_at,
        payload_json,
        schema_version,
        stream_version,
    )


EventJsonWriter = Callable[[str | None, str | None, str, str, str | None, str, str, int, int], str]
"""``(causation_id, correlation_id, event_id, event_type, idempotency_key, occurred_at,
payload_json, schema_version, stream_version) -> canonical event JSON``."""


def event_canonical_json_writer(
    recorded_at: str, stream_id: str, tenant_id: str
) -> EventJsonWriter:
    """:func:`event_canonical_json` for the events of one append, which share their stream,
    tenant and ``recorded_at``: those members are encoded once, not once per event (and a
    correlation id equal to the stream id, the default, reuses the stream's)."""
    encode = _encode_string
    stream = str(encode(stream_id))
    middle = f',"recorded_at":{encode(recorded_at)},"schema_version":'
    version_key = f',"stream_id":{stream},"stream_version":'
    end = f',"tenant_id":{encode(tenant_id)}}}'

    def write(
        causation_id: str | None,
        correlation_id: str | None,
        event_id: str,
        event_type: str,
        idempotency_key: str | None,
        occurred_at: str,
        payload_json: str,
        schema_version: int,
        stream_version: int,
    ) -> str:
        causation = "null" if causation_id is None else encode(causation_id)
        correlation = stream if correlation_id == stream_id else _opt(correlation_id)
        key = "null" if idempotency_key is None else encode(idempotency_key)
        return (
            f'{{"causation_id":{causation},"correlation_id":{correlation},'
            f'"event_id":{encode(event_id)},"event_type":{encode(event_type)},'
            f'"idempotency_key":{key},"occurred_at":{encode(occurred_at)},'
            f'"payload":{payload_json}{middle}{schema_version}{version_key}{stream_version}{end}'
        )

    return write


def chain_hash(prev_hash: str, event_json: str) -> str:
    """``sha256(bytes.fromhex(prev_hash) + utf-8 canonical event)`` as lower-case hex."""
    digest = hashlib.sha256(bytes.fromhex(prev_hash))
    digest.update(event_json.encode("utf-8"))
    return digest.hexdigest()
