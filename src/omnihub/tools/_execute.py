"""Run one tool call: validate arguments, consult the ledger, act, record."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any

import pydantic

from omnihub.errors import OmniHubError, StoreError, ToolError, ValidationError
from omnihub.tools._spec import ToolContext, ToolSpec

# An absolute filesystem path (not the path part of a URL: a '/' after ':', '/' or a word
# character is not a path's start).
_PATH = re.compile(r"(?<![\w:/.])/(?:[^\s/'\"():,]+/)+[^\s/'\"():,]*")


def _public(exc: ToolError) -> None:
    """Cut server file paths out of ``exc``'s message: tool errors reach tenants."""
    message = str(exc)
    scrubbed = _PATH.sub("<path>", message)
    if scrubbed != message:
        exc.args = (scrubbed, *exc.args[1:])


async def execute_tool(spec: ToolSpec, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Run ``spec`` on ``args`` once from the caller's point of view; return the output as JSON.

    Tools with side effects look up ``ctx.idempotency_key`` in the ledger first and return the
    recorded output when the effect happened already; afterwards the output is recorded.
    Every failure comes out as a :class:`ToolError` whose ``non_retryable`` says whether
    trying again can help, with server file paths removed from its message.
    """
    try:
        return await _execute(spec, args, ctx)
    except ToolError as exc:
        _public(exc)
        raise


async def _execute(spec: ToolSpec, args: Mapping[str, Any], ctx: ToolContext) -> dict[str, Any]:
    try:
        parsed = spec.input_model.model_validate(dict(args))
    except pydantic.ValidationError as exc:
        raise ToolError(f"{spec.name}: invalid arguments: {exc}", non_retryable=True) from exc
    ledger = ctx.resources.ledger
    try:
        if spec.side_effect:
            done = await asyncio.to_thread(ledger.lookup, ctx.idempotency_key)
            if done is not None:
                return done
        result = await spec.func(parsed, ctx)
        output = spec.output_model.model_validate(result, from_attributes=True)
        data: dict[str, Any] = output.model_dump(mode="json")
        if spec.side_effect:
            await asyncio.to_thread(
                ledger.record, ctx.idempotency_key, ctx.tenant_id, spec.name, data
            )
        return data
    except ToolError:
        raise
    except pydantic.ValidationError as exc:
        raise ToolError(f"{spec.name}: invalid output: {exc}", non_retryable=True) from exc
    except ValidationError as exc:
        raise ToolError(f"{spec.name}: {exc}", non_retryable=True) from exc
    except StoreError as exc:
        raise ToolError(f"{spec.name}: {exc}") from exc
    except OmniHubError as exc:
        raise ToolError(f"{spec.name}: {exc}", non_retryable=True) from exc
    except (ValueError, TypeError) as exc:
        # Bad input that slipped past the model (a malformed header, say): the same
        # arguments fail the same way on every retry.
        raise ToolError(f"{spec.name}: {exc}", non_retryable=True) from exc
