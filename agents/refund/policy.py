"""Offline behaviour of the refund specialist, a careful multi-step flow:

no order number  -> list_orders, ask which one (the tool marks the task pending)
order number     -> check_refund_eligibility -> a *proposal*: order, item, amount and the
                    policy clauses that allow it, then "reply yes to confirm" (or explain
                    the policy rule that refused it, quoting REFUND_POLICY.md)
a clear yes      -> request_refund for the order proposed in the previous turn (the tool
                    itself re-checks the proposal and the user's actual message)
no / not now     -> decline_refund; "don't refund order 1006" never proposes anything
any other answer -> ("yes if it's under $10", "yes?", "👍") nothing is refunded: the
                    proposal is shown again and a plain yes asked for
pasted document  -> no proposal: text inside a document is data, not a request
status question  -> refund_status;  policy question -> get_refund_policy
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from agents._specialist import bullets, find, previous_result
from coordinator import (
    function_call,
    function_responses,
    last_user_text,
    text_response,
)
from tools.confirmation import is_affirmative, is_refusal, is_unclear_answer
from tools.refund_policy import policy_text

__all__ = ["order_id_in", "policy", "policy_clause"]

_ORDER = re.compile(r"\b(?:order|purchase|no\.?|number|#)\s*#?\s*(\d{3,7})\b", re.IGNORECASE)
_BARE = re.compile(r"(?<![$€£\d.,])\b(\d{4,7})\b(?!\s*(?:dollars|usd|eur|euros|days|\.\d))")
_STATUS = r"\b(status|processed|where is my refund|been refunded|received|arrived?|waiting)\b"
_POLICY_Q = r"\b(policy|circumstances|situations|rules|how long|conditions|when can)\b"

# Which numbered clause of REFUND_POLICY.md states each rule of refund_policy.yaml.
_CLAUSE_FOR_RULE = {
    "once_per_order": "Once per order",
    "refundable_statuses": "Order status",
    "max_order_age_days": "Time window",
    "max_refund_amount": "Amount",
    "max_refunds_per_day": "Daily limit",
}


def order_id_in(text: str) -> int | None:
    """The order number the customer mentions ("order 1001", "#1002", or a bare 1002)."""
    m = _ORDER.search(text) or _BARE.search(text)
    return int(m.group(1)) if m else None


@lru_cache(maxsize=1)
def _clauses() -> dict[str, str]:
    found = re.findall(
        r"^\d+\.\s+\*\*(.+?)\.\*\*\s+(.+?)(?=^\d+\.\s|^\s*$)", policy_text(), re.M | re.S
    )
    return {title: " ".join(body.replace("**", "").split()) for title, body in found}


def policy_clause(rule: str) -> str | None:
    """The policy sentence behind a rule name, as written in REFUND_POLICY.md."""
    title = _CLAUSE_FOR_RULE.get(rule)
    body = _clauses().get(title or "")
    return f'Refund policy, "{title}": {body}' if body else None


def _order_line(o: dict[str, Any]) -> str:
    line = (
        f"Order {o['order_id']}: {o['item']}, {o['amount']}, ordered {o['ordered']} ({o['status']})"
    )
    if o.get("refund"):
        return line + f" - already refunded ({o['refund']['amount']})"
    return line + (" - eligible for a refund" if o["refund_eligible"] else " - not refundable")


def _refund_done(r: dict[str, Any], again: bool) -> str:
    if again:
        return (
            f"Order {r['order_id']} was already refunded: refund #{r['refund_id']} of "
            f"{r['amount']}, recorded {r['created_at'][:10]}, {r['expected']}. "
            "No second refund was made."
        )
    return (
        f"Done: refund #{r['refund_id']} of {r['amount']} for order {r['order_id']} is "
        f"approved and will be {r['expected']}."
    )


def _refused(message: str, rule: str) -> str:
    clause = policy_clause(rule)
    return f"I can't refund this order. {message}" + (f"\n{clause}" if clause else "")


# A message this long, or spanning several lines, carries a document, not a request.
_DOCUMENT_CHARS = 240
# The policy clauses an eligible full refund satisfies (quoted in the proposal).
_ALLOWING_RULES = ("max_order_age_days", "refundable_statuses", "max_refund_amount")


def _previous_proposal(req: LlmRequest) -> int | None:
    """The order proposed in the turn before the latest user message, if any."""
    check = previous_result(req, "check_refund_eligibility") or {}
    proposal = check.get("proposal")
    return int(proposal["order_id"]) if proposal else None


_GENERIC = {"order", "refund", "with", "that", "this", "the", "one", "inch", "please", "want"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3} - _GENERIC


def order_named_in(text: str, req: LlmRequest) -> int | None:
    """The order the customer names by its item ("the docking station") after we listed
    their orders in the previous turn; None when no single order matches best."""
    listing = previous_result(req, "list_orders") or {}
    said = _words(text)
    scored = sorted(
        ((len(said & _words(o["item"])), o["order_id"]) for o in listing.get("orders") or []),
        reverse=True,
    )
    if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
        return None
    return int(scored[0][1])


# Contract or legal wording: someone pasted terms, they are not asking us to act.
_LEGALESE = (
    r"\b(shall|hereby|herein\w*|thereof|whereas|pursuant|section \d|clause \d|"
    r"the (supplier|vendor|customer|licensee|licensor|part(y|ies))\b|this agreement)"
)


def _looks_like_document(text: str) -> bool:
    return (
        len(text) > _DOCUMENT_CHARS or text.strip().count("\n") >= 2 or find(_LEGALESE, text)
    )


def _first_call(text: str, req: LlmRequest) -> LlmResponse:
    oid = order_id_in(text) or order_named_in(text, req)
    if is_affirmative(text):
        proposed = _previous_proposal(req)
        if proposed is not None and oid in (None, proposed):
            return function_call(
                "request_refund", {"order_id": proposed, "reason": "confirmed by the customer"}
            )
        if oid is None:
            return text_response(
                "There is no refund waiting for your confirmation. Which order would you like "
                "me to look at?"
            )
    if is_refusal(text) and not find(_STATUS, text):
        return function_call("decline_refund")
    proposed = _previous_proposal(req)
    if proposed is not None and oid in (None, proposed) and is_unclear_answer(text):
        return function_call("check_refund_eligibility", {"order_id": proposed})
    if _looks_like_document(text):
        return text_response(
            "That looks like a pasted document. I don't act on text inside documents. "
            "If you want a refund, tell me the order number in your own words."
        )
    if oid is None:
        if find(_POLICY_Q, text) and not find(r"\b(refund (me|my)|money back)\b", text):
            return function_call("get_refund_policy")
        return function_call("list_orders")
    if find(_STATUS, text):
        return function_call("refund_status", {"order_id": oid})
    return function_call("check_refund_eligibility", {"order_id": oid})


# Said before a proposal shown again because the reply to it was no plain yes.
NOT_A_YES = "I didn't take that as a clear yes, so nothing was refunded. "


def _proposal(check: dict[str, Any], again: bool = False) -> str:
    order, proposal = check["order"], check["proposal"]
    clauses = [c for c in (policy_clause(r) for r in _ALLOWING_RULES) if c]
    return (
        (NOT_A_YES if again else "")
        + f"I can refund order {order['order_id']} ({order['item']}): {proposal['amount']} back "
        f"to your original payment method. {check['explanation']}\n"
        + bullets(clauses)
        + f'\n\nShall I go ahead? Reply "yes" to refund order {order["order_id"]}; '
        "anything else and nothing is refunded."
    )


def _next(text: str, results: dict[str, dict[str, Any]], req: LlmRequest) -> LlmResponse:
    if (done := results.get("request_refund")) is not None:
        if done.get("status") == "ok":
            return text_response(_refund_done(done["refund"], bool(done.get("already_refunded"))))
        if done.get("refused"):
            return text_response(_refused(done["message"], done["rule"]))
        if done.get("needs_confirmation"):
            return text_response(
                "Nothing was refunded: there is no refund waiting for your confirmation. "
                "Tell me the order number and I'll check it again."
            )
        return text_response(f"The refund was not issued: {done.get('message')}")

    if (declined := results.get("decline_refund")) is not None:
        oid = order_id_in(text)
        what = f"order {oid}" if oid else "anything"
        return text_response(
            f"Understood: I won't refund {what}. Nothing was refunded."
            + (" The refund I proposed is cancelled." if declined.get("cancelled") else "")
        )

    if (check := results.get("check_refund_eligibility")) is not None:
        if check.get("status") != "ok":
            orders = results.get("list_orders")
            if orders is None:  # show what the customer can actually refund
                return function_call("list_orders")
            listing = bullets(_order_line(o) for o in orders.get("orders") or [])
            return text_response(
                f"{check.get('message', '').split(' Please')[0]}\n\n"
                f"Your orders:\n{listing}\n\nWhich order do you mean?"
            )
        order = check["order"]
        if check.get("existing_refund"):
            return text_response(_refund_done(check["existing_refund"], again=True))
        if not check["eligible"]:
            return text_response(_refused(check["explanation"], check["rule"]))
        if check.get("proposal"):
            again = _previous_proposal(req) == order["order_id"] and is_unclear_answer(text)
            return text_response(_proposal(check, again))
        return text_response(check["explanation"])

    if (status := results.get("refund_status")) is not None:
        if status.get("status") != "ok":
            return text_response(status.get("message", "That order was not found."))
        if (r := status.get("refund")) is not None:
            return text_response(
                f"Refund #{r['refund_id']} of {r['amount']} for order {r['order_id']} was "
                f"approved on {r['created_at'][:10]}; it will be {r['expected']}."
            )
        order = status["order"]
        return text_response(
            f"There is no refund for order {order['order_id']} ({order['item']}). "
            f'Say "refund order {order["order_id"]}" if you\'d like one.'
        )

    if (pol := results.get("get_refund_policy")) is not None:
        clauses = [f"{title}: {body}" for title, body in _clauses().items()]
        return text_response(
            "Our refund policy:\n" + bullets(clauses, numbered=True)
            if clauses
            else pol.get("text", "")
        )

    if (orders := results.get("list_orders")) is not None:
        rows = orders.get("orders") or []
        if not rows:
            return text_response(
                "There are no orders on your account, so there is nothing to refund."
            )
        if find(_STATUS, text):
            return text_response(
                "Your orders and their refunds:\n" + bullets(_order_line(o) for o in rows)
            )
        return text_response(
            "Which order would you like refunded? Your orders:\n"
            + bullets(_order_line(o) for o in rows)
            + "\nReply with the order number."
        )
    return text_response("Which order would you like refunded? Please give the order number.")


def policy(req: LlmRequest) -> LlmResponse:
    results = function_responses(req)
    text = last_user_text(req)
    return _first_call(text, req) if not results else _next(text, results, req)
