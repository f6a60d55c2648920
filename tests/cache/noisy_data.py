"""Requests typed the way people type them: a noisy variant of any plan-cache dataset.

Each request gets, deterministically for a seed: a greeting or politeness marker in front,
thanks or urgency behind, everything in lower case except identifiers, e-mail addresses and
URLs (whose case is part of their value), one transposed pair of letters inside an ordinary
word (never inside an entity), no final punctuation, and a doubled space. The plan does not
change: noise must not change what the request asks for. Run
``python tests/cache/noisy_data.py IN.jsonl OUT.jsonl [SEED]`` to write a noisy copy.
"""

from __future__ import annotations

import json
import random
import re
import sys
from datetime import datetime
from typing import Any

from omnihub.entities import EntityType, extract_entities, is_common_word

# Wider than anything the normaliser was tuned on: edge phrases a person may type.
OPENERS = [
    "hi",
    "hi,",
    "hello",
    "hello!",
    "hey there,",
    "good morning,",
    "good afternoon -",
    "please",
    "pls",
    "hi, please",
    "hello, could you please",
    "hey, can you",
    "could you",
    "ok so",
    "yo",
    "greetings,",
    "hi team,",
    "dear support,",
]
CLOSERS = [
    "thanks!",
    "thank you",
    "thanks",
    "asap",
    "asap please",
    "thx",
    "ty!",
    "please",
    "cheers",
    "thanks in advance",
    "thank you so much!",
    "much appreciated",
    "urgently",
    "right away",
    "as soon as possible",
    ":)",
    "!!",
]
_KEEP_CASE = {EntityType.ID, EntityType.EMAIL, EntityType.URL}
_WORD = re.compile(r"[A-Za-z]{4,}")


def _lower(text: str, keep: list[tuple[int, int]]) -> str:
    out, cursor = [], 0
    for start, end in sorted(keep):
        out.append(text[cursor:start].lower())
        out.append(text[start:end])
        cursor = end
    out.append(text[cursor:].lower())
    return "".join(out)


def _transpose(rng: random.Random, text: str, taken: list[tuple[int, int]]) -> str:
    """Swap two adjacent letters inside one ordinary word outside every entity."""
    spots = [
        m
        for m in _WORD.finditer(text)
        if is_common_word(m[0])
        and not any(m.start() < end and start < m.end() for start, end in taken)
        and len(set(m[0][1:-1])) > 1
    ]
    if not spots:
        return text
    word = rng.choice(spots)
    for _ in range(10):
        at = rng.randint(word.start() + 1, word.end() - 3)  # first and last letter stay
        if text[at] != text[at + 1]:
            return text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return text


def _double_space(rng: random.Random, text: str) -> str:
    gaps = [m.start() for m in re.finditer(" ", text)]
    if not gaps:
        return text
    at = rng.choice(gaps)
    return text[:at] + " " + text[at:]


def noisy_query(rng: random.Random, query: str, now: datetime) -> str:
    entities = extract_entities(query, now)
    text = query.rstrip(" .!?")
    keep = [e.span for e in entities if e.type in _KEEP_CASE]
    text = _transpose(rng, text, [e.span for e in entities])
    text = _lower(text, keep)
    text = f"{rng.choice(OPENERS)} {text} {rng.choice(CLOSERS)}"
    return _double_space(rng, text)


def noisy(rows: list[dict[str, Any]], seed: int = 7) -> list[dict[str, Any]]:
    """A noisy copy of ``rows`` (dataset lines): same plans, noisy queries."""
    rng = random.Random(seed)
    out = []
    for row in rows:
        now = datetime.fromisoformat(str(row["now"]).replace("Z", "+00:00"))
        out.append({**row, "query": noisy_query(rng, str(row["query"]), now)})
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        rows = [json.loads(line) for line in source if line.strip()]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    with open(sys.argv[2], "w", encoding="utf-8") as target:
        for row in noisy(rows, seed):
            target.write(json.dumps(row) + "\n")
