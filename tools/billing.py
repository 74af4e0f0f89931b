"""Billing tools for the `billing` agent (ADK function tools).

The acting customer is always `tool_context.user_id` (the authenticated session user);
no tool takes a user id argument, so a prompt cannot make a tool read someone else's
account. Failures the model can recover from come back as
`{"status": "error", "message": ...}`; success is `{"status": "ok", ...}`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from google.adk.tools import ToolContext

from coordinator.parallel.fanout import side_effecting
from coordinator.state_keys import PENDING_KEY
from tools.confirmation import (
    PROPOSAL_KEY,
    confirmed_proposal,
    consume,
    propose,
    side_effect_refusal,
)
from tools.store import Action, Invoice, format_money, get_store

__all__ = [
    "BILLING_AGENT",
    "BILLING_TOOLS",
    "cancel_subscription",
    "decline_billing_action",
    "find_duplicate_charges",
    "get_account",
    "get_invoice",
    "invoice_dict",
    "list_invoices",
    "propose_cancel_subscription",
    "refund_duplicate_charge",
]

# Two paid invoices for the same thing within this many days are a duplicate charge.
DUPLICATE_WINDOW_DAYS = 7
BILLING_AGENT = "billing"
CHARGE_REFUND = "charge_refund"
CANCEL = "cancel_subscription"


def _set_pending(tool_context: ToolContext, waiting: bool) -> None:
    """Keep the conversation with billing while a proposal waits for the customer's yes."""
    if waiting:
        tool_context.state[PENDING_KEY] = tool_context.agent_name
    elif tool_context.state.get(PENDING_KEY) == tool_context.agent_name:
        tool_context.state[PENDING_KEY] = None


def _action_dict(action: Action) -> dict[str, Any]:
    return {
        "action_id": action.id,
        "kind": action.kind,
        "target": action.target,
        "amount": action.amount if action.amount_cents else None,
        "detail": action.detail,
        "created_at": action.created_at.isoformat(),
    }


def invoice_dict(inv: Invoice) -> dict[str, Any]:
    return {
        "id": inv.id,
        "issued": inv.issued.isoformat(),
        "amount": inv.amount,
        "amount_cents": inv.amount_cents,
        "currency": inv.currency,
        "status": inv.status,
        "description": inv.description,
        "items": list(inv.items),
    }


def _no_account(user_id: str) -> dict[str, Any]:
    return {"status": "error", "message": f"No billing account exists for user {user_id!r}."}


def get_account(tool_context: ToolContext) -> dict[str, Any]:
    """The signed-in customer's account: name, e-mail, plan, currency, payment method."""
    user_id = tool_context.user_id
    customer = get_store().customer(user_id)
    if customer is None:
        return _no_account(user_id)
    return {"status": "ok", "account": customer.model_dump()}


def list_invoices(tool_context: ToolContext, limit: int = 5) -> dict[str, Any]:
    """The signed-in customer's invoices, newest first.

    Args:
        limit: how many invoices to return (1-24).
    """
    user_id = tool_context.user_id
    store = get_store()
    if store.customer(user_id) is None:
        return _no_account(user_id)
    limit = min(24, max(1, int(limit)))
    invoices = store.invoices_for(user_id, limit=limit)
    return {"status": "ok", "invoices": [invoice_dict(i) for i in invoices]}


def get_invoice(invoice_id: str, tool_context: ToolContext) -> dict[str, Any]:
    """One of the signed-in customer's invoices by number.

    Args:
        invoice_id: the invoice number, e.g. "INV-10004".
    """
    invoice = get_store().invoice(tool_context.user_id, str(invoice_id))
    if invoice is None:
        return {
            "status": "error",
            "message": f"Invoice {invoice_id} was not found on your account.",
        }
    return {"status": "ok", "invoice": invoice_dict(invoice)}


def find_duplicate_charges(tool_context: ToolContext) -> dict[str, Any]:
    """Paid invoices that charge the same thing twice (same description and amount,
    issued within a week of each other) on the signed-in customer's account."""
    user_id = tool_context.user_id
    store = get_store()
    if store.customer(user_id) is None:
        return _no_account(user_id)
    invoices = store.invoices_for(user_id)
    groups: dict[tuple[str, int], list[Invoice]] = defaultdict(list)
    for inv in invoices:
        if inv.status == "paid":
            groups[(inv.description, inv.amount_cents)].append(inv)
    duplicates = []
    for (description, cents), same in groups.items():
        same.sort(key=lambda i: (i.issued, i.id))
        cluster = [same[0]]
        for inv in same[1:]:
            if (inv.issued - cluster[-1].issued).days <= DUPLICATE_WINDOW_DAYS:
                cluster.append(inv)
                continue
            if len(cluster) > 1:
                break
            cluster = [inv]
        if len(cluster) > 1:
            extra = cents * (len(cluster) - 1)
            duplicates.append(
                {
                    "description": description,
                    "charges": [invoice_dict(i) for i in cluster],
                    "times_charged": len(cluster),
                    "overcharged": format_money(extra, cluster[0].currency),
                    "overcharged_cents": extra,
                }
            )
    result: dict[str, Any] = {
        "status": "ok",
        "invoices_checked": len(invoices),
        "duplicates": duplicates,
        "recent": [invoice_dict(i) for i in invoices[:3]],
    }
    if duplicates and side_effect_refusal(tool_context, BILLING_AGENT) is None:
        extra = duplicates[0]["charges"][-1]  # the later charge is the duplicate
        summary = (
            f"refund the duplicate charge {extra['id']} ({extra['amount']}, "
            f"{extra['description']}) to the original payment method"
        )
        propose(
            tool_context,
            kind=CHARGE_REFUND,
            target=extra["id"],
            amount_cents=extra["amount_cents"],
            summary=summary,
        )
        result["proposal"] = {
            "invoice_id": extra["id"],
            "amount": extra["amount"],
            "summary": summary,
        }
        _set_pending(tool_context, True)
    return result


def _confirmed(
    tool_context: ToolContext, kind: str, target: str
) -> tuple[dict[str, Any] | None, str | None]:
    """`(refusal_result, None)`, or `(None, nonce)` when the customer confirmed this action."""
    refusal = side_effect_refusal(tool_context, BILLING_AGENT)
    if refusal:
        return {"status": "error", "message": f"Refused: {refusal}."}, None
    proposal, why_not = confirmed_proposal(tool_context, kind=kind, target=target)
    if proposal is None:
        return {
            "status": "error",
            "needs_confirmation": True,
            "message": f"Not done: {why_not}.",
        }, None
    consume(tool_context)
    _set_pending(tool_context, False)
    return None, proposal["nonce"]


@side_effecting
def refund_duplicate_charge(invoice_id: str, tool_context: ToolContext) -> dict[str, Any]:
    """Refund a duplicate charge the customer has just confirmed.

    Only runs when find_duplicate_charges proposed this invoice in the previous turn and
    the customer's current message is an explicit yes; otherwise nothing is done.

    Args:
        invoice_id: the duplicate invoice number, e.g. "INV-10018".
    """
    invoice_id = str(invoice_id).strip().upper()
    refused, nonce = _confirmed(tool_context, CHARGE_REFUND, invoice_id)
    if refused is not None:
        existing = get_store().action(CHARGE_REFUND, invoice_id)
        if existing is not None and existing.user_id == tool_context.user_id:
            return {"status": "ok", "already_done": True, "action": _action_dict(existing)}
        return refused
    action, created, why_not = get_store().refund_duplicate_charge(
        tool_context.user_id,
        invoice_id,
        window_days=DUPLICATE_WINDOW_DAYS,
        session_id=tool_context._invocation_context.session.id,
        nonce=nonce,
    )
    if action is None:
        return {"status": "error", "refused": True, "message": why_not}
    return {"status": "ok", "already_done": not created, "action": _action_dict(action)}


def propose_cancel_subscription(tool_context: ToolContext) -> dict[str, Any]:
    """Record a proposal to cancel the customer's subscription; they confirm with a yes in
    their next message (nothing is cancelled by this call)."""
    customer = get_store().customer(tool_context.user_id)
    if customer is None:
        return _no_account(tool_context.user_id)
    if customer.plan.startswith("Cancelled"):
        return {"status": "ok", "already_cancelled": True, "plan": customer.plan}
    refusal = side_effect_refusal(tool_context, BILLING_AGENT)
    if refusal:
        return {"status": "error", "message": f"Refused: {refusal}."}
    summary = f"cancel your {customer.plan} subscription (no further monthly charges)"
    propose(tool_context, kind=CANCEL, target=tool_context.user_id, amount_cents=0, summary=summary)
    _set_pending(tool_context, True)
    return {"status": "ok", "plan": customer.plan, "proposal": {"summary": summary}}


@side_effecting
def cancel_subscription(tool_context: ToolContext) -> dict[str, Any]:
    """Cancel the subscription the customer has just confirmed cancelling (explicit yes in
    this message to the proposal of the previous turn); otherwise nothing is done."""
    refused, nonce = _confirmed(tool_context, CANCEL, tool_context.user_id)
    if refused is not None:
        return refused
    action, created, why_not = get_store().cancel_subscription(
        tool_context.user_id,
        session_id=tool_context._invocation_context.session.id,
        nonce=nonce,
    )
    if action is None:
        return {"status": "error", "refused": True, "message": why_not}
    return {"status": "ok", "already_done": not created, "action": _action_dict(action)}


def decline_billing_action(tool_context: ToolContext) -> dict[str, Any]:
    """The customer said no (or not now) to the proposed billing action: drop it."""
    had = (tool_context.state.get(PROPOSAL_KEY) or {}).get("kind") in (CHARGE_REFUND, CANCEL)
    consume(tool_context, (CHARGE_REFUND, CANCEL))
    _set_pending(tool_context, False)
    return {"status": "ok", "cancelled": had, "message": "Nothing was changed."}


BILLING_TOOLS = [
    get_account,
    list_invoices,
    get_invoice,
    find_duplicate_charges,
    refund_duplicate_charge,
    propose_cancel_subscription,
    cancel_subscription,
    decline_billing_action,
]
