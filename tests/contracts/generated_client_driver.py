"""Drives one goal with the Python client openapi-python-client generated from the live spec.

Run by test_generated_clients.py in the generator's own venv (the generated code needs attrs
and python-dateutil, not OmniHub): ``python generated_client_driver.py PACKAGE URL KEY``.
Prints one JSON object with what it saw; any contract break raises.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from typing import Any


def main(package: str, base_url: str, key: str) -> dict[str, Any]:
    client_mod = importlib.import_module(f"{package}.client")
    goals = importlib.import_module(f"{package}.api.goals")
    models = importlib.import_module(f"{package}.models")
    submit = importlib.import_module(f"{package}.api.goals.submit_goal")
    get_goal = importlib.import_module(f"{package}.api.goals.get_goal")
    list_events = importlib.import_module(f"{package}.api.goals.list_goal_events")
    cancel = importlib.import_module(f"{package}.api.goals.cancel_goal")
    del goals
    client = client_mod.AuthenticatedClient(
        base_url=base_url, token=key, raise_on_unexpected_status=True
    )
    plan = {
        "steps": [
            {
                "id": "s1",
                "tool": "database_write",
                "args": {"table": "orders", "values": {"sku": "g"}},
            },
            {
                "id": "s2",
                "tool": "respond_to_user",
                "args": {"message": "done"},
                "depends_on": ["s1"],
            },
        ]
    }
    body = models.GoalRequest.from_dict({"goal": "book it", "plan": plan})
    # No Idempotency-Key: the optional header is left out, never sent as None.
    accepted = submit.sync(client=client, body=body)
    assert isinstance(accepted, models.GoalAccepted), accepted
    again = submit.sync(client=client, body=body, idempotency_key="generated-1")
    same = submit.sync(client=client, body=body, idempotency_key="generated-1")
    assert again.goal_id == same.goal_id != accepted.goal_id
    deadline = time.monotonic() + 60
    while True:
        state = get_goal.sync(accepted.goal_id, client=client)
        assert isinstance(state, models.GoalState), state
        if state.status in (models.GoalStateStatus.COMPLETED, models.GoalStateStatus.FAILED):
            break
        assert time.monotonic() < deadline, state.status
        time.sleep(0.2)
    events = list_events.sync(accepted.goal_id, client=client)
    assert isinstance(events, list), events
    tool = next(e for e in events if e.event_type == "ToolExecuted")
    assert isinstance(tool, models.ToolExecutedEvent), type(tool)
    refused = cancel.sync_detailed(accepted.goal_id, client=client)
    error = refused.parsed
    assert isinstance(error, models.ErrorBody), error
    return {
        "status": str(state.status.value),
        "steps": [s.status.value for s in state.steps],
        "event_types": [type(e).__name__ for e in events],
        "cancel_status": int(refused.status_code),
        "cancel_code": str(error.error.code.value),
        "tool_duration_ms": tool.payload.duration_ms,
    }


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
