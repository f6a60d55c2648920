"""A plan's steps laid out as a left-to-right DAG, for the goal page's inline SVG.

The layout is computed here, in Python, so the page needs no graph library: each step sits in
the column of its longest chain of dependencies, and edges join a step to each step it waits
for. Unknown dependencies are ignored and cycles (which plan validation already refuses) are
broken, so a bad plan still draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from omnihub.plans import PlanStep

NODE_WIDTH = 168
NODE_HEIGHT = 58
COLUMN_GAP = 40
ROW_GAP = 18
MARGIN = 10


@dataclass(frozen=True)
class DagStep:
    """What the layout needs of one step."""

    step_id: str
    tool_name: str
    depends_on: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class DagNode:
    step_id: str
    tool_name: str
    status: str
    column: int
    x: int
    y: int


@dataclass(frozen=True)
class DagEdge:
    source: str
    target: str
    path: str
    """SVG path data of a curve from the source's right side to the target's left side."""


@dataclass(frozen=True)
class DagLayout:
    nodes: tuple[DagNode, ...]
    edges: tuple[DagEdge, ...]
    width: int
    height: int
    node_width: int = NODE_WIDTH
    node_height: int = NODE_HEIGHT


def _columns(steps: Sequence[DagStep]) -> dict[str, int]:
    """Column of each step: the length of its longest chain of known dependencies."""
    known = {step.step_id for step in steps}
    deps = {s.step_id: [d for d in s.depends_on if d in known and d != s.step_id] for s in steps}
    column: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(step_id: str) -> int:
        if step_id in column:
            return column[step_id]
        if step_id in visiting:  # a cycle: cut it here
            return 0
        visiting.add(step_id)
        result = max((depth(d) + 1 for d in deps[step_id]), default=0)
        visiting.discard(step_id)
        column[step_id] = result
        return result

    for step in steps:
        depth(step.step_id)
    return column


def layout_dag(steps: Sequence[DagStep]) -> DagLayout:
    """Place ``steps`` (in plan order) in columns by dependency depth and draw their edges."""
    columns = _columns(steps)
    rows: dict[int, int] = {}
    nodes: dict[str, DagNode] = {}
    for step in steps:
        if step.step_id in nodes:
            continue
        col = columns[step.step_id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        nodes[step.step_id] = DagNode(
            step_id=step.step_id,
            tool_name=step.tool_name,
            status=step.status,
            column=col,
            x=MARGIN + col * (NODE_WIDTH + COLUMN_GAP),
            y=MARGIN + row * (NODE_HEIGHT + ROW_GAP),
        )
    edges: list[DagEdge] = []
    for step in steps:
        target = nodes[step.step_id]
        for dep in dict.fromkeys(step.depends_on):
            source = nodes.get(dep)
            if source is None or dep == step.step_id:
                continue
            x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
            x2, y2 = target.x, target.y + NODE_HEIGHT // 2
            bend = max(20, (x2 - x1) // 2)
            path = f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
            edges.append(DagEdge(dep, step.step_id, path))
    width = MARGIN * 2 + (max(columns.values(), default=0) + 1) * (NODE_WIDTH + COLUMN_GAP)
    height = MARGIN * 2 + max(rows.values(), default=1) * (NODE_HEIGHT + ROW_GAP)
    return DagLayout(tuple(nodes.values()), tuple(edges), width - COLUMN_GAP, height - ROW_GAP)


def dag_steps(plan: Sequence[PlanStep], statuses: Mapping[str, str]) -> list[DagStep]:
    """DagSteps from a plan's steps, each with its status (``pending`` when unknown)."""
    return [
        DagStep(
            step_id=step.id,
            tool_name=step.tool,
            depends_on=tuple(step.depends_on),
            status=statuses.get(step.id, "pending"),
        )
        for step in plan
    ]
