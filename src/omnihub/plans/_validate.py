"""Plan validation before anything runs, and the DAG helpers the saga schedules with."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING, Any

import pydantic

from omnihub.errors import PlanValidationError, ValidationError
from omnihub.plans._models import Plan, is_reserved_step_id
from omnihub.plans._refs import iter_refs, parse_ref

if TYPE_CHECKING:  # only a type here: plans (and events, which record plan steps) stay light
    from omnihub.tools import ToolRegistry


def _topological_order(deps: dict[str, list[str]]) -> list[str] | None:
    """Step ids with every dependency before its dependents (Kahn's algorithm, iterative so
    a long chain cannot exhaust the stack), or None when a cycle remains. Unknown
    dependencies are ignored (they are reported separately)."""
    waiting = {node: sum(1 for d in ds if d in deps) for node, ds in deps.items()}
    dependents: dict[str, list[str]] = {node: [] for node in deps}
    for node, ds in deps.items():
        for dep in ds:
            if dep in deps:
                dependents[dep].append(node)
    ready = [node for node, count in waiting.items() if count == 0]
    order: list[str] = []
    while ready:
        node = ready.pop()
        order.append(node)
        for child in dependents[node]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    return order if len(order) == len(deps) else None


def ancestors(plan: Plan) -> dict[str, set[str]]:
    """Each step's direct and indirect dependencies (assumes an acyclic plan)."""
    deps = {step.id: list(step.depends_on) for step in plan.steps}
    result: dict[str, set[str]] = {}
    for node in _topological_order(deps) or []:
        found: set[str] = set()
        for dep in deps[node]:
            found |= {dep, *result.get(dep, ())}
        result[node] = found
    return result


def find_cycle(plan: Plan) -> list[str] | None:
    """One dependency cycle as a list of step ids, or None (depth-first search with an
    explicit stack, so a 10,000-step chain costs memory, not recursion)."""
    deps = {step.id: [d for d in step.depends_on if d != step.id] for step in plan.steps}
    for step in plan.steps:
        if step.id in step.depends_on:
            return [step.id, step.id]
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in deps:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        stack: list[Iterator[str]] = [iter(deps[root])]
        while stack:
            dep = next(stack[-1], None)
            if dep is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            elif dep in deps and dep not in state:
                state[dep] = 1
                path.append(dep)
                stack.append(iter(deps[dep]))
    return None


def _arg_problems(model: type[pydantic.BaseModel], args: dict[str, Any]) -> list[str]:
    ref_paths = [path for path, _ in iter_refs(args)]
    try:
        model.model_validate(args)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            # A referenced value is only known at run time; it is checked when the step runs.
            if any(loc[: len(path)] == path for path in ref_paths):
                continue
            where = ".".join(str(part) for part in loc) or "(args)"
            problems.append(f"{where}: {error['msg']}")
        return problems
    return []


def validate_plan(plan: Plan, registry: ToolRegistry) -> None:
    """Check ``plan`` against ``registry``: tools exist, arguments fit the input schemas,
    dependencies exist and form no cycle, references point at dependencies' output fields.

    Raises :class:`~omnihub.errors.PlanValidationError` listing every problem found.
    """
    problems: list[str] = []
    ids = [step.id for step in plan.steps]
    seen: set[str] = set()
    for step_id in ids:
        if is_reserved_step_id(step_id):
            problems.append(f"step id {step_id!r} is reserved for the saga's own holds")
        if step_id in seen:
            problems.append(f"step id {step_id!r} is used more than once")
        seen.add(step_id)
    for step in plan.steps:
        for dep in step.depends_on:
            if dep not in seen:
                problems.append(f"step {step.id!r} depends on unknown step {dep!r}")
    cycle = find_cycle(plan)
    if cycle:
        problems.append("dependency cycle: " + " -> ".join(cycle))
    upstream = ancestors(plan) if not cycle else {}
    for step in plan.steps:
        if step.tool not in registry:
            problems.append(f"step {step.id!r}: unknown tool {step.tool!r}")
            continue
        spec = registry.get(step.tool)
        problems += [f"step {step.id!r}: {p}" for p in _arg_problems(spec.input_model, step.args)]
        for _, ref in iter_refs(step.args):
            problems += _ref_problems(plan, registry, step.id, ref, upstream.get(step.id))
    if problems:
        raise PlanValidationError(problems)


def _ref_problems(
    plan: Plan, registry: ToolRegistry, step_id: str, ref: str, upstream: set[str] | None
) -> list[str]:
    try:
        target, fields = parse_ref(ref)
    except ValidationError as exc:
        return [f"step {step_id!r}: {exc}"]
    if target not in {s.id for s in plan.steps}:
        return [f"step {step_id!r}: reference {ref!r} names unknown step {target!r}"]
    if upstream is not None and target not in upstream:
        return [f"step {step_id!r}: reference {ref!r} needs {target!r} among its depends_on"]
    tool_name = plan.step(target).tool
    if fields and tool_name in registry:
        properties = registry.get(tool_name).output_model.model_fields
        if fields[0] not in properties:
            return [f"step {step_id!r}: {tool_name!r} output has no field {fields[0]!r}"]
    return []


def ready_steps(plan: Plan, done: Collection[str], started: Collection[str]) -> list[str]:
    """Steps not started whose dependencies are all done, in plan order."""
    return [
        step.id
        for step in plan.steps
        if step.id not in started
        and step.id not in done
        and all(d in done for d in step.depends_on)
    ]
