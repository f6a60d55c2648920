"""Plan checks are iterative: a long dependency chain is checked, not a RecursionError."""

from __future__ import annotations

import sys

import pytest

from omnihub.errors import PlanValidationError
from omnihub.plans import Plan, ancestors, find_cycle, validate_plan
from omnihub.tools import default_registry


def chain(length: int, *, closed: bool = False) -> Plan:
    """s0 depends on s1, s1 on s2, …: listed first to last, the check must walk the whole
    chain from the first step (the order a recursive walk overflows on)."""
    last = length - 1
    steps = [
        {
            "id": f"s{i}",
            "tool": "respond_to_user",
            "args": {"message": "hi"},
            "depends_on": [f"s{i + 1}"] if i < last else (["s0"] if closed else []),
        }
        for i in range(length)
    ]
    return Plan.model_validate({"steps": steps})


def test_a_chain_far_longer_than_the_recursion_limit_validates() -> None:
    length = sys.getrecursionlimit() * 3
    plan = chain(length)
    validate_plan(plan, default_registry())
    assert find_cycle(plan) is None
    assert len(ancestors(plan)["s0"]) == length - 1


def test_a_long_cycle_is_found_and_named() -> None:
    plan = chain(5000, closed=True)
    cycle = find_cycle(plan)
    assert cycle is not None
    assert cycle[0] == cycle[-1]
    assert len(cycle) == 5001
    with pytest.raises(PlanValidationError, match="dependency cycle"):
        validate_plan(plan, default_registry())
