"""The command line loads only what a command uses: `--help` and `audit verify` start without
Temporal, sagas, the runtime, the plan cache, embeddings or the API (~0.8 s of imports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Packages whose import a light command must not pay for.
HEAVY = (
    "temporalio",
    "omnihub.saga",
    "omnihub.runtime",
    "omnihub.cache",
    "omnihub.embeddings",
    "omnihub.planning",
    "omnihub.goals",
    "omnihub.api",
    "numpy",
    "onnxruntime",
    "fastapi",
    "httpx",
)


def _heavy_modules_after(home: Path, *argv: str) -> list[str]:
    """Run ``omnihub ARGV`` in a fresh interpreter (this one has imported everything), with
    its data under ``home``, and list the heavy modules it loaded."""
    code = (
        "import json, sys\n"
        "from omnihub.cli import main\n"
        f"sys.argv = ['omnihub', *{list(argv)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (None, 0), exc.code\n"
        f"heavy = {HEAVY!r}\n"
        "loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') "
        "for h in heavy))\n"
        "print(json.dumps(loaded), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "OMNIHUB_HOME": str(home)},
    )
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return loaded


def test_help_loads_no_temporal_runtime_cache_or_api(tmp_path: Path) -> None:
    assert _heavy_modules_after(tmp_path, "--help") == []


def test_audit_verify_loads_no_temporal_runtime_cache_or_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    assert _heavy_modules_after(tmp_path, "audit", "verify", "--store-url", url) == []


def test_a_command_that_uses_the_cache_still_loads_it(tmp_path: Path) -> None:
    # The probe does see a heavy import when a command makes one.
    loaded = _heavy_modules_after(
        tmp_path, "cache", "invalidate", "--tenant", "t", "--all", "--backend", "memory://"
    )
    assert "omnihub.cache" in loaded


def test_the_help_of_cache_backends_names_every_index_backend() -> None:
    # The CLI spells the list out so that its help needs no import of the cache.
    from omnihub.cache._factory import INDEX_BACKENDS as CACHE_BACKENDS
    from omnihub.cli._cache import INDEX_BACKENDS

    assert INDEX_BACKENDS == CACHE_BACKENDS
