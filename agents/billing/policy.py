"""Offline behaviour of the billing specialist: pick a billing tool by intent, then answer
from its result (invoice numbers, dates, amounts), never from canned figures."""

from __future__ import annotations

import re
from typing import Any

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import KB_MIN_SCORE, answer_from_articles, bullets, find, previous_result
from coordinator import (
    function_call,
    function_responses,
    last_user_text,
    text_response,
)
from tools.confirmation import CANCEL_VERBS, is_affirmative, is_refusal, is_unclear_answer
from tools.kb import search_kb

__all__ = ["policy"]


_DUPLICATE = r"\b(twice|double|duplicate|two charges|charged again|extra charge|billed two)"
_ACCOUNT = r"\b(my (plan|account|card|email|e-mail|currency|payment methods?))\b"
# Questions about how billing works in general (not about this user's data) -> help articles.
_GENERAL = (
    r"\b(accept|available|which payment|what payment|payment (options?|modalit\w*|methods?)|"
    r"how (can|do) i pay|cancellation fee|early (exit|termination)|termination (fee|charge|penalt))"
)
_CANCEL = (
    r"\b(cancel|terminate|end|stop)\b.{0,30}\b(subscription|plan|membership)\b|\bunsubscribe\b"
)
_SINGLE = r"\b(last|latest|most recent|newest)\s+(invoice|bill|charge|receipt)\b"
_INVOICE_ID = re.compile(r"\bINV[-\s#]?(\d{3,})\b", re.IGNORECASE)


def _line(inv: dict[str, Any]) -> str:
    return f"{inv['id']} ({inv['issued']}): {inv['amount']}, {inv['status']}, {inv['description']}"


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


_CANCEL_WORDS = CANCEL_VERBS  # they restate a proposed cancellation ("yes, cancel it")
# Said before a proposal shown again because the reply to it was no plain yes.
NOT_A_YES = "I didn't take that as a clear yes, so nothing was changed."


def _proposals(req: LlmRequest) -> tuple[dict | None, dict | None]:
    """The duplicate-charge refund and the cancellation proposed in the previous turn."""
    dup = (previous_result(req, "find_duplicate_charges") or {}).get("proposal")
    cancel = (previous_result(req, "propose_cancel_subscription") or {}).get("proposal")
    return dup, cancel


def _answer_to_proposal(text: str, req: LlmRequest) -> LlmResponse | None:
    """The customer's reply to a proposal of the previous turn: yes executes, no declines,
    any other answer ("yes, if it's free", "👍") shows the proposal again."""
    dup, cancel = _proposals(req)
    if not (dup or cancel):
        return None
    allow = _CANCEL_WORDS if cancel else ()
    if is_affirmative(text, allow=allow):
        if dup:
            return function_call("refund_duplicate_charge", {"invoice_id": dup["invoice_id"]})
        return function_call("cancel_subscription")
    if is_refusal(text, allow=allow):
        return function_call("decline_billing_action")
    if is_unclear_answer(text, allow=allow):
        if dup:
            return function_call("find_duplicate_charges")
        return function_call("propose_cancel_subscription")
    return None


def _asked_again(text: str, req: LlmRequest, results: dict[str, dict[str, Any]]) -> bool:
    """This turn shows the previous turn's proposal again after an unclear answer."""
    dup, cancel = _proposals(req)
    allow = _CANCEL_WORDS if cancel else ()
    again = (dup and "find_duplicate_charges" in results) or (
        cancel and "propose_cancel_subscription" in results
    )
    return bool(again) and is_unclear_answer(text, allow=allow)


def _choose_tool(text: str, req: LlmRequest) -> LlmResponse:
    if (answer := _answer_to_proposal(text, req)) is not None:
        return answer
    if is_affirmative(text, allow=_CANCEL_WORDS):
        return text_response(
            "There is nothing waiting for your confirmation. What would you like me to do?"
        )
    if find(_CANCEL, text) and not find(_GENERAL, text):
        if is_refusal(text, allow=_CANCEL_WORDS):
            return text_response("Understood: I won't cancel anything. Nothing was changed.")
        return function_call("propose_cancel_subscription")
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
    if (proposal := result.get("proposal")) is not None:
        parts.append(
            f"I can refund the duplicate charge {proposal['invoice_id']} ({proposal['amount']}) "
            f'to your original payment method. Shall I? Reply "yes" to refund '
            f"{proposal['invoice_id']}; anything else and nothing changes."
        )
    return "\n\n".join(parts)


def _action_done(name: str, result: dict[str, Any]) -> str:
    if result.get("needs_confirmation"):
        return "Nothing was changed: there is nothing waiting for your confirmation."
    if result.get("status") != "ok":
        return f"Nothing was changed: {result.get('message', 'unknown error')}"
    a = result["action"]
    again = result.get("already_done")
    if name == "refund_duplicate_charge":
        if again:
            return (
                f"The duplicate charge {a['target']} was already refunded (#{a['action_id']}, "
                f"{a['amount']}); nothing more to do."
            )
        return (
            f"Done: the duplicate charge {a['target']} ({a['amount']}) is refunded "
            f"(billing action #{a['action_id']}); it will be back on your original payment "
            "method within 5-10 business days."
        )
    if again:
        return f"Your subscription was already cancelled (billing action #{a['action_id']})."
    return (
        f"Done: your {a['detail']} subscription is cancelled (billing action "
        f"#{a['action_id']}); you will not be charged again."
    )


def _compose(results: dict[str, dict[str, Any]]) -> str:
    for name, result in results.items():
        if name in ("refund_duplicate_charge", "cancel_subscription"):
            return _action_done(name, result)
        if name == "decline_billing_action":
            return "Understood: nothing was changed." + (
                " The action I proposed is cancelled." if result.get("cancelled") else ""
            )
        if name == "propose_cancel_subscription" and result.get("status") == "ok":
            if result.get("already_cancelled"):
                return f"Your subscription is already cancelled ({result['plan']})."
            return (
                f"You are on the {result['plan']} plan. I can {result['proposal']['summary']}. "
                'Shall I? Reply "yes" to cancel it; anything else and nothing changes.'
            )
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
    text = last_user_text(req)
    if not results:
        return _choose_tool(text, req)
    answer = _compose(results)
    if _asked_again(text, req, results):
        answer = f"{NOT_A_YES}\n\n{answer}"
    return text_response(answer)
