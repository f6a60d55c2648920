"""The client tests run against the real stack of tests/api (Temporal, worker, uvicorn)."""

from __future__ import annotations

import sys
from pathlib import Path

# The stack fixture lives with the API tests; share it rather than start a stack a second way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
