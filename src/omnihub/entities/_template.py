"""Templates (requests with placeholders) and plan parameterisation / injection.

A parameterised plan is plain JSON in which a value taken from the request is replaced by a
marker: ``{"$slot": "DATE:start", "as": "value"}`` for a whole value, or
``{"$format": "Trip on {DATE}", "slots": [...]}`` for a value inside a longer string (braces
in the original text are doubled). A dict of the original plan that happens to use these keys
is wrapped as ``{"$literal": {...}}`` so it is never mistaken for a marker.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from omnihub.entities._lexicon import LIGHT_WORDS, words
from omnihub.entities._model import Entity, EntityType, Money, Template
from omnihub.errors import SlotError

_MARKER_KEYS = frozenset({"$slot", "$format", "$literal"})
_MIN_INNER = 3  # shorter values are not replaced inside longer strings ("2" in "v2")


def canonical_words(template_text: str) -> list[str]:
    """The template's words without light words (articles, politeness, interjections)."""
    return [w for w in words(template_text) if w not in LIGHT_WORDS]


def make_template(text: str, entities: list[Entity]) -> Template:
    """Replace each entity's span by its ``{slot}`` placeholder.

    ``Template.key`` hashes the canonical word sequence (lower case, punctuation and light
    words dropped), so "Hey, book a train…" and "book the train…" share the exact-template
    fast path while "don't cancel…" and "cancel…" do not.
    """
    parts: list[str] = []
    cursor = 0
    for entity in sorted(entities, key=lambda e: e.span):
        start, end = entity.span
        parts.append(text[cursor:start])
        parts.append("{" + entity.slot + "}")
        cursor = end
    parts.append(text[cursor:])
    rendered = " ".join("".join(parts).split())
    canonical = " ".join(canonical_words(rendered))
    key = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    return Template(rendered, key, tuple(e.slot for e in entities))


def _forms(entity: Entity) -> list[tuple[str, str, Any]]:
    """(slot path, mode, comparable value) for every form a plan may carry the entity in."""
    if isinstance(entity.value, Money):
        return [
            (entity.slot + ".amount", "value", entity.value.amount),
            (entity.slot + ".currency", "value", entity.value.currency),
        ]
    forms: list[tuple[str, str, Any]] = [(entity.slot, "value", entity.value)]
    if not isinstance(entity.value, str):
        forms.append((entity.slot, "str", str(entity.value)))
    if entity.text != str(entity.value):
        forms.append((entity.slot, "raw", entity.text))
    return forms


def _equal(leaf: Any, candidate: Any) -> bool:
    if isinstance(leaf, bool) or isinstance(candidate, bool):
        return False
    if isinstance(leaf, int | float) and isinstance(candidate, int | float):
        return math.isclose(float(leaf), float(candidate), rel_tol=0, abs_tol=1e-9)
    return isinstance(leaf, str) and isinstance(candidate, str) and leaf == candidate


@dataclass
class Parameterised:
    """The result of :func:`parameterise`.

    ``ambiguous`` is true when one plan value equals two different slots (say, pick-up and
    drop-off on the same day): injecting would have to guess, so such a plan must not be
    reused. ``used`` lists the slots the plan refers to, sorted.
    """

    plan: Any
    used: tuple[str, ...]
    ambiguous: bool = False
    literals: list[Any] = field(default_factory=list)


def parameterise(plan: Any, entities: list[Entity]) -> Parameterised:
    """Replace every plan value (at any depth, inside strings too) equal to an entity's
    normalised value or raw text by that entity's placeholder."""
    forms = [form for entity in entities for form in _forms(entity)]
    used: set[str] = set()
    state = Parameterised(plan=None, used=())

    def leaf(value: Any) -> Any:
        hits = sorted({(path, mode) for path, mode, cand in forms if _equal(value, cand)})
        paths = {path for path, _ in hits}
        if len(paths) > 1:
            state.ambiguous = True
        if hits:
            path, mode = hits[0] if len(paths) == 1 else (hits[0][0], hits[0][1])
            used.add(path.split(".")[0])
            return {"$slot": path, "as": mode}
        if isinstance(value, str):
            return inner(value)
        state.literals.append(value)
        return value

    def inner(value: str) -> Any:
        pieces: list[tuple[int, int, str]] = []
        for path, mode, cand in forms:
            if not isinstance(cand, str) or len(cand) < _MIN_INNER or mode == "str":
                continue
            pattern = r"(?<![\w])" + re.escape(cand) + r"(?![\w])"
            for match in re.finditer(pattern, value):
                pieces.append((match.start(), match.end(), f"{path}|{mode}"))
        if not pieces:
            state.literals.append(value)
            return value
        pieces.sort()
        out: list[str] = []
        slots: list[str] = []
        cursor = 0
        for start, end, ref in pieces:
            if start < cursor:
                state.ambiguous = True
                continue
            out.append(value[cursor:start].replace("{", "{{").replace("}", "}}"))
            out.append("{" + str(len(slots)) + "}")
            slots.append(ref)
            used.add(ref.split("|")[0].split(".")[0])
            cursor = end
        out.append(value[cursor:].replace("{", "{{").replace("}", "}}"))
        return {"$format": "".join(out), "slots": slots}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            mapped = {key: walk(value) for key, value in node.items()}
            return {"$literal": mapped} if _MARKER_KEYS & node.keys() else mapped
        if isinstance(node, list):
            return [walk(item) for item in node]
        return leaf(node)

    state.plan = walk(plan)
    state.used = tuple(sorted(used))
    return state


def _value(entity: Entity, path: str, mode: str) -> Any:
    if isinstance(entity.value, Money):
        return entity.value.amount if path.endswith(".amount") else entity.value.currency
    if mode == "raw":
        return entity.text
    if mode == "str":
        return str(entity.value)
    return entity.value


def inject(plan_template: Any, entities: list[Entity]) -> Any:
    """Fill every placeholder of a parameterised plan with the entity of the same slot.

    Raises :class:`SlotError` when a slot has no entity in ``entities``.
    """
    by_slot = {entity.slot: entity for entity in entities}

    def resolve(path: str, mode: str) -> Any:
        entity = by_slot.get(path.split(".")[0])
        if entity is None:
            raise SlotError(path.split(".")[0])
        return _value(entity, path, mode)

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$slot" in node:
            return resolve(str(node["$slot"]), str(node.get("as", "value")))
        if "$format" in node:
            refs = [str(ref).split("|") for ref in node["slots"]]
            values = [str(resolve(path, mode)) for path, mode in refs]
            return str(node["$format"]).format(*values)
        if "$literal" in node:
            return {key: walk(value) for key, value in node["$literal"].items()}
        return {key: walk(value) for key, value in node.items()}

    return walk(plan_template)


def literal_types(literals: list[Any], now: datetime | None = None) -> list[EntityType]:
    """Entity types found in a plan's literal (unparameterised) values, sorted and unique.

    If a request has an entity of one of these types that the plan did not use, the literal
    may be that entity under a normalisation we do not know; the cache then binds the
    entity's value instead of treating it as free (see ``PlanCache``).
    """
    from omnihub.entities._extract import extract_entities

    found: set[EntityType] = set()
    reference = now or datetime.now(UTC)
    for value in literals:
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            found.add(EntityType.NUMBER)
            continue
        found.update(e.type for e in extract_entities(str(value), reference))
    return sorted(found)
