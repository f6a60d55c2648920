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
from omnihub.entities._numbers import (
    DIGIT_RUN,
    NUMERIC_TOKEN,
    SYMBOL_CURRENCY,
    readings,
    render,
    significant,
    symbol,
)
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
    reused. ``used`` lists the slots the plan refers to, sorted. ``suspect`` lists the
    numeric slots whose digits the plan still holds literally in a form that matches no known
    rendering ("1100" cents for 11 EUR, "ref 11/2026"): the value may have shaped the plan,
    so the cache binds it rather than risk replaying it for another value.
    """

    plan: Any
    used: tuple[str, ...]
    ambiguous: bool = False
    literals: list[Any] = field(default_factory=list)
    suspect: tuple[str, ...] = ()


def _numeric(entities: list[Entity]) -> list[tuple[str, float]]:
    """(slot path, value) of every number a plan's text may carry: amounts and numbers."""
    out: list[tuple[str, float]] = []
    for entity in entities:
        if isinstance(entity.value, Money):
            out.append((entity.slot + ".amount", entity.value.amount))
        elif entity.type is EntityType.NUMBER and isinstance(entity.value, int | float):
            out.append((entity.slot, float(entity.value)))
    return out


def _select(pieces: list[tuple[int, int, str]]) -> tuple[list[tuple[int, int, str]], bool]:
    """Longest non-overlapping pieces; overlapping pieces of two different slots are
    ambiguous (the same slot's raw text and its currency code are not)."""
    chosen: list[tuple[int, int, str]] = []
    ambiguous = False
    for piece in sorted(pieces, key=lambda p: (p[0] - p[1], p[0])):
        clash = [c for c in chosen if piece[0] < c[1] and c[0] < piece[1]]
        if not clash:
            chosen.append(piece)
        elif any(_slot(c[2]) != _slot(piece[2]) for c in clash):
            ambiguous = True
    return sorted(chosen), ambiguous


def _slot(ref: str) -> str:
    return ref.split("|")[0].split(".")[0]


def parameterise(plan: Any, entities: list[Entity]) -> Parameterised:
    """Replace every plan value (at any depth, inside strings too) equal to an entity's
    normalised value or raw text by that entity's placeholder."""
    forms = [form for entity in entities for form in _forms(entity)]
    numbers = _numeric(entities)
    digits = [(path.split(".")[0], significant(render(v, "num:0:."))) for path, v in numbers]
    used: set[str] = set()
    suspect: set[str] = set()
    state = Parameterised(plan=None, used=())

    def derived(text: str) -> None:
        for run in DIGIT_RUN.finditer(text):
            suspect.update(slot for slot, sig in digits if sig and significant(run[0]) == sig)

    def leaf(value: Any) -> Any:
        hits = sorted({(path, mode) for path, mode, cand in forms if _equal(value, cand)})
        paths = {path for path, _ in hits}
        if len(paths) > 1:
            state.ambiguous = True
        if hits:
            path, mode = hits[0]
            used.add(path.split(".")[0])
            return {"$slot": path, "as": mode}
        if isinstance(value, str):
            return inner(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            derived(str(value))
        state.literals.append(value)
        return value

    def number_pieces(value: str, taken: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        out: list[tuple[int, int, str]] = []
        for match in NUMERIC_TOKEN.finditer(value):
            if any(match.start() < end and start < match.end() for start, end, _ in taken):
                continue  # inside a longer form of an entity ("11 EUR", "May 11")
            refs = {
                f"{path}|{mode}"
                for number, mode in readings(match[0])
                for path, candidate in numbers
                if _equal(number, candidate)
            }
            if len({_slot(ref) for ref in refs}) > 1:
                state.ambiguous = True
            if refs:
                ref = min(refs)
                out.append((match.start(), match.end(), ref))
                if ref.split("|")[0].endswith(".amount"):
                    out.extend(symbol_pieces(value, match.start(), match.end(), ref))
        return out

    def symbol_pieces(value: str, start: int, end: int, ref: str) -> list[tuple[int, int, str]]:
        entity = next(e for e in entities if e.slot == _slot(ref))
        assert isinstance(entity.value, Money)
        currency = entity.value.currency
        before = value[:start].rstrip(" ")
        after = value[end:].lstrip(" ")
        out: list[tuple[int, int, str]] = []
        if before and SYMBOL_CURRENCY.get(before[-1]) == currency:
            out.append((len(before) - 1, len(before), f"{entity.slot}.currency|symbol"))
        elif after and SYMBOL_CURRENCY.get(after[0]) == currency:
            at = len(value) - len(after)
            out.append((at, at + 1, f"{entity.slot}.currency|symbol"))
        return out

    def inner(value: str) -> Any:
        pieces: list[tuple[int, int, str]] = []
        for path, mode, cand in forms:
            if not isinstance(cand, str) or len(cand) < _MIN_INNER or mode == "str":
                continue
            pattern = r"(?<![\w])" + re.escape(cand) + r"(?![\w])"
            for match in re.finditer(pattern, value):
                pieces.append((match.start(), match.end(), f"{path}|{mode}"))
        chosen, ambiguous = _select(pieces)
        chosen, clash = _select(chosen + number_pieces(value, chosen))
        state.ambiguous = state.ambiguous or ambiguous or clash
        if not chosen:
            derived(value)
            state.literals.append(value)
            return value
        out: list[str] = []
        slots: list[str] = []
        cursor = 0
        for start, end, ref in chosen:
            out.append(value[cursor:start].replace("{", "{{").replace("}", "}}"))
            derived(value[cursor:start])
            out.append("{" + str(len(slots)) + "}")
            slots.append(ref)
            used.add(_slot(ref))
            cursor = end
        out.append(value[cursor:].replace("{", "{{").replace("}", "}}"))
        derived(value[cursor:])
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
    state.suspect = tuple(sorted(suspect))
    return state


def _value(entity: Entity, path: str, mode: str) -> Any:
    if isinstance(entity.value, Money):
        if path.endswith(".currency"):
            return symbol(entity.value.currency) if mode == "symbol" else entity.value.currency
        amount = entity.value.amount
        return render(amount, mode) if mode.startswith("num:") else amount
    if mode.startswith("num:") and isinstance(entity.value, int | float):
        return render(float(entity.value), mode)
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
