"""``/v1/admin/policies``: show and apply the caller's tenant's Cedar policy set (admins).

Applying validates the set against the schema (422 with every problem, nothing stored), then
appends a ``PolicySetApplied`` event to the tenant's hash-chained ``policy-set`` stream; every
worker decides its next step by the new version, without a restart.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from omnihub.api._deps import Admin, services_of
from omnihub.api._models import ErrorBody
from omnihub.errors import ConfigurationError
from omnihub.events import EventStore
from omnihub.guard import PolicyStore

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 409, 422, 429, 503)
}
router = APIRouter(prefix="/v1/admin/policies", tags=["policies"], responses=_ERRORS)


class PolicyApply(BaseModel):
    """A new policy set for the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    policies: str = Field(min_length=1, max_length=200_000, description="Cedar policy text.")
    reason: str | None = Field(None, max_length=1000)


class PolicyShow(BaseModel):
    """The tenant's current policy set (version 0: the shipped defaults)."""

    tenant_id: str
    version: int
    digest: str
    policy_ids: list[str]
    policies: str
    applied_by: str | None = None


def _store(request: Request) -> EventStore:
    store = services_of(request).store
    if store is None:
        raise ConfigurationError("no event store is configured: policies cannot be stored")
    return store


def _show(policies: PolicyStore, tenant_id: str) -> PolicyShow:
    current = policies.current(tenant_id)
    history = policies.history(tenant_id) if current.version else []
    return PolicyShow(
        tenant_id=tenant_id,
        version=current.version,
        digest=current.digest,
        policy_ids=current.policy_ids(),
        policies=current.text,
        applied_by=history[-1].applied_by if history else None,
    )


@router.get("", response_model=PolicyShow, summary="The tenant's current policy set")
async def show_policies(request: Request, principal: Admin) -> PolicyShow:
    policies = PolicyStore(_store(request))
    return await asyncio.to_thread(_show, policies, principal.tenant_id)


@router.post("", response_model=PolicyShow, summary="Apply a new policy set for the tenant")
async def apply_policies(request: Request, body: PolicyApply, principal: Admin) -> PolicyShow:
    """Validate and store the set as the next version (409 when another apply won the race)."""
    policies = PolicyStore(_store(request))

    def apply() -> PolicyShow:
        policies.apply(
            principal.tenant_id,
            body.policies,
            applied_by=f"key:{principal.key_id}",
            reason=body.reason,
        )
        return _show(policies, principal.tenant_id)

    return await asyncio.to_thread(apply)
