"""Audited <=> told: every refund in the audit table reaches the customer's session.

A refund is committed to the audit table before the agent's answer is written to the
session. If the process dies in between (kill -9, OOM, a deploy), the audit has a refund
the customer never heard about. This ADK plugin closes that gap on the session's next
answer: it compares the audit rows recorded for the session (`refunds.session_id`) with
the `confirm:told:<refund id>` markers in session state and

- marks a refund told when the answer being sent is the agent's own report of it (the
  refund's tool result is in this same turn), or
- otherwise prefixes the answer with a one-line report of the refund ("Before we go on:
  refund #3 ... was completed") and marks it told.

The marker travels in the answer event's `state_delta`, so "told" is persisted exactly
when the text that tells it is. Installed on the `support` app (adk web / api_server)
and by `coordinator.Coordinator`.
"""

from __future__ import annotations

import logging
from typing import Any

from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.adk.events.event_actions import EventActions
from google.adk.plugins.base_plugin import BasePlugin
from google.genai import types

from tools.store import Refund, get_store

__all__ = ["TOLD_PREFIX", "SideEffectReportPlugin", "told_key", "unreported_refunds"]

log = logging.getLogger(__name__)

TOLD_PREFIX = "confirm:told:"


def told_key(refund_id: int) -> str:
    return f"{TOLD_PREFIX}{refund_id}"


def unreported_refunds(session_id: str, state: dict[str, Any]) -> list[Refund]:
    """Audit rows of this session whose outcome the session never reported."""
    return [r for r in get_store().refunds_for_session(session_id) if not state.get(told_key(r.id))]


def _reported_in_turn(invocation_context: InvocationContext) -> set[int]:
    """Refund ids returned by a tool during the current invocation."""
    ids: set[int] = set()
    for event in invocation_context.session.events:
        if event.invocation_id != invocation_context.invocation_id or event.content is None:
            continue
        for part in event.content.parts or []:
            fr = part.function_response
            refund = (fr.response or {}).get("refund") if fr is not None else None
            if isinstance(refund, dict) and isinstance(refund.get("refund_id"), int):
                ids.add(refund["refund_id"])
    return ids


def _notice(refund: Refund) -> str:
    return (
        f"Before we go on: your refund #{refund.id} of {refund.amount} for order "
        f"{refund.order_id} was completed on {refund.created_at:%Y-%m-%d} (our reply was "
        "interrupted before you saw it). It will be back on the original payment method "
        "within the usual processing time."
    )


class SideEffectReportPlugin(BasePlugin):
    """Report audited refunds the session was never told about (see module docstring)."""

    def __init__(self) -> None:
        super().__init__(name="side_effect_report")

    async def on_event_callback(
        self, *, invocation_context: InvocationContext, event: Event
    ) -> Event | None:
        if event.partial or event.content is None or not event.is_final_response():
            return None
        texts = [p for p in event.content.parts or [] if p.text and not p.thought]
        if not texts:
            return None
        session = invocation_context.session
        try:
            missing = unreported_refunds(session.id, session.state)
        except Exception:  # the store must not break a conversation; retried next turn
            log.exception("could not check the refund audit for session %s", session.id)
            return None
        if not missing:
            return None
        in_turn = _reported_in_turn(invocation_context)
        notices = [_notice(r) for r in missing if r.id not in in_turn]
        if event.actions is None:
            event.actions = EventActions()
        for refund in missing:
            event.actions.state_delta[told_key(refund.id)] = True
        if notices:
            first = texts[0]
            first.text = "\n".join(notices) + "\n\n" + (first.text or "")
            event.content = types.Content(role=event.content.role, parts=event.content.parts)
        return None  # the event was updated in place
