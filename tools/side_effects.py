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

from tools.store import Action, Refund, get_store

__all__ = ["TOLD_PREFIX", "SideEffectReportPlugin", "told_key", "unreported_refunds"]

log = logging.getLogger(__name__)

TOLD_PREFIX = "confirm:told:"


def told_key(row: Refund | Action | int) -> str:
    """The state key saying the session was told about this audit row."""
    if isinstance(row, Action):
        return f"{TOLD_PREFIX}action:{row.id}"
    return f"{TOLD_PREFIX}{row if isinstance(row, int) else row.id}"


def unreported_refunds(
    session_id: str, state: dict[str, Any], user_id: str
) -> list[Refund | Action]:
    """Audit rows (refunds and billing actions) of this user's session it never reported."""
    store = get_store()
    rows: list[Refund | Action] = [
        *store.refunds_for_session(session_id, user_id),
        *store.actions_for_session(session_id, user_id),
    ]
    return [r for r in rows if not state.get(told_key(r))]


def _reported_in_turn(invocation_context: InvocationContext) -> set[str]:
    """Told keys of the audit rows a tool returned during the current invocation."""
    keys: set[str] = set()
    for event in invocation_context.session.events:
        if event.invocation_id != invocation_context.invocation_id or event.content is None:
            continue
        for part in event.content.parts or []:
            fr = part.function_response
            response = (fr.response or {}) if fr is not None else {}
            refund, action = response.get("refund"), response.get("action")
            if isinstance(refund, dict) and isinstance(refund.get("refund_id"), int):
                keys.add(told_key(refund["refund_id"]))
            if isinstance(action, dict) and isinstance(action.get("action_id"), int):
                keys.add(f"{TOLD_PREFIX}action:{action['action_id']}")
    return keys


def _notice(row: Refund | Action) -> str:
    if isinstance(row, Action):
        what = (
            f"the duplicate charge {row.target} ({row.amount}) was refunded"
            if row.kind == "charge_refund"
            else f"your {row.detail} subscription was cancelled"
        )
        return (
            f"Before we go on: {what} on {row.created_at:%Y-%m-%d} (billing action #{row.id}; "
            "our reply was interrupted before you saw it)."
        )
    refund = row
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
            missing = unreported_refunds(session.id, session.state, session.user_id)
        except Exception:  # the store must not break a conversation; retried next turn
            log.exception("could not check the refund audit for session %s", session.id)
            return None
        if not missing:
            return None
        in_turn = _reported_in_turn(invocation_context)
        notices = [_notice(r) for r in missing if told_key(r) not in in_turn]
        if event.actions is None:
            event.actions = EventActions()
        for row in missing:
            event.actions.state_delta[told_key(row)] = True
        if notices:
            first = texts[0]
            first.text = "\n".join(notices) + "\n\n" + (first.text or "")
            event.content = types.Content(role=event.content.role, parts=event.content.parts)
        return None  # the event was updated in place
