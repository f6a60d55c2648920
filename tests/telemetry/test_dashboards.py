"""The committed Grafana dashboard and Prometheus alerts use only metrics that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from omnihub.api import ApiMetrics
from omnihub.telemetry import RuntimeMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\bomnihub_[a-z0-9_]+")


def _exposed() -> set[str]:
    names: set[str] = set()
    for registry in (RuntimeMetrics().registry, ApiMetrics().registry):
        for family in registry.collect():
            names.add(family.name)
            # Counters and histograms are queried by their sample names (_total, _bucket…).
            suffixes = {
                "counter": ("_total",),
                "histogram": ("_bucket", "_count", "_sum"),
            }.get(family.type, ())
            names.update(family.name + suffix for suffix in suffixes)
    return names


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "omnihub.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def _alert_exprs() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_every_metric_of_the_dashboard_exists() -> None:
    used = {name for expr in _dashboard_exprs() for name in METRIC.findall(expr)}
    assert len(used) >= 10
    assert used - _exposed() == set()


def test_every_metric_of_the_alerts_exists() -> None:
    used = {name for expr in _alert_exprs() for name in METRIC.findall(expr)}
    assert {"omnihub_goals_total", "omnihub_audit_verifications_total"} <= used
    assert used - _exposed() == set()


def test_the_check_catches_a_misspelt_metric() -> None:
    assert METRIC.findall('rate(omnihub_goal_total{outcome="x"}[5m])')[0] not in _exposed()


def test_the_dashboard_covers_what_operators_ask() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "omnihub.json").read_text())
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for topic in ("throughput", "latency", "compensation", "approval", "hit", "false-hit", "spend"):
        assert topic in titles, topic
    alerts = {
        rule["alert"]
        for group in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())["groups"]
        for rule in group["rules"]
    }
    assert {
        "OmniHubGoalsStuck",
        "OmniHubCompensationsFailing",
        "OmniHubBudgetExhausted",
        "OmniHubAuditChainBroken",
    } <= alerts
