"""Propose, then confirm: the gate in front of every side-effecting tool.

A side effect (a refund, a subscription change) never runs on the strength of text that
merely mentions an order. It takes two turns of the same session:

1. A read-only tool (e.g. `check_refund_eligibility`) records a **proposal** in session
   state: what would be done (kind, target, amount), a random nonce, and the invocation
   (user turn) that proposed it. The agent shows it to the customer and asks for a yes.
2. The executing tool calls `confirmed_proposal`, which accepts only when
   - the proposal exists and is for the same kind and target,
   - it was made in the user turn immediately before the current one, and
   - the *actual user message of the current turn* (`invocation_context.user_content`,
     which no model can write) is a clear affirmative (`is_affirmative`).

Everything else - a model calling the tool on its own, a "yes" two turns later or in
another session, "no", "wait", questions, sarcasm, a pasted document - is refused before
the tool touches the database. The executing tool then `consume`s the proposal, so a
repeated "yes" finds nothing to confirm; the audit row's UNIQUE nonce makes the execution
itself idempotent as well.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from google.adk.tools import ToolContext

from coordinator.routing.yes_no import is_affirmative, is_refusal, named_numbers, read_answer
from coordinator.routing.yes_no_words import CANCEL_VERBS
from coordinator.state_keys import IN_PARALLEL_KEY

__all__ = [
    "CANCEL_VERBS",
    "IN_PARALLEL_KEY",
    "PROPOSAL_KEY",
    "confirmed_proposal",
    "consume",
    "is_affirmative",
    "is_refusal",
    "is_unclear_answer",
    "previous_turn",
    "propose",
    "side_effect_refusal",
]

PROPOSAL_KEY = "confirm:proposal"
# Verbs that may restate an action in its confirmation without reading as a refusal
# ("yes, cancel it"; "cancel" alone is still no yes).
_ALLOW = {"cancel_subscription": CANCEL_VERBS}

def is_unclear_answer(text: str | None, allow: tuple[str, ...] = ()) -> bool:
    """An answer to a proposal that neither confirms nor declines it ("yes if it's under
    $10", "yes?", "sure, whatever you think", "👍"): the agent asks again, plainly."""
    verdict = read_answer(text, allow)
    return verdict.answer and not verdict.yes and not is_refusal(text, allow)


def _user_turns(tool_context: ToolContext) -> list[str]:
    """Invocation ids of the session's user *messages*, oldest first (a tool result sent
    back by a client is authored "user" too, but is not a message)."""
    ids: list[str] = []
    for event in tool_context._invocation_context.session.events:
        if event.author != "user" or event.content is None:
            continue
        is_message = any(p.text for p in event.content.parts or [])
        if is_message and (not ids or ids[-1] != event.invocation_id):
            ids.append(event.invocation_id)
    return ids


def previous_turn(tool_context: ToolContext) -> str | None:
    """The invocation id of the user turn just before the current one."""
    turns = _user_turns(tool_context)
    current = tool_context.invocation_id
    if turns and turns[-1] == current:
        turns = turns[:-1]
    return turns[-1] if turns else None


def side_effect_refusal(tool_context: ToolContext, agent: str) -> str | None:
    """Why a side-effecting tool must not run in this context (None: it may run).

    ADK gives every ParallelAgent sub-agent the branch `<parent>.<child>` (dot-separated,
    nested for deeper trees), while an agent reached by `transfer_to_agent` keeps the
    root's branch (None). So a dot in the branch means "inside a fan-out".
    """
    if tool_context.state.get(IN_PARALLEL_KEY):
        return "side effects cannot run from a parallel or voting branch"
    branch = tool_context._invocation_context.branch or ""
    if "." in branch:
        return f"side effects cannot run from a parallel branch ({branch})"
    if tool_context.agent_name != agent:
        return f"only the {agent!r} agent may do this"
    if not tool_context.user_id:
        return "no authenticated user in this session"
    return None


def _current_text(tool_context: ToolContext) -> str:
    content = tool_context._invocation_context.user_content
    return "".join(p.text or "" for p in (content.parts if content else None) or [])


def propose(
    tool_context: ToolContext, *, kind: str, target: str, amount_cents: int, summary: str
) -> dict[str, Any]:
    """Record what would be done if the customer says yes next turn; returns the proposal.

    Re-proposing the same action in the confirming turn keeps the earlier proposal, so a
    model that checks again before executing does not invalidate the customer's yes. A
    turn whose message is not a yes ("yes if it's under $10") is no confirming turn: the
    proposal is renewed, to be answered in the next message.
    """
    current = tool_context.state.get(PROPOSAL_KEY) or {}
    if (
        current.get("kind") == kind
        and current.get("target") == target
        and current.get("amount_cents") == amount_cents
        and current.get("invocation_id") is not None
        and current.get("invocation_id") == previous_turn(tool_context)
        and is_affirmative(_current_text(tool_context), allow=_ALLOW.get(kind, ()))
    ):
        return dict(current)
    if (
        current
        and current.get("invocation_id") == tool_context.invocation_id
        and (current.get("kind"), current.get("target")) != (kind, target)
    ):
        # A second, different action proposed in the same turn (a multi-intent message
        # with a billing part and a refund part): the customer sees two "Reply yes"
        # questions, and one bare yes cannot say which. Neither may run on it.
        tool_context.state[PROPOSAL_KEY] = {
            "ambiguous": True,
            "invocation_id": tool_context.invocation_id,
            "user_id": tool_context.user_id,
            "summary": f"{current.get('summary') or current.get('kind')} / {summary}",
        }
        return {"kind": kind, "target": target, "amount_cents": amount_cents,
                "summary": summary, "nonce": None, "ambiguous": True}
    proposal = {
        "kind": kind,
        "target": target,
        "amount_cents": amount_cents,
        "summary": summary,
        "nonce": uuid.uuid4().hex,
        "invocation_id": tool_context.invocation_id,
        "user_id": tool_context.user_id,
        "agent": tool_context.agent_name,
    }
    tool_context.state[PROPOSAL_KEY] = proposal
    return dict(proposal)


def confirmed_proposal(
    tool_context: ToolContext, *, kind: str, target: str
) -> tuple[dict[str, Any] | None, str]:
    """`(proposal, "")` when the customer confirmed exactly this action in this turn,
    else `(None, why_not)`. Only session state and the real user message decide."""
    proposal = tool_context.state.get(PROPOSAL_KEY) or {}
    if proposal.get("ambiguous"):
        return None, (
            "two actions were proposed in one message, so a yes cannot say which: ask the "
            "customer to request them one at a time"
        )
    if not proposal or proposal.get("kind") != kind:
        return None, f"there is no {kind} waiting for the customer's confirmation"
    if proposal.get("target") != target:
        return None, (
            f"the customer was asked to confirm {proposal.get('summary')}, not {kind} {target}"
        )
    if proposal.get("user_id") != tool_context.user_id:
        return None, "the proposal was made for another user"
    if proposal.get("invocation_id") == tool_context.invocation_id:
        return None, (
            "the customer has not confirmed yet: show them the proposal and ask for a yes "
            "in their next message"
        )
    if proposal.get("invocation_id") != previous_turn(tool_context):
        return None, "the proposal has expired (it was not answered in the next message)"
    text = _current_text(tool_context)
    if not is_affirmative(text, allow=_ALLOW.get(kind, ())):
        return None, "the customer's message is not a clear yes to the proposal"
    named = named_numbers(text)
    if named and named != {_digits(str(proposal.get("target")))}:
        return None, (
            f"the customer's yes names {', '.join(sorted(named))}, but the proposal was "
            f"{proposal.get('summary')}: ask again"
        )
    return dict(proposal), ""


def _digits(value: str) -> str:
    return "".join(re.findall(r"\d", value)).lstrip("0")


def consume(tool_context: ToolContext, kinds: tuple[str, ...] | None = None) -> None:
    """Drop the proposal (executed, refused or declined): a second yes finds nothing.

    With `kinds`, only a proposal of those kinds: one agent declining its own action must
    not drop another agent's proposal made in the same turn."""
    proposal = tool_context.state.get(PROPOSAL_KEY)
    if proposal and (kinds is None or proposal.get("kind") in kinds):
        tool_context.state[PROPOSAL_KEY] = None
