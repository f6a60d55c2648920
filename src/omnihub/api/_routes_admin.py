"""``/v1/admin``: what an admin key may do in its own tenant: manage API keys, drop cached
plans, export the hash-chained audit trail. Each call is recorded as an event in the system
stream of the tenant (tenant ``_system``, stream ``admin.<tenant>``), chained like any other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from omnihub.api._deps import Admin, services_of, settings_of
from omnihub.api._models import ErrorBody
from omnihub.auth import CreatedKey, KeyInfo, Principal, Role
from omnihub.errors import ConfigurationError, NotFoundError
from omnihub.events import (
    AdminAuditExported,
    AdminCacheInvalidated,
    AdminKeyCreated,
    AdminKeyRevoked,
    AdminKeysListed,
    EventPayload,
    EventStore,
    NewEvent,
    export_jsonl,
)

SYSTEM_TENANT = "_system"  # no API key can belong to it: tenant ids start with a letter/digit

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    responses={code: {"model": ErrorBody} for code in (401, 403, 404, 422, 429, 503)},
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyRequest(_Body):
    """A key to create in the admin's tenant."""

    role: Role = Field(description="viewer, operator or admin")
    require_signature: bool = Field(False, description="Every request must be HMAC-signed.")


class InvalidateRequest(_Body):
    """Drop the tenant's cached plans that use ``tool``, or all of them (``tool`` null)."""

    tool: str | None = Field(None, min_length=1, max_length=128)


class InvalidatedBody(_Body):
    tenant_id: str
    tool: str | None
    removed: int


def _store(request: Request) -> EventStore:
    store = services_of(request).store
    if store is None:
        raise ConfigurationError("no event store is configured")
    return store


async def _record(request: Request, principal: Principal, payload: EventPayload) -> None:
    """Append ``payload`` to the admin stream of the principal's tenant."""
    tenant, stream = admin_stream(principal.tenant_id)
    await asyncio.to_thread(_store(request).append, tenant, stream, [NewEvent(payload=payload)])


def _by(principal: Principal) -> str:
    return f"key:{principal.key_id}"


@router.post("/keys", status_code=201, response_model=CreatedKey, summary="Create an API key")
async def create_key(request: Request, body: KeyRequest, principal: Admin) -> CreatedKey:
    """A new key of the admin's tenant with ``role``; ``key`` is shown this once and never
    stored."""
    keys = services_of(request).keys
    created = await asyncio.to_thread(
        keys.create, principal.tenant_id, body.role, require_signature=body.require_signature
    )
    await _record(
        request,
        principal,
        AdminKeyCreated(
            tenant_id=principal.tenant_id,
            key_id=created.key_id,
            role=created.role.value,
            require_signature=created.require_signature,
            by=_by(principal),
        ),
    )
    return created


@router.get("/keys", response_model=list[KeyInfo], summary="List the tenant's API keys")
async def list_keys(request: Request, principal: Admin) -> list[KeyInfo]:
    """Every key of the admin's tenant, revoked ones included (never the keys themselves)."""
    found = await asyncio.to_thread(services_of(request).keys.list, principal.tenant_id)
    await _record(
        request,
        principal,
        AdminKeysListed(tenant_id=principal.tenant_id, count=len(found), by=_by(principal)),
    )
    return found


@router.delete("/keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_key(
    request: Request,
    key_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")],
    principal: Admin,
) -> None:
    """Revoke a key of the admin's tenant; its console sessions end at once. Another
    tenant's key is 404, as if it did not exist."""
    services = services_of(request)
    mine = await asyncio.to_thread(services.keys.list, principal.tenant_id)
    if not any(k.key_id == key_id and k.revoked_at is None for k in mine):
        raise NotFoundError(f"no active API key {key_id!r} in this tenant")
    await asyncio.to_thread(services.keys.revoke, key_id)
    await services.sessions.revoke_key(key_id)
    await _record(
        request,
        principal,
        AdminKeyRevoked(tenant_id=principal.tenant_id, key_id=key_id, by=_by(principal)),
    )


@router.post(
    "/cache/invalidate", response_model=InvalidatedBody, summary="Drop the tenant's cached plans"
)
async def invalidate_cache(
    request: Request, body: InvalidateRequest, principal: Admin
) -> InvalidatedBody:
    """Drop cached plans of the admin's tenant (those using ``tool``, or all). With the Redis
    index every worker sees it at once; the embedded index is rewritten on disk, and workers
    running in other processes drop their copies when they restart."""
    from omnihub.cache import open_index

    settings = settings_of(request)

    def invalidate() -> int:
        index = open_index(
            settings.cache_backend,
            settings=settings,
            path=str(settings.resolved_cache_path),
            max_entries=settings.cache_max_entries,
        )
        try:
            return index.invalidate(principal.tenant_id, body.tool)
        finally:
            index.close()

    removed = await asyncio.to_thread(invalidate)
    await _record(
        request,
        principal,
        AdminCacheInvalidated(
            tenant_id=principal.tenant_id, tool=body.tool, removed=removed, by=_by(principal)
        ),
    )
    return InvalidatedBody(tenant_id=principal.tenant_id, tool=body.tool, removed=removed)


@router.get(
    "/audit/export",
    summary="Export the tenant's events with their hash chain (JSON lines)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
)
async def export_audit(request: Request, principal: Admin) -> StreamingResponse:
    """Every event of the admin's tenant in global order, one canonical JSON line each with
    its position, hash and previous hash, so anyone can recompute the chain from the file."""
    store = _store(request)
    await _record(
        request, principal, AdminAuditExported(tenant_id=principal.tenant_id, by=_by(principal))
    )

    def lines() -> Iterator[str]:
        for line in export_jsonl(store, principal.tenant_id):
            yield line + "\n"

    # A sync iterator: Starlette runs each step in a worker thread, off the event loop.
    return StreamingResponse(lines(), media_type="application/x-ndjson")


def admin_stream(tenant_id: str) -> tuple[str, str]:
    """Where the admin events of ``tenant_id`` are kept: (tenant, stream)."""
    return SYSTEM_TENANT, f"admin.{tenant_id}"
