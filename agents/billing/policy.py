"""Offline behaviour of the billing specialist: pick a billing tool by intent, then answer
from its result (invoice numbers, dates, amounts), never from canned figures."""

from __future__ import annotations

import re
from typing import Any

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import bullets, find
from agents.technical_support.policy import answer_from_articles
from coordinator.models.offline import (
    function_call,
    function_responses,
    last_user_text,
    text_response,
)
from tools.kb import search_kb

__all__ = ["policy"]

KB_MIN_SCORE = 0.35

_DUPLICATE = r"\b(twice|double|duplicate|two charges|charged again|extra charge|billed two)"
_ACCOUNT = r"\b(my (plan|account|card|email|e-mail|currency|payment methods?))\b"
# Questions about how billing works in general (not about this user's data) -> help articles.
_GENERAL = (
    r"\b(accept|available|which payment|what payment|payment (options?|modalit\w*|methods?)|"
    r"how (can|do) i pay|cancellation fee|early (exit|termination)|termination (fee|charge|penalt))"
)
_SINGLE = r"\b(last|latest|most recent|newest)\s+(invoice|bill|charge|receipt)\b"
_INVOICE_ID = re.compile(r"\bINV[-\s#]?(\d{3,})\b", re.IGNORECASE)


def _line(inv: dict[str, Any]) -> str:
    return f"{inv['id']} ({inv['issued']}): {inv['amount']}, {inv['status']}, {inv['description']}"


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _choose_tool(text: str) -> LlmResponse:
    m = _INVOICE_ID.search(text)
    if m:
        return function_call("get_invoice", {"invoice_id": f"INV-{m.group(1)}"})
    if find(_DUPLICATE, text):
        return function_call("find_duplicate_charges")
    if find(_SINGLE, text):
        return function_call("list_invoices", {"limit": 1})
    if find(_ACCOUNT, text) and not find(r"\b(invoice|bill)", text):
        return function_call("get_account")
    if find(_GENERAL, text):
        return function_call("search_knowledge_base", {"query": text, "max_results": 3})
    return function_call("list_invoices", {"limit": 5})


def _duplicates(result: dict[str, Any]) -> str:
    dups = result.get("duplicates") or []
    if not dups:
        recent = result.get("recent") or []
        lines = [
            f"I checked your {result.get('invoices_checked', 0)} invoices and found no "
            "duplicate charge: every paid invoice is for a different period or item."
        ]
        if recent:
            lines += ["Your most recent charges:", bullets(_line(i) for i in recent)]
        lines.append(
            "If your bank shows a charge that is not listed here, it is usually a "
            "pending authorisation that the bank releases by itself."
        )
        return "\n".join(lines)
    parts = []
    for dup in dups:
        first, *extra = dup["charges"]
        parts.append(
            f'Yes, you were charged {_times(dup["times_charged"])} for "{dup["description"]}":\n'
            + bullets(_line(c) for c in dup["charges"])
            + f"\n{', '.join(c['id'] for c in extra)} duplicates {first['id']}; you were "
            f"overcharged {dup['overcharged']}."
        )
    article = next(iter(search_kb("charged twice duplicate charge refund", k=1)), None)
    if article is not None:
        step = next((s for s in article.steps if "refund" in s.lower()), None)
        if step:
            parts.append(f'From our help article "{article.title}": {step}')
    parts.append(
        "I can't reverse a charge myself from here; quote the invoice numbers above "
        "when you ask for the duplicate to be refunded."
    )
    return "\n\n".join(parts)


def _compose(results: dict[str, dict[str, Any]]) -> str:
    for name, result in results.items():
        if result.get("status") != "ok":
            return f"I couldn't complete that: {result.get('message', 'unknown error')}"
        if name == "find_duplicate_charges":
            return _duplicates(result)
        if name == "search_knowledge_base":
            answer = answer_from_articles(result.get("articles") or [], min_score=KB_MIN_SCORE)
            return answer or (
                "I couldn't find a help article for that billing question; ask me about "
                "your invoices, charges or account and I'll look them up."
            )
        if name == "get_invoice":
            inv = result["invoice"]
            text = (
                f"Invoice {inv['id']}, issued {inv['issued']}: {inv['amount']} ({inv['status']})."
            )
            if inv["items"]:
                text += "\n" + bullets(inv["items"])
            return text
        if name == "list_invoices":
            invoices = result.get("invoices") or []
            if not invoices:
                return "There are no invoices on your account yet."
            if len(invoices) == 1:
                inv = invoices[0]
                return (
                    f"Your latest invoice is {inv['id']}, issued {inv['issued']}: "
                    f"{inv['amount']} ({inv['status']}) for {inv['description']}."
                )
            return "Your recent invoices, newest first:\n" + bullets(_line(i) for i in invoices)
        if name == "get_account":
            a = result["account"]
            return (
                f"Your account: {a['name']} ({a['email']}), plan {a['plan']}, billed in "
                f"{a['currency']} to {a['payment_method']}."
            )
    return "I couldn't find billing information for that request."


def policy(req: LlmRequest) -> LlmResponse:
    """Call a billing tool first; once its result is in, answer from it."""
    results = function_responses(req)
    if not results:
        return _choose_tool(last_user_text(req))
    return text_response(_compose(results))
