"""The web console: goals, live timelines, approvals, cache and cost, served at ``/console``.

Server-rendered (Jinja2 templates, htmx, uPlot; every asset vendored under ``static/``, so it
works offline). Mount it on the API's app with :func:`mount_console`.
"""

from omnihub.console._console import Console
from omnihub.console._dag import DagLayout, DagStep, layout_dag
from omnihub.console._mount import mount_console
from omnihub.console._routes import create_console_router
from omnihub.console._session import COOKIE_NAME, ConsoleUser
from omnihub.console._views import AuditStatus, CacheReport, audit_goal, cache_report

__all__ = [
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
