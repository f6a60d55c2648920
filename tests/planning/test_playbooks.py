"""The offline playbook planner with the real MiniLM embedder and entity extractor."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnihub.cli import main
from omnihub.config import load_settings
from omnihub.errors import ConfigurationError, InvalidPlanError, NoPlanError
from omnihub.planning import (
    Budget,
    BudgetPolicy,
    PlanningService,
    PlanRequest,
    PlaybookPlanner,
    build_planner,
    default_playbooks,
    load_playbooks,
    open_ledger,
)
from omnihub.tools import default_registry

NOW = datetime(2026, 11, 24, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def planner() -> PlaybookPlanner:
    built = build_planner(load_settings(), default_registry())
    assert isinstance(built, PlaybookPlanner)
    return built


async def _plan(planner: PlaybookPlanner, goal: str):  # type: ignore[no-untyped-def]
    return await planner.plan(PlanRequest(goal=goal, now=NOW))


async def test_every_example_of_every_default_playbook_plans_with_its_own_playbook(
    planner: PlaybookPlanner,
) -> None:
    for playbook in default_playbooks():
        for example in playbook.examples:
            result = await _plan(planner, example)
            assert result.playbook == playbook.name, example
            assert result.source == "playbook"
            assert result.usage.total_tokens == 0


@pytest.mark.parametrize(
    ("goal", "playbook", "args"),
    [
        (
            "Could you book me a train from Lyon to Marseille on 5 May 2027?",
            "book_train",
            {"table": "bookings", "values": {"kind": "train", "origin": "Lyon",
             "destination": "Marseille", "date": "2027-05-05"}},
        ),
        (
            "please pay €42.50 to dana@example.com",
            "send_payment",
            {"table": "payments", "values": {"payee": "dana@example.com", "amount": 42.5,
             "currency": "EUR"}},
        ),
        (
            "Cancel my reservation XY-9981",
            "cancel_booking",
            {"table": "bookings", "id": "XY-9981"},
        ),
        (
            "Make a new account for zoe@umbrella.co",
            "create_user",
            {"table": "users", "id": "zoe@umbrella.co",
             "values": {"email": "zoe@umbrella.co", "status": "active"}},
        ),
    ],
)  # fmt: skip
async def test_paraphrased_goals_fill_the_matching_playbook(
    planner: PlaybookPlanner, goal: str, playbook: str, args: dict[str, object]
) -> None:
    result = await _plan(planner, goal)
    assert result.playbook == playbook
    assert result.score is not None
    assert result.score >= planner.threshold
    assert result.plan.steps[0].args == args


async def test_slots_inside_text_are_formatted_and_relative_dates_resolved(
    planner: PlaybookPlanner,
) -> None:
    result = await _plan(planner, "Book a train from Paris to Berlin tomorrow")
    assert result.plan.steps[0].args["values"]["date"] == "2026-11-25"  # type: ignore[index]
    assert result.plan.steps[1].args == {
        "message": "Your train from Paris to Berlin on 2026-11-25 is booked."
    }


async def test_an_unrelated_goal_is_a_clear_no_plan(planner: PlaybookPlanner) -> None:
    with pytest.raises(NoPlanError, match="no playbook matches this goal above the threshold"):
        await _plan(planner, "What is the meaning of life, the universe and everything?")


async def test_a_matching_goal_without_the_needed_values_is_a_clear_no_plan(
    planner: PlaybookPlanner,
) -> None:
    with pytest.raises(NoPlanError, match="needs"):
        await _plan(planner, "Book a train to Nice")


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


async def test_operator_playbooks_from_yaml_and_python_files(tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    _write(
        folder,
        "greet.yaml",
        """
name: greet
examples: ["Say hello to {name}", "Greet the user", "Wave hi to the user"]
steps:
  - id: hi
    tool: respond_to_user
    args: {message: Hello!}
""",
    )
    _write(
        folder,
        "ping.py",
        """
from omnihub.planning import Playbook

PLAYBOOKS = [
    Playbook(
        name="ping_url",
        examples=[f"Ping {u}" for u in ("https://example.com", "http://status.acme.io/health")],
        steps=[{"id": "ping", "tool": "http_request",
                "args": {"url": "{URL}", "method": "GET"}}],
    )
]
""",
    )
    settings = load_settings(playbook_dirs=[folder], playbook_defaults=False)
    planner = build_planner(settings, default_registry())
    assert isinstance(planner, PlaybookPlanner)
    assert sorted(p.name for p in planner.playbooks) == ["greet", "ping_url"]
    result = await _plan(planner, "Ping https://omnihub.dev/status please")
    assert result.playbook == "ping_url"
    assert result.plan.steps[0].args == {"url": "https://omnihub.dev/status", "method": "GET"}
    assert (await _plan(planner, "Greet the user warmly")).playbook == "greet"


def test_broken_playbook_files_are_configuration_errors(tmp_path: Path) -> None:
    bad_yaml = _write(tmp_path / "a", "bad.yaml", "name: [unclosed")
    with pytest.raises(ConfigurationError, match="cannot read playbook"):
        load_playbooks([bad_yaml.parent], include_defaults=False)
    wrong_shape = _write(tmp_path / "b", "shape.yaml", "name: x\nexamples: []\nsteps: []\n")
    with pytest.raises(ConfigurationError, match="invalid playbook"):
        load_playbooks([wrong_shape.parent], include_defaults=False)
    no_list = _write(tmp_path / "c", "scalar.yml", "42\n")
    with pytest.raises(ConfigurationError, match="expected a playbook"):
        load_playbooks([no_list.parent], include_defaults=False)
    no_attr = _write(tmp_path / "d", "empty.py", "X = 1\n")
    with pytest.raises(ConfigurationError, match="must define PLAYBOOKS"):
        load_playbooks([no_attr.parent], include_defaults=False)
    crash = _write(tmp_path / "e", "crash.py", "raise RuntimeError('boom')\n")
    with pytest.raises(ConfigurationError, match="boom"):
        load_playbooks([crash.parent], include_defaults=False)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_playbooks([tmp_path / "missing"])
    dup = _write(tmp_path / "f", "dup.yaml", (
        "playbooks:\n"
        "  - {name: book_train, examples: [x], steps: [{id: a, tool: respond_to_user}]}\n"
    ))  # fmt: skip
    with pytest.raises(ConfigurationError, match="used twice: book_train"):
        load_playbooks([dup.parent])
    with pytest.raises(ConfigurationError, match="no playbooks"):
        PlaybookPlanner([], default_registry(), embedder=None)  # type: ignore[arg-type]


async def test_a_playbook_whose_plan_is_invalid_reports_the_problems(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    _write(
        folder,
        "broken.yaml",
        """
name: broken
examples: ["Launch the rocket to Mars"]
steps:
  - {id: go, tool: launch_rocket, args: {target: Mars}}
""",
    )
    planner = build_planner(
        load_settings(playbook_dirs=[folder], playbook_defaults=False), default_registry()
    )
    with pytest.raises(InvalidPlanError, match="unknown tool 'launch_rocket'"):
        await planner.plan(PlanRequest(goal="Launch the rocket to Mars"))


async def test_playbook_plans_are_never_blocked_by_budgets(
    planner: PlaybookPlanner, tmp_path: Path
) -> None:
    ledger = open_ledger(f"sqlite:///{tmp_path / 'l.db'}")
    service = PlanningService(planner, ledger=ledger, budgets=BudgetPolicy(Budget(tokens=0)))
    outcome = await service.plan_goal(PlanRequest("Remove user alice@example.com", now=NOW))
    assert outcome.source == "playbook"
    assert outcome.playbook == "delete_user"
    assert outcome.event_payload()["token_usage"] is None
    ledger.close()


def test_cli_plans_with_playbooks_when_no_llm_is_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["omnihub", "plan", "Refund 40 EUR to dana@example.com",
                                     "--json"])  # fmt: skip
    main()
    printed = json.loads(capsys.readouterr().out)
    assert printed["source"] == "playbook"
    assert printed["usage"] == {
        "model": None, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0
    }  # fmt: skip
    assert [s["tool"] for s in printed["plan"]] == ["database_write", "send_email"]
    monkeypatch.setattr("sys.argv", ["omnihub", "plan", "Tell me a joke", "--json"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 1
    assert "no playbook matches" in capsys.readouterr().err


@pytest.mark.parametrize(
    "goal", ["Please do not cancel booking BK-1", "Don't book a train from Lyon to Nice on 3 March"]
)
async def test_a_negated_goal_never_matches_a_positive_playbook(
    planner: PlaybookPlanner, goal: str
) -> None:
    with pytest.raises(NoPlanError):
        await _plan(planner, goal)
