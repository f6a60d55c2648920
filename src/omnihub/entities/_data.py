"""The compact data files shipped in ``omnihub/entities/data/``: place names, currency codes
and WordNet's verb senses and tagged counts.

They are derived from GeoNames (CC BY 4.0), pycountry (LGPL-2.1) and Princeton WordNet 3.0 by
``scripts/build_lexicon_data.py`` (which documents what each holds; licences beside them), so
that the default install needs none of the packages that carry the whole data sets.
"""

from __future__ import annotations

import gzip
import importlib.resources
import json
import threading
from dataclasses import dataclass
from functools import cache

from omnihub.errors import ConfigurationError

_lock = threading.Lock()


def _read(name: str) -> str:
    resource = importlib.resources.files("omnihub.entities") / "data" / name
    try:
        raw = resource.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(
            f"OmniHub's entity data file {name} is missing; reinstall omnihub"
        ) from exc
    return (gzip.decompress(raw) if name.endswith(".gz") else raw).decode("utf-8")


@cache
def _place_names() -> dict[str, str]:
    return {name.lower(): name for name in _read("places.txt.gz").splitlines()}


def place_names() -> dict[str, str]:
    """Lower-cased place name → its display spelling (cities, US states, countries)."""
    with _lock:
        return _place_names()


@cache
def _currency_codes() -> frozenset[str]:
    return frozenset(_read("currencies.txt").split())


def currency_codes() -> frozenset[str]:
    """ISO 4217 alphabetic currency codes, upper case."""
    with _lock:
        return _currency_codes()


@dataclass(frozen=True, slots=True)
class WordNetIndex:
    #: Verb lemma → its synset offsets, most frequent sense first.
    verb_senses: dict[str, tuple[str, ...]]
    #: Lemma → how often its senses were tagged in SemCor (all parts of speech); absent is 0.
    tagged_counts: dict[str, int]


@cache
def _wordnet() -> WordNetIndex:
    data = json.loads(_read("wordnet.json.gz"))
    senses = {word: tuple(offsets) for word, offsets in data["verb_senses"].items()}
    return WordNetIndex(senses, dict(data["tagged_counts"]))


def wordnet() -> WordNetIndex:
    """The parts of WordNet 3.0's index the lexicon uses."""
    with _lock:
        return _wordnet()
