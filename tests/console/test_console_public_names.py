"""The console package's public names are pinned."""

from __future__ import annotations

import omnihub.console


def test_public_names() -> None:
    assert omnihub.console.__all__ == [
        "COOKIE_NAME",
        "AuditStatus",
        "CacheReport",
        "Console",
        "ConsoleUser",
        "DagLayout",
        "DagStep",
        "audit_goal",
        "cache_report",
        "create_console_router",
        "layout_dag",
        "mount_console",
    ]
    for name in omnihub.console.__all__:
        assert getattr(omnihub.console, name) is not None
