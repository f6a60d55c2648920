"""Per-tenant daily LLM budgets (tokens and/or cost): reject or hold a goal that is over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from omnihub.config import Settings
from omnihub.errors import ConfigurationError
from omnihub.planning._ledger import UsageLedger, day_start

BudgetAction = Literal["reject", "hold"]


@dataclass(frozen=True)
class Budget:
    """A daily limit; ``None`` means no limit of that kind."""

    tokens: int | None = None
    cost: float | None = None


@dataclass(frozen=True)
class BudgetVerdict:
    """Why a goal is over budget: the event payload that says so, and what happens to it."""

    tenant: str
    action: BudgetAction
    reason: str
    spent_tokens: int
    spent_cost: float
    limit_tokens: int | None
    limit_cost: float | None
    period_start: datetime

    def payload(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "action": self.action,
            "reason": self.reason,
            "period": "day",
            "period_start": self.period_start.isoformat(),
            "spent_tokens": self.spent_tokens,
            "spent_cost": round(self.spent_cost, 8),
            "limit_tokens": self.limit_tokens,
            "limit_cost": self.limit_cost,
        }


@dataclass(frozen=True)
class BudgetPolicy:
    """Daily budgets: a default for every tenant, overridden per tenant."""

    default: Budget = Budget()
    tenants: Mapping[str, Budget] = field(default_factory=dict)
    action: BudgetAction = "reject"

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetPolicy:
        tenants: dict[str, Budget] = {}
        for tenant, limits in settings.budget_tenants.items():
            unknown = set(limits) - {"tokens", "cost"}
            if unknown:
                raise ConfigurationError(
                    f"budget for tenant {tenant!r} has unknown keys {sorted(unknown)}; "
                    "use 'tokens' and 'cost'"
                )
            tokens = limits.get("tokens")
            cost = limits.get("cost")
            tenants[tenant] = Budget(
                tokens=int(tokens) if tokens is not None else None,
                cost=float(cost) if cost is not None else None,
            )
        default = Budget(tokens=settings.budget_daily_tokens, cost=settings.budget_daily_cost)
        return cls(default=default, tenants=tenants, action=settings.budget_action)

    def budget_for(self, tenant: str) -> Budget:
        return self.tenants.get(tenant, self.default)

    def check(self, ledger: UsageLedger, tenant: str, now: datetime) -> BudgetVerdict | None:
        """A verdict when ``tenant`` has used up today's budget, else None."""
        budget = self.budget_for(tenant)
        if budget.tokens is None and budget.cost is None:
            return None
        start = day_start(now)
        spent = ledger.spent_since(tenant, start)
        reasons = []
        if budget.tokens is not None and spent.tokens >= budget.tokens:
            reasons.append(f"{spent.tokens} tokens used today of a {budget.tokens}-token budget")
        if budget.cost is not None and spent.cost >= budget.cost:
            reasons.append(f"${spent.cost:.4f} spent today of a ${budget.cost:.4f} budget")
        if not reasons:
            return None
        verb = "held for approval" if self.action == "hold" else "rejected"
        return BudgetVerdict(
            tenant=tenant,
            action=self.action,
            reason=f"tenant {tenant!r} is over its daily LLM budget ({'; '.join(reasons)}); "
            f"goal {verb}",
            spent_tokens=spent.tokens,
            spent_cost=spent.cost,
            limit_tokens=budget.tokens,
            limit_cost=budget.cost,
            period_start=start,
        )
