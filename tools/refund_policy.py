"""The refund policy as data (`tools/data/refund_policy.yaml`) and the one function that
applies it.

`evaluate` is pure: it takes the order, the customer's earlier refunds and the time, and
returns a `RefundDecision` naming the rule that decided, so the agent can quote it. Rules are
checked in a fixed order (once per order, status, age, amount, daily limit); the first that
refuses wins. Example::

    policy = load_policy()
    decision = evaluate(order, store.refunds_for(order.user_id), now, policy)
    decision.allowed, decision.rule      # (False, "max_order_age_days")
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coordinator.errors import ConfigError
from tools.store import Order, Refund, format_money

__all__ = [
    "POLICY_FILE",
    "POLICY_TEXT_FILE",
    "RefundDecision",
    "RefundPolicy",
    "evaluate",
    "load_policy",
    "policy_text",
]

POLICY_FILE = Path(__file__).resolve().parent / "data" / "refund_policy.yaml"
POLICY_TEXT_FILE = Path(__file__).resolve().parent / "data" / "REFUND_POLICY.md"


class RefundPolicy(BaseModel):
    """Limits on automatic refunds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_refund_amount: float = Field(gt=0, description="Largest refund approved automatically.")
    max_order_age_days: int = Field(ge=0, description="Refund window from the order date.")
    refundable_statuses: tuple[str, ...] = Field(description="Order statuses that can be refunded.")
    once_per_order: bool = Field(True, description="An order is refunded at most once.")
    max_refunds_per_day: int | None = Field(
        None, ge=1, description="Refunds per customer in a rolling 24 h (None: no limit)."
    )
    processing_time: str = Field("5-10 business days", description="When the money arrives.")
    currency_note: str = Field("", description="Where the money goes.")

    @property
    def max_refund_cents(self) -> int:
        return round(self.max_refund_amount * 100)


class RefundDecision(BaseModel):
    """The outcome of applying the policy to one order."""

    model_config = ConfigDict(frozen=True)

    allowed: bool = Field(description="True when the refund may be issued now.")
    amount_cents: int = Field(description="Amount that would be refunded (0 when refused).")
    reason: str = Field(description="Customer-facing explanation, quoting the rule.")
    rule: str = Field(description="The policy field that decided ('ok' when allowed).")


def load_policy(path: str | Path | None = None) -> RefundPolicy:
    """Read and validate the policy file; `ConfigError` names the file and field."""
    p = Path(path) if path is not None else POLICY_FILE
    return _load(p)


@lru_cache(maxsize=8)
def _load(path: Path) -> RefundPolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", path=str(path)) from None
    try:
        return RefundPolicy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "policy"
        raise ConfigError(f"{field}: {err['msg']}", path=str(path)) from None


def policy_text() -> str:
    """The written policy the refund agent quotes."""
    return POLICY_TEXT_FILE.read_text(encoding="utf-8")


def evaluate(
    order: Order,
    prior_refunds: Sequence[Refund],
    now: datetime | None = None,
    policy: RefundPolicy | None = None,
) -> RefundDecision:
    """Apply the policy to `order`; `prior_refunds` are the same customer's refunds."""
    policy = policy or load_policy()
    now = (now or datetime.now(UTC)).astimezone(UTC)

    def refuse(rule: str, reason: str) -> RefundDecision:
        return RefundDecision(allowed=False, amount_cents=0, reason=reason, rule=rule)

    if policy.once_per_order and any(r.order_id == order.id for r in prior_refunds):
        return refuse("once_per_order", f"Order {order.id} has already been refunded.")
    if order.status not in policy.refundable_statuses:
        allowed = " or ".join(policy.refundable_statuses)
        return refuse(
            "refundable_statuses",
            f"Order {order.id} is {order.status}; only {allowed} orders can be refunded. "
            "Please ask again once it has been delivered.",
        )
    age = (now.date() - order.ordered).days
    if age > policy.max_order_age_days:
        return refuse(
            "max_order_age_days",
            f"Order {order.id} was placed {age} days ago ({order.ordered.isoformat()}); refunds "
            f"are possible within {policy.max_order_age_days} days of the order date.",
        )
    if order.amount_cents > policy.max_refund_cents:
        limit = format_money(policy.max_refund_cents, order.currency)
        return refuse(
            "max_refund_amount",
            f"Order {order.id} is {order.amount}, above the {limit} limit for automatic "
            "refunds; a person from the billing team has to review it.",
        )
    if policy.max_refunds_per_day is not None:
        recent = [r for r in prior_refunds if now - r.created_at.astimezone(UTC) < timedelta(1)]
        if len(recent) >= policy.max_refunds_per_day:
            return refuse(
                "max_refunds_per_day",
                f"Order {order.id} can't be refunded today: you already received "
                f"{len(recent)} refunds in the last 24 hours (the limit is "
                f"{policy.max_refunds_per_day}); please try again tomorrow.",
            )
    return RefundDecision(
        allowed=True,
        amount_cents=order.amount_cents,
        reason=f"Order {order.id} ({order.item}, {order.amount}) is {order.status} and "
        f"{age} days old: eligible for a full refund of {order.amount}.",
        rule="ok",
    )
