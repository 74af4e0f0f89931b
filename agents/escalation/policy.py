"""Offline behaviour of the escalation agent: open the ticket, then say what happens next."""

from __future__ import annotations

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from coordinator import function_call, function_responses, text_response

__all__ = ["policy"]

NEXT_STEPS = (
    "A person from our support team will pick it up and reply in this conversation and by "
    "e-mail within one business day. You can add details here meanwhile; they will see "
    "the whole conversation."
)


def policy(req: LlmRequest) -> LlmResponse:
    result = function_responses(req).get("open_handoff_ticket")
    if result is None:
        return function_call("open_handoff_ticket", {})
    status = result.get("status")
    if status in ("opened", "already_open"):
        number = result["ticket"]["number"]
        lead = (
            f"I've handed your conversation to our support team: ticket {number}."
            if status == "opened"
            else f"Your conversation is already with our support team: ticket {number} is open."
        )
        return text_response(f"{lead} {NEXT_STEPS}")
    if status == "needs_confirmation":
        return text_response(
            "I'm sorry I haven't been able to sort this out. Would you like me to hand you "
            'to a person on our support team? Reply "yes" and I\'ll open a ticket.'
        )
    return text_response(
        "Sorry, I could not open a support ticket: "
        f"{result.get('error') or 'an unexpected error'}. Please try again in a moment."
    )
