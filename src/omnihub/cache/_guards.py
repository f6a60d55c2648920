"""Guards against false hits: a near neighbour is reused only if nothing says it differs.

Each guard returns ``None`` (passes) or the reason it rejects, and every rejection is counted
by that reason. The wording guard is where actions and polarity are checked:

- **polarity**: the number of negation markers must agree in parity ("don't cancel" ≠
  "cancel"; "do not cancel" = "don't cancel").
- **action / wording**: after dropping light words (articles, politeness) and placeholders,
  the two templates' lemmas must be the same multiset, except that a word may stand for a
  WordNet synonym ("buy" ~ "purchase"); a preposition before a date or time placeholder does
  not count ("tomorrow" vs "on {DATE}"). Any other differing word rejects: "action" if it
  can be a verb (book ≠ cancel, lock ≠ unlock, enable ≠ disable), otherwise "wording".

These rules use general language resources only (see :mod:`omnihub.entities._lexicon`); no
list of verbs or intents from any data set. When in doubt they reject: a miss costs a planner
call, a false hit executes the wrong action.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import lru_cache

from omnihub.entities import Entity, are_synonyms, is_verb, lemma, words
from omnihub.entities._lexicon import LIGHT_WORDS, NEGATIONS, PREPOSITIONS

REASON_POLARITY = "polarity"
REASON_ACTION = "action"
REASON_WORDING = "wording"
REASON_SLOTS = "slots"
REASON_VERSION = "version"
REASON_BOUND = "bound_value"


_TEMPORAL = ("{DATE", "{TIME")


@lru_cache(maxsize=65536)
def _content(template_text: str) -> tuple[Counter[str], int]:
    """Lemma multiset of the template's words, negation count.

    Placeholders and light words are dropped, and so is a preposition right before a date or
    time placeholder: "on {DATE}" and "{DATE}" ("tomorrow" takes no preposition) say the same,
    and roles ("from {DATE:start}") live in the placeholder.
    """
    raw = words(template_text)
    last = len(raw) - 1
    kept: list[str] = []
    negations = 0
    # One pass (this runs once per template a process meets: every neighbour of a lookup of a
    # new template is one). Digits have no lemma: lemminflect knows no number, so they are
    # kept as they are instead of being looked up (and remembered, one entry per number).
    for i, word in enumerate(raw):
        if word.startswith("{") or word in LIGHT_WORDS:
            continue
        if word in PREPOSITIONS and i < last and raw[i + 1].startswith(_TEMPORAL):
            continue
        if word in NEGATIONS:
            negations += 1
        elif not word.startswith("'"):
            kept.append(word if word.isdigit() else lemma(word))
    lemmas = Counter(kept)
    return lemmas, negations


def wording_guard(request_template: str, cached_template: str) -> str | None:
    """Reject when the two templates differ in polarity, action or other content words."""
    return _wording(request_template, cached_template)


# A lookup judges up to 8 neighbours, and requests sharing a template meet the same ones:
# the verdict is a pure function of the two texts, so it is remembered (bounded).
@lru_cache(maxsize=65536)
def _wording(request_template: str, cached_template: str) -> str | None:
    mine, my_negations = _content(request_template)
    theirs, their_negations = _content(cached_template)
    if my_negations % 2 != their_negations % 2:
        return REASON_POLARITY
    if mine == theirs:
        return None
    only_mine = sorted((mine - theirs).elements())
    only_theirs = sorted((theirs - mine).elements())
    for word in [w for w in only_mine if not w.isdigit()]:  # a number is no verb
        match = next(
            (other for other in only_theirs if not other.isdigit() and are_synonyms(word, other)),
            None,
        )
        if match is not None:
            only_mine.remove(word)
            only_theirs.remove(match)
    if not only_mine and not only_theirs:
        return None
    if any(
        is_verb(word)
        for word in only_mine + only_theirs
        if word not in PREPOSITIONS and not word.isdigit()
    ):
        return REASON_ACTION
    return REASON_WORDING


def slot_guard(request_slots: tuple[str, ...], cached_signature: tuple[str, ...]) -> str | None:
    """The entity slot signature (types and roles) must be identical."""
    return None if tuple(sorted(request_slots)) == tuple(cached_signature) else REASON_SLOTS


def version_guard(request_version: str, cached_version: str) -> str | None:
    """Entries made under another tool catalog, planner model or prompt are stale."""
    return None if request_version == cached_version else REASON_VERSION


#: Bound pseudo-slot: the reference day, for plans holding a date the cache cannot attribute
#: to an entity ("next week" resolved by the planner).
TODAY = "@today"


def bound_guard(entities: list[Entity], bound: Mapping[str, str], today: str) -> str | None:
    """Slots the cached plan may hold as literals must carry the very same values."""
    by_slot = {entity.slot: entity for entity in entities}
    for slot, value in sorted(bound.items()):
        if slot == TODAY:
            if value != today:
                return REASON_BOUND
            continue
        entity = by_slot.get(slot)
        if entity is None or canonical_value(entity) != value:
            return REASON_BOUND
    return None


def canonical_value(entity: Entity) -> str:
    """A stable string form of an entity's value, for bound slots."""
    return repr(entity.value)
