"""The README's tool example runs, and its configuration table is the generated one."""

from __future__ import annotations

import re
from pathlib import Path

from omnihub.config import render_settings_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_the_tool_definition_example_runs() -> None:
    # The event store's example runs in tests/events/test_events_readme.py, on its own store.
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "@tool(" in b]
    assert len(blocks) == 1
    exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme_example"})


def test_the_configuration_table_is_current() -> None:
    # Stale after a setting was added, renamed or redescribed: run `make docs`.
    assert render_settings_table(README) == README
