"""Refund tools for the `refund` agent: the only tools in the product with a side effect.

Guarantees of `request_refund`:

- **Authorised**: the customer is `tool_context.user_id`; an order on another account is
  reported exactly like a missing one ("not found"), so order numbers leak nothing.
- **Confirmed**: `check_refund_eligibility` only *proposes*; `request_refund` runs only
  when the customer's next message in the same session is a clear yes
  (`tools.confirmation`), whatever the model decides.
- **Bounded**: `tools.refund_policy.evaluate` decides, inside the same database transaction
  as the insert (`Store.refund_atomically`), so racing processes cannot pass the daily cap;
  a refusal names the rule.
- **Idempotent**: one refund per order and per proposal nonce (UNIQUE keys in the audit
  table); asking again returns the existing refund and never writes a second row.
- **Audited**: approved refunds are appended to the `refunds` table (with the session and
  proposal nonce), which rejects UPDATE and DELETE.
- **Never in parallel**: it refuses to run inside a ParallelAgent branch (voting or
  sectioning) or from any agent other than `refund`, because N judges must never issue N
  side effects.

Multi-turn tasks: when the agent has to ask the customer which order they mean, the tools
leave `coordinator:pending` = the agent's name in session state so the root routes the
next turn back here; a finished (or refused) refund clears it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from google.adk.tools import ToolContext

from coordinator.parallel.fanout import side_effecting
from coordinator.state_keys import PENDING_KEY
from tools.confirmation import (
    IN_PARALLEL_KEY,
    PROPOSAL_KEY,
    confirmed_proposal,
    consume,
    propose,
)
from tools.confirmation import side_effect_refusal as _refusal
from tools.refund_policy import evaluate, load_policy, policy_text
from tools.store import Order, Refund, Store, format_money, get_store

__all__ = [
    "IN_PARALLEL_KEY",
    "PENDING_KEY",
    "REFUND_AGENT",
    "REFUND_TOOLS",
    "check_refund_eligibility",
    "decline_refund",
    "get_refund_policy",
    "list_orders",
    "refund_status",
    "request_refund",
    "side_effect_refusal",
]

REFUND_AGENT = "refund"
REFUND_KIND = "refund"


def _now() -> datetime:
    # Never from session state or arguments: a client could move the clock to pass the window.
    return datetime.now(UTC)


def _order_id(value: Any) -> int | None:
    m = re.search(r"\d+", str(value))
    return int(m.group()) if m else None


def _not_found(order_id: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": f"Order {order_id} was not found on your account. "
        "Please check the order number (list_orders shows your orders).",
    }


def _order_dict(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "item": order.item,
        "amount": order.amount,
        "ordered": order.ordered.isoformat(),
        "status": order.status,
    }


def _refund_dict(refund: Refund) -> dict[str, Any]:
    policy = load_policy()
    return {
        "refund_id": refund.id,
        "order_id": refund.order_id,
        "amount": refund.amount,
        "status": refund.status,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "expected": f"back on the original payment method within {policy.processing_time}",
    }


def _set_pending(tool_context: ToolContext, waiting: bool) -> None:
    """Mark (or clear) this agent as mid-task for the coordinator's next turn."""
    if waiting:
        tool_context.state[PENDING_KEY] = tool_context.agent_name
    elif tool_context.state.get(PENDING_KEY) == tool_context.agent_name:
        tool_context.state[PENDING_KEY] = None


def side_effect_refusal(tool_context: ToolContext) -> str | None:
    """Why `request_refund` must not run here (parallel branch, other agent, no user)."""
    refusal = _refusal(tool_context, REFUND_AGENT)
    return refusal.replace("side effects", "refunds") if refusal else None


def get_refund_policy() -> dict[str, Any]:
    """The refund policy: the written text to quote and its limits."""
    policy = load_policy()
    return {"status": "ok", "limits": policy.model_dump(), "text": policy_text()}


def list_orders(tool_context: ToolContext) -> dict[str, Any]:
    """The signed-in customer's orders (newest first) with their refund eligibility."""
    user_id = tool_context.user_id
    store = get_store()
    refunds = store.refunds_for(user_id)
    now = _now()
    orders = []
    for order in store.orders_for(user_id):
        decision = evaluate(order, refunds, now)
        row = _order_dict(order)
        row["refund_eligible"] = decision.allowed
        row["refund_rule"] = decision.rule
        existing = next((r for r in refunds if r.order_id == order.id), None)
        row["refund"] = _refund_dict(existing) if existing else None
        orders.append(row)
    # The agent will now ask which order: keep the conversation with it.
    _set_pending(tool_context, bool(orders))
    return {"status": "ok", "orders": orders}


def _own_order(order_id: Any, tool_context: ToolContext) -> tuple[Store, Order | None]:
    """The store and the session user's order `order_id` (None: no such order *for them*,
    which is all a caller may learn about other users' orders)."""
    oid = _order_id(order_id)
    store = get_store()
    return store, (store.order(tool_context.user_id, oid) if oid is not None else None)


def _proposal_text(order: Order, decision_reason: str) -> str:
    return (
        f"refund order {order.id} ({order.item}) in full: {order.amount} back to the original "
        f"payment method. {decision_reason}"
    )


def check_refund_eligibility(order_id: int, tool_context: ToolContext) -> dict[str, Any]:
    """Whether one of the customer's orders can be refunded now, and which rule decides.

    When it can, this also records a refund *proposal* for the customer to confirm: show
    it to them (order, item, amount, the policy rule) and ask for an explicit yes. Nothing
    is refunded until they answer yes in their next message.

    Args:
        order_id: the order number, e.g. 1001.
    """
    store, order = _own_order(order_id, tool_context)
    if order is None:
        _set_pending(tool_context, True)
        return _not_found(order_id)
    existing = store.refund_for_order(order.id)
    decision = evaluate(order, store.refunds_for(tool_context.user_id), _now())
    # Eligible: the customer may confirm next turn. Refused: the task is over.
    _set_pending(tool_context, decision.allowed)
    result: dict[str, Any] = {
        "status": "ok",
        "order": _order_dict(order),
        "eligible": decision.allowed,
        "rule": decision.rule,
        "explanation": decision.reason,
    }
    if existing is not None:
        result["existing_refund"] = _refund_dict(existing)
    # No proposal from a parallel/voting branch or another agent: nothing there may lead
    # to a refund, not even through a later "yes".
    if decision.allowed and side_effect_refusal(tool_context) is None:
        proposal = propose(
            tool_context,
            kind=REFUND_KIND,
            target=str(order.id),
            amount_cents=decision.amount_cents,
            summary=_proposal_text(order, decision.reason),
        )
        result["proposal"] = {
            "order_id": order.id,
            "item": order.item,
            "amount": format_money(decision.amount_cents, order.currency),
            "summary": proposal["summary"],
            "confirm": "Ask the customer to reply yes to confirm; nothing happens until then.",
        }
    return result


@side_effecting
def request_refund(order_id: int, reason: str, tool_context: ToolContext) -> dict[str, Any]:
    """Issue the refund the customer has just confirmed.

    Only runs when check_refund_eligibility proposed this order in the previous turn and
    the customer's current message is an explicit yes; otherwise it is refused and nothing
    is written. Safe to call twice: a second call returns the refund already issued.

    Args:
        order_id: the order number, e.g. 1001.
        reason: the customer's reason, in a few words.
    """
    refusal = side_effect_refusal(tool_context)
    if refusal:
        return {"status": "error", "message": f"Refused: {refusal}."}
    store, order = _own_order(order_id, tool_context)
    if order is None:
        _set_pending(tool_context, True)
        return _not_found(order_id)
    proposal, why_not = confirmed_proposal(tool_context, kind=REFUND_KIND, target=str(order.id))
    if proposal is None:
        existing = store.refund_for_order(order.id)
        if existing is not None:  # nothing to confirm, but say what exists
            return {"status": "ok", "already_refunded": True, "refund": _refund_dict(existing)}
        return {
            "status": "error",
            "needs_confirmation": True,
            "message": f"Not refunded: {why_not}. Call check_refund_eligibility to propose "
            "the refund, then wait for the customer's yes.",
        }
    consume(tool_context)
    _set_pending(tool_context, False)
    now = _now()
    decisions: list[Any] = []

    def decide(prior: list[Refund]) -> tuple[bool, int]:
        # Inside the store's write transaction: the policy sees every committed refund.
        decision = evaluate(order, prior, now)
        decisions.append(decision)
        allowed = decision.allowed and decision.amount_cents <= proposal["amount_cents"]
        return allowed, decision.amount_cents

    refund, created = store.refund_atomically(
        order,
        decide,
        reason=reason or "not given",
        now=now,
        session_id=tool_context._invocation_context.session.id,
        nonce=proposal["nonce"],
    )
    if refund is None:
        decision = decisions[-1]
        message = decision.reason if not decision.allowed else "The amount changed; ask again."
        return {
            "status": "error",
            "refused": True,
            "order": _order_dict(order),
            "rule": decision.rule,
            "message": message,
        }
    # The plugin in tools/side_effects.py marks the session "told" when the answer is sent.
    return {
        "status": "ok",
        "already_refunded": not created,
        "order": _order_dict(order),
        "refund": _refund_dict(refund),
    }


def decline_refund(tool_context: ToolContext) -> dict[str, Any]:
    """The customer said no (or not now) to the proposed refund: drop the proposal."""
    had = (tool_context.state.get(PROPOSAL_KEY) or {}).get("kind") == REFUND_KIND
    consume(tool_context, (REFUND_KIND,))
    _set_pending(tool_context, False)
    return {"status": "ok", "cancelled": had, "message": "Nothing was refunded."}


def refund_status(order_id: int, tool_context: ToolContext) -> dict[str, Any]:
    """The refund recorded for one of the customer's orders, if any.

    Args:
        order_id: the order number, e.g. 1001.
    """
    store, order = _own_order(order_id, tool_context)
    if order is None:
        return _not_found(order_id)
    _set_pending(tool_context, False)
    refund = store.refund_for_order(order.id)
    return {
        "status": "ok",
        "order": _order_dict(order),
        "refund": _refund_dict(refund) if refund else None,
    }


REFUND_TOOLS = [
    get_refund_policy,
    list_orders,
    check_refund_eligibility,
    request_refund,
    decline_refund,
    refund_status,
]
