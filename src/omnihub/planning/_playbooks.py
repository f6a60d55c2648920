"""The offline playbook planner: operator-written plans chosen by meaning, no LLM involved.

A playbook is example utterances plus a plan template whose argument values may hold entity
slots such as ``{LOCATION:origin}``, ``{DATE}`` or ``{MONEY.amount}`` (the slot names the
cache's entity extractor gives). The planner templates the goal and every example (entities
replaced by their slots), embeds them with the cache's embedder, takes the best-matching
playbook above the threshold whose slots the goal can fill, fills them and validates the plan.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from omnihub.cache import wording_guard
from omnihub.config import Settings
from omnihub.embeddings import Embedder, open_embedder
from omnihub.entities import Entity, extract_entities, inject, make_template
from omnihub.errors import (
    ConfigurationError,
    InvalidPlanError,
    NoPlanError,
    PlanValidationError,
)
from omnihub.planning._llm import check_plan
from omnihub.planning._planner import PlannerResult, PlanRequest, UsageSink
from omnihub.planning._types import Usage
from omnihub.plans import Plan
from omnihub.tools import ToolRegistry

#: ``{TYPE}``, ``{TYPE:role}``, ``{TYPE#2}``, optionally ``.amount`` / ``.currency`` for money.
SLOT = re.compile(r"\{([A-Z]+(?::[a-z_]+)?(?:#\d+)?)(?:\.(amount|currency))?\}")


class PlaybookStep(BaseModel):
    """A plan step whose argument values may contain slots."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)


class Playbook(BaseModel):
    """Example utterances and the plan template they map to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    examples: list[str] = Field(min_length=1)
    reasoning: str = ""
    steps: list[PlaybookStep] = Field(min_length=1)

    def slots(self) -> set[str]:
        """Every slot the template needs filled (without the money field suffix)."""
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, str):
                found.update(m.group(1) for m in SLOT.finditer(value))
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        for step in self.steps:
            walk(step.args)
        return found


def resolve_slots(wanted: Iterable[str], entities: Sequence[Entity]) -> list[Entity]:
    """The goal's entity for each wanted slot, renamed to that slot; unfillable ones left out.

    An exact slot name wins (``LOCATION:origin``). A plain ``TYPE`` slot also takes the goal's
    only entity of that type whatever its role, because the extractor's role for a lone value
    ("send a reset link to bob@…" makes the email a payee) should not decide the playbook.
    """
    by_slot = {entity.slot: entity for entity in entities}
    found: list[Entity] = []
    for slot in sorted(wanted):
        if slot in by_slot:
            found.append(by_slot[slot])
        elif ":" not in slot and "#" not in slot:
            same_type = [e for e in entities if e.type.value == slot]
            if len(same_type) == 1:
                found.append(replace(same_type[0], slot=slot))
    return found


def compile_template(value: Any) -> Any:
    """A playbook's readable slots turned into the markers :func:`omnihub.entities.inject`
    fills: a string that is one slot keeps the value's type (a number stays a number), slots
    inside longer text are formatted in."""
    if isinstance(value, str):
        whole = SLOT.fullmatch(value)
        if whole:
            return {"$slot": whole.group(0)[1:-1], "as": "value"}
        refs: list[str] = []
        pieces: list[str] = []
        cursor = 0
        for match in SLOT.finditer(value):
            pieces.append(value[cursor : match.start()].replace("{", "{{").replace("}", "}}"))
            pieces.append("{" + str(len(refs)) + "}")
            refs.append(match.group(0)[1:-1] + "|value")
            cursor = match.end()
        if not refs:
            return value
        pieces.append(value[cursor:].replace("{", "{{").replace("}", "}}"))
        return {"$format": "".join(pieces), "slots": refs}
    if isinstance(value, dict):
        compiled = {key: compile_template(item) for key, item in value.items()}
        return (
            {"$literal": compiled} if {"$slot", "$format", "$literal"} & value.keys() else compiled
        )
    if isinstance(value, list):
        return [compile_template(item) for item in value]
    return value


# Loading -------------------------------------------------------------------------------------


def _parse(data: Any, origin: str) -> list[Playbook]:
    items = data.get("playbooks", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigurationError(f"{origin}: expected a playbook or a list of playbooks")
    try:
        return [
            item if isinstance(item, Playbook) else Playbook.model_validate(item) for item in items
        ]
    except PydanticValidationError as exc:
        raise ConfigurationError(f"{origin}: invalid playbook: {exc}") from exc


def load_playbook_file(path: Path) -> list[Playbook]:
    """Playbooks from a YAML file, or from a Python file's ``PLAYBOOKS`` list."""
    if path.suffix == ".py":
        spec = importlib.util.spec_from_file_location(f"omnihub_playbook_{path.stem}", path)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"{path}: cannot load this Python playbook file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise ConfigurationError(f"{path}: error while loading: {exc}") from exc
        if not hasattr(module, "PLAYBOOKS"):
            raise ConfigurationError(f"{path}: a Python playbook file must define PLAYBOOKS")
        return _parse(list(module.PLAYBOOKS), str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"{path}: cannot read playbook: {exc}") from exc
    return _parse(data, str(path))


def default_playbooks() -> list[Playbook]:
    """The built-in playbooks of the demo domain (travel, payments, account admin)."""
    folder = resources.files("omnihub.planning") / "playbooks"
    found: list[Playbook] = []
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if item.name.endswith((".yaml", ".yml")):
            found += _parse(yaml.safe_load(item.read_text(encoding="utf-8")), item.name)
    return found


def load_playbooks(dirs: Iterable[Path], *, include_defaults: bool = True) -> list[Playbook]:
    """Built-in playbooks (optionally) plus every ``*.yaml``/``*.yml``/``*.py`` in ``dirs``."""
    found = default_playbooks() if include_defaults else []
    for folder in dirs:
        if not folder.is_dir():
            raise ConfigurationError(f"playbook directory {folder} does not exist")
        for path in sorted(folder.iterdir()):
            if path.suffix in (".yaml", ".yml", ".py"):
                found += load_playbook_file(path)
    names = [playbook.name for playbook in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(f"playbook names used twice: {', '.join(duplicates)}")
    return found


# Planning ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybookMatch:
    """How well one playbook matches a goal: its best example (as a template) and score."""

    playbook: Playbook
    score: float
    example: str


class PlaybookPlanner:
    """Plans from playbooks: best match by embedding above ``threshold``, slots filled, validated.

    Raises NoPlanError when no playbook matches well enough or none can be filled from the
    goal's entities, and InvalidPlanError when a filled plan fails validation (a playbook bug).
    """

    source = "playbook"
    model = None

    def __init__(
        self,
        playbooks: Sequence[Playbook],
        registry: ToolRegistry,
        embedder: Embedder,
        *,
        threshold: float = 0.7,
    ) -> None:
        if not playbooks:
            raise ConfigurationError("the playbook planner has no playbooks")
        self.playbooks = list(playbooks)
        self.registry = registry
        self.embedder = embedder
        self.threshold = threshold
        self._owners: list[tuple[int, str]] = []
        texts: list[str] = []
        for index, playbook in enumerate(self.playbooks):
            for example in playbook.examples:
                # Examples are templated without a reference time: only the slot types matter.
                text = make_template(example, extract_entities(example)).text
                self._owners.append((index, text))
                texts.append(text)
        self._vectors = embedder.embed(texts)

    @classmethod
    def from_settings(cls, settings: Settings, registry: ToolRegistry) -> PlaybookPlanner:

        playbooks = load_playbooks(
            settings.playbook_dirs, include_defaults=settings.playbook_defaults
        )
        return cls(
            playbooks, registry, open_embedder(settings), threshold=settings.playbook_threshold
        )

    async def aclose(self) -> None:
        return None

    def rank(self, goal: str, entities: Sequence[Entity]) -> list[PlaybookMatch]:
        """Playbooks by their best example's cosine similarity to the goal, best first.

        Examples of the opposite polarity ("don't book…" against "book…", judged by the plan
        cache's wording guard) never match, however close their embeddings are.
        """
        template = make_template(goal, list(entities)).text
        scores = self._vectors @ self.embedder.embed_one(template)
        best: dict[int, PlaybookMatch] = {}
        for (index, example), score in zip(self._owners, scores, strict=True):
            if wording_guard(template, example) == "polarity":  # the guard's reason name
                continue
            if index not in best or float(score) > best[index].score:
                best[index] = PlaybookMatch(self.playbooks[index], float(score), example)
        return sorted(best.values(), key=lambda match: match.score, reverse=True)

    async def plan(self, request: PlanRequest, usage: UsageSink | None = None) -> PlannerResult:
        started = time.perf_counter()
        entities = extract_entities(request.goal, request.now)
        ranked = self.rank(request.goal, entities)
        candidates = [match for match in ranked if match.score >= self.threshold]
        if not candidates:
            nearest = (
                f" (nearest: {ranked[0].playbook.name} at {ranked[0].score:.2f})" if ranked else ""
            )
            raise NoPlanError(
                f"no playbook matches this goal above the threshold {self.threshold:.2f}{nearest}"
            )
        unfilled: list[str] = []
        for match in candidates:
            wanted = match.playbook.slots()
            filled = resolve_slots(wanted, entities)
            missing = sorted(wanted - {entity.slot for entity in filled})
            if missing:
                unfilled.append(
                    f"{match.playbook.name} ({match.score:.2f}) needs {', '.join(missing)}"
                )
                continue
            plan = self._fill(match.playbook, filled)
            return PlannerResult(
                plan=plan,
                source="playbook",
                usage=Usage(),
                latency_ms=(time.perf_counter() - started) * 1000,
                playbook=match.playbook.name,
                score=match.score,
            )
        raise NoPlanError(
            "no plan: matching playbooks lack values the goal does not give: " + "; ".join(unfilled)
        )

    def _fill(self, playbook: Playbook, entities: list[Entity]) -> Plan:
        steps = [
            {**step.model_dump(), "args": inject(compile_template(step.args), entities)}
            for step in playbook.steps
        ]
        try:
            plan = Plan.model_validate(
                {"reasoning": playbook.reasoning or playbook.description, "steps": steps}
            )
            check_plan(plan, self.registry)
        except (PydanticValidationError, PlanValidationError) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            raise InvalidPlanError(
                f"playbook {playbook.name!r} gave an invalid plan: {'; '.join(problems)}", problems
            ) from exc
        return plan
