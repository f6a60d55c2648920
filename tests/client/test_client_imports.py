"""The official client imports only light modules: no saga, no Temporal SDK, no planning."""

from __future__ import annotations

import json
import subprocess
import sys

# Modules a program that only talks to the API must not pay for (import time, install size).
HEAVY = ("temporalio", "omnihub.saga", "omnihub.planning", "omnihub.cache", "numpy", "fastapi")


def test_importing_the_client_pulls_no_saga_temporal_or_planning() -> None:
    # A fresh interpreter: this test process has imported everything already.
    code = (
        "import json, sys; import omnihub.client; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or '.'.join(m.split('.')[:2]) in {HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == []


def test_the_client_still_decodes_every_event_type_the_server_sends() -> None:
    # BudgetExceeded is raised by planning but is a CDM payload: decoding it needs no planning.
    from omnihub.client._core import parse_event
    from omnihub.events import BudgetExceeded

    frame = {
        "event_id": "0190c0de-0000-7000-8000-000000000001",
        "tenant_id": "acme",
        "stream_id": "g-1",
        "stream_version": 2,
        "global_position": 7,
        "event_type": "BudgetExceeded",
        "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z",
        "recorded_at": "2026-11-27T10:00:00Z",
        "correlation_id": "g-1",
        "causation_id": None,
        "idempotency_key": None,
        "prev_hash": "ab",
        "hash": "cd",
        "payload": {
            "tenant": "acme",
            "action": "reject",
            "reason": "over budget",
            "period_start": "2026-11-27T00:00:00Z",
            "spent_tokens": 10,
            "spent_cost": 0.5,
        },
    }
    event = parse_event(json.dumps(frame))
    assert isinstance(event.payload, BudgetExceeded)
    assert event.payload.action == "reject"
