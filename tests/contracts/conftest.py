"""Contract tests: generated clients built from the live spec and the committed schema."""

from __future__ import annotations

import sys
from pathlib import Path

# The real stack fixture lives with the API tests; share it rather than start one another way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
