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

from tools.store import Invoice, format_money, get_store

__all__ = [
    "BILLING_TOOLS",
    "find_duplicate_charges",
    "get_account",
    "get_invoice",
    "invoice_dict",
    "list_invoices",
]

# Two paid invoices for the same thing within this many days are a duplicate charge.
DUPLICATE_WINDOW_DAYS = 7


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
    return {
        "status": "ok",
        "invoices_checked": len(invoices),
        "duplicates": duplicates,
        "recent": [invoice_dict(i) for i in invoices[:3]],
    }


BILLING_TOOLS = [get_account, list_invoices, get_invoice, find_duplicate_charges]
