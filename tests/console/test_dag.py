"""The plan DAG layout: columns by dependency depth, edges, and resilience to bad plans."""

from __future__ import annotations

from omnihub.console import DagStep, layout_dag
from omnihub.console._dag import NODE_HEIGHT, NODE_WIDTH, dag_steps
from omnihub.plans import PlanStep


def step(step_id: str, *deps: str, status: str = "pending") -> DagStep:
    return DagStep(step_id, "tool", tuple(deps), status)


def test_steps_sit_in_the_column_of_their_longest_dependency_chain() -> None:
    layout = layout_dag([step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c", "a")])
    columns = {n.step_id: n.column for n in layout.nodes}
    assert columns == {"a": 0, "b": 1, "c": 1, "d": 2}
    b, c = (n for n in layout.nodes if n.column == 1)
    assert b.x == c.x
    assert c.y > b.y
    assert {(e.source, e.target) for e in layout.edges} == {
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
        ("a", "d"),
    }
    assert layout.width >= 3 * NODE_WIDTH
    assert layout.height >= 2 * NODE_HEIGHT


def test_edges_run_from_the_source_right_side_to_the_target_left_side() -> None:
    layout = layout_dag([step("a"), step("b", "a")])
    a, b = layout.nodes
    (edge,) = layout.edges
    assert edge.path.startswith(f"M{a.x + NODE_WIDTH},{a.y + NODE_HEIGHT // 2} ")
    assert edge.path.endswith(f" {b.x},{b.y + NODE_HEIGHT // 2}")


def test_cycles_unknown_and_self_dependencies_still_draw() -> None:
    layout = layout_dag([step("a", "b"), step("b", "a"), step("c", "c", "ghost"), step("c")])
    assert sorted(n.step_id for n in layout.nodes) == ["a", "b", "c"]
    assert all(e.source != e.target for e in layout.edges)
    assert layout_dag([]).nodes == ()


def test_dag_steps_take_plan_steps_and_statuses() -> None:
    steps = dag_steps(
        [PlanStep(id="a", tool="t"), PlanStep(id="b", tool="u", depends_on=["a"])],
        {"a": "completed"},
    )
    assert [(s.step_id, s.tool_name, s.depends_on, s.status) for s in steps] == [
        ("a", "t", (), "completed"),
        ("b", "u", ("a",), "pending"),
    ]
