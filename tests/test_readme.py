"""The README's Python examples run, and its configuration table names every setting."""

from __future__ import annotations

import re
from pathlib import Path

from omnihub.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_python_example_in_the_readme_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})


def test_the_configuration_table_names_every_setting() -> None:
    missing = [name for name in Settings.model_fields if f"OMNIHUB_{name.upper()}" not in README]
    assert missing == []
