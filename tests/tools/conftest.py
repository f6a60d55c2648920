"""Tool resources on real databases: an SQLite file, or a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omnihub.tools import IdempotencyLedger, ToolContext, ToolResources, open_database

TABLES = frozenset({"orders"})
# Ids are unique per tenant, as the database tools' docstring advises.
ORDERS = (
    "CREATE TABLE IF NOT EXISTS orders (id TEXT NOT NULL, tenant_id TEXT NOT NULL, sku TEXT,"
    " qty INTEGER, PRIMARY KEY (tenant_id, id))"
)


def make_resources(url: str, **options: object) -> ToolResources:
    database = open_database(url)
    with database.transaction() as cursor:
        cursor.execute(ORDERS)
    return ToolResources(
        ledger=IdempotencyLedger(database),
        database=database,
        allowed_tables=TABLES,
        **options,  # type: ignore[arg-type]
    )


def _context(
    resources: ToolResources, step_id: str = "s1", goal_id: str = "g1", tenant_id: str = "t1"
) -> ToolContext:
    return ToolContext(
        tenant_id=tenant_id,
        goal_id=goal_id,
        step_id=step_id,
        idempotency_key=f"{tenant_id}/{goal_id}/{step_id}/do",
        attempt=1,
        resources=resources,
    )


@pytest.fixture
def context() -> Callable[..., ToolContext]:
    """Build the context of one tool call:
    ``context(resources, step_id="s1", goal_id="g1", tenant_id="t1")``."""
    return _context


@pytest.fixture(params=["sqlite", "postgres"])
def resources(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ToolResources]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tools.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    built = make_resources(url)
    yield built
    built.close()


@pytest.fixture
def sqlite_resources(tmp_path: Path) -> Iterator[ToolResources]:
    built = make_resources(f"sqlite:///{tmp_path / 'tools.db'}")
    yield built
    built.close()
