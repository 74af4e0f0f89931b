"""The ADK tool that hands a conversation to a person (see coordinator.routing.handoff)."""

from __future__ import annotations

from typing import Any

from google.adk.tools.tool_context import ToolContext

from coordinator.parallel.fanout import side_effecting
from coordinator.routing.cascade import ESCALATION_KEY
from coordinator.routing.handoff import TicketStore, summarize_conversation
from coordinator.state_keys import IN_PARALLEL_KEY, PENDING_KEY

__all__ = ["open_handoff_ticket"]


@side_effecting
def open_handoff_ticket(tool_context: ToolContext) -> dict[str, Any]:
    """Hand this conversation to a person: open (or return) the session's support ticket.

    Takes no arguments: the user, session and reason come from the session itself. When
    the user has not asked for a person themselves, it returns `needs_confirmation` and
    the next "yes" opens the ticket.
    """
    escalation = tool_context.state.get(ESCALATION_KEY) or {}
    reason = escalation.get("reason") or "requested"
    if tool_context.state.get(IN_PARALLEL_KEY) or "." in (
        tool_context._invocation_context.branch or ""
    ):
        return {"status": "error", "error": "tickets cannot be opened from a parallel branch"}
    if not tool_context.user_id:
        return {"status": "error", "error": "no authenticated user in this session"}
    if not escalation.get("explicit"):
        tool_context.state[PENDING_KEY] = tool_context.agent_name
        return {"status": "needs_confirmation", "reason": reason}
    ticket, created = TicketStore().open(
        user_id=tool_context.user_id,
        session_id=tool_context.session.id,
        reason=reason,
        summary=summarize_conversation(list(tool_context.session.events)),
        actor=f"agent:{tool_context.agent_name}",
    )
    if tool_context.state.get(PENDING_KEY) == tool_context.agent_name:
        tool_context.state[PENDING_KEY] = None
    return {
        "status": "opened" if created else "already_open",
        "ticket": ticket.model_dump(mode="json"),
    }
