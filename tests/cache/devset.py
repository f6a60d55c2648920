"""Where the shared plan-cache dev set lives: ``../shared/data`` from the repository root, as in
CI's fresh clone; ``PLAN_CACHE_DEV_SET`` points elsewhere (a git worktree kept in another folder).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEV = Path(
    os.environ.get("PLAN_CACHE_DEV_SET") or REPO.parent / "shared" / "data" / "plan_cache_dev.jsonl"
)
