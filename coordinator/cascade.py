"""The routing cascade, run in the root agent's `before_model_callback`.

For every new user turn:

1. The router classifies the text (embedding / trained classifier, ~0.1 ms).
2. **Pending task.** If a specialist left `coordinator:pending` in session state (it is
   mid-task, e.g. waiting for an order number), the turn goes back to it — unless the
   router is *confident* the user switched to another specialist's topic.
3. **Confident** -> the callback returns a `transfer_to_agent` function call itself:
   ADK performs the transfer with zero LLM calls.
4. **Unsure** -> with a real LLM configured, the callback returns None and the LLM picks
   (its choice is checked in `after_model`: an unknown agent name becomes the fallback);
   offline, the request goes to the fallback route.

A long message (a pasted contract or code file) is routed by its request line, else by
windows of the document among routes that declare `documents: true`.

Routes that declare `languages` turn on language-aware dispatch (a Spanish request routed
to `billing` goes to `billing_es` when that variant exists). Each decision also records a
complexity tier ("cheap"/"strong", `coordinator.tiers`) that specialists use to pick their
model per request.

Every decision is written to the decision log and to session state
(`coordinator:last_decision`) so callers can report route/confidence/method.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from typing import Any

from google.adk.agents.callback_context import CallbackContext
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types

from coordinator.language import detect_language, prefer_language
from coordinator.review import split_request
from coordinator.router import Decision, Router
from coordinator.routes import RouteSet
from coordinator.tiers import choose_tier

__all__ = [
    "LAST_DECISION_KEY",
    "PENDING_KEY",
    "TRANSFER_TOOL",
    "RoutingCascade",
    "transfer_response",
]

log = logging.getLogger(__name__)

PENDING_KEY = "coordinator:pending"
LAST_DECISION_KEY = "coordinator:last_decision"
TRANSFER_TOOL = "transfer_to_agent"
LONG_MESSAGE = 600  # characters: a message this long is treated as carrying a document
DOC_WINDOW = 500  # characters per window of a document
DOC_WINDOWS = 6  # windows spread over the document (router calls: ~0.3 ms each)


def transfer_response(agent_name: str) -> LlmResponse:
    """The model turn ADK turns into a transfer, without calling any model."""
    return LlmResponse(
        content=types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(
                        name=TRANSFER_TOOL, args={"agent_name": agent_name}
                    )
                )
            ],
        ),
        custom_metadata={"routed_by": "cascade"},
    )


def _user_text(content: types.Content | None) -> str:
    if content is None:
        return ""
    return "\n".join(p.text for p in content.parts or [] if p.text).strip()


class RoutingCascade:
    """Callbacks for the root agent. Holds no per-request state (safe across sessions)."""

    def __init__(
        self,
        router: Router,
        routes: RouteSet,
        *,
        agent_names: Iterable[str],
        llm_available: bool,
        decision_log: Any | None = None,
        max_chars: int = 20_000,
    ) -> None:
        self.router = router
        self.routes = routes
        self.agent_names = frozenset(agent_names)
        if routes.fallback not in self.agent_names:
            raise ValueError(f"fallback route {routes.fallback!r} has no agent")
        self.llm_available = llm_available
        self.decision_log = decision_log
        self.max_chars = max_chars
        # Language-aware dispatch costs a detection per request: only when a route asks.
        self.multilingual = any(r.languages for r in routes.routes)
        self.document_routes = frozenset(
            r.name for r in routes.routes if r.documents and r.name in self.agent_names
        )

    # --- decision ------------------------------------------------------------------------

    def _route_document(self, text: str) -> Decision:
        """Route a long message: by its request line, else by windows of the document.

        A pasted contract or code file embeds far from any short example utterance, so the
        whole-text score is low even when the intent is obvious. The request line ("please
        review this contract:") carries the intent; without one, windows of the document
        vote, and only routes that declare `documents: true` may win that vote.
        """
        whole = self.router.route(text)
        request, document = split_request(text)
        if request:
            asked = self.router.route(request)
            if asked.confident:
                return asked
        votes: dict[str, float] = {}
        anchored: set[str] = set()  # routes at least one window is confident about
        step = max(1, (len(document) - DOC_WINDOW) // (DOC_WINDOWS - 1))
        for i in range(DOC_WINDOWS):
            window = self.router.route(document[i * step : i * step + DOC_WINDOW])
            name = window.route if window.confident else window.candidate
            if name in self.document_routes:
                weight = window.confidence if window.confident else window.confidence / 2
                votes[name] = votes.get(name, 0.0) + weight
                if window.confident:
                    anchored.add(name)
        # Unsure windows may add weight, never decide: noise ("xxxx...") stays unrouted.
        votes = {name: v for name, v in votes.items() if name in anchored}
        if not votes:
            return whole
        best = max(votes, key=votes.__getitem__)
        return whole.model_copy(
            update={
                "route": best,
                "candidate": best,
                "confident": True,
                "confidence": round(min(1.0, votes[best] / DOC_WINDOWS * 2), 4),
            }
        )

    def decide(self, text: str, pending: str | None = None) -> Decision:
        """Route one user turn (pure: no ADK context needed; used by tests and the CLI)."""
        t0 = time.perf_counter()
        text = text[: self.max_chars]
        if self.document_routes and len(text) >= LONG_MESSAGE:
            decision = self._route_document(text)
        else:
            decision = self.router.route(text)
        if self.multilingual:
            preferred = prefer_language(decision, self.routes, detect_language(text))
            if preferred.route in self.agent_names:
                decision = preferred
        if decision.route not in self.agent_names:  # a route with no agent in this app
            decision = decision.model_copy(
                update={"route": self.routes.fallback, "confident": False}
            )
        if pending and pending in self.agent_names:
            switched = (
                decision.confident
                and decision.route != pending
                and decision.route != self.routes.fallback
            )
            if not switched:
                decision = decision.model_copy(
                    update={"route": pending, "method": "pending", "confident": True}
                )
        elif not decision.confident:
            method = "llm" if self.llm_available else "fallback"
            decision = decision.model_copy(update={"route": self.routes.fallback, "method": method})
        latency = (time.perf_counter() - t0) * 1000
        return decision.model_copy(update={"latency_ms": round(latency, 3)})

    def _remember(self, ctx: CallbackContext, decision: Decision, text: str) -> None:
        decision_id = None
        if self.decision_log is not None:
            try:
                decision_id = self.decision_log.record(
                    decision,
                    text=text,
                    session_id=ctx.session.id,
                    user_id=ctx.user_id,
                    invocation_id=ctx.invocation_id,
                )
            except Exception:  # the log must never break a conversation
                log.exception("decision log write failed")
        ctx.state[LAST_DECISION_KEY] = {
            "route": decision.route,
            "confidence": decision.confidence,
            "method": decision.method,
            "candidate": decision.candidate,
            "latency_ms": decision.latency_ms,
            "tier": choose_tier(text, self.routes.get(decision.route)),
            "decision_id": decision_id,
            "text_sha256": hashlib.sha256(text.encode()).hexdigest()[:16],
            "invocation_id": ctx.invocation_id,
        }

    # --- ADK callbacks -------------------------------------------------------------------

    def before_model(self, callback_context: CallbackContext, llm_request: LlmRequest):
        """Route before the root model is called; return a transfer to skip the model."""
        # Only the first model call of an invocation routes; later calls (after the LLM
        # asked for something else) fall through to the model.
        last = callback_context.state.get(LAST_DECISION_KEY) or {}
        if last.get("invocation_id") == callback_context.invocation_id:
            return None
        text = _user_text(callback_context.user_content)
        if not text:
            decision = Decision(
                route=self.routes.fallback, confidence=0.0, method="fallback", confident=False
            )
            self._remember(callback_context, decision, text)
            return transfer_response(self.routes.fallback)
        pending = callback_context.state.get(PENDING_KEY)
        decision = self.decide(text, pending)
        if decision.route != pending and pending:
            callback_context.state[PENDING_KEY] = None  # the user moved on
        self._remember(callback_context, decision, text)
        if decision.method == "llm":
            return None  # unsure, and a real model is configured: let it choose
        return transfer_response(decision.route)

    def after_model(self, callback_context: CallbackContext, llm_response: LlmResponse):
        """Correct an LLM that names an agent that does not exist (-> fallback)."""
        content = llm_response.content
        if content is None or not content.parts:
            return None
        changed = False
        for part in content.parts:
            call = part.function_call
            if call is None or call.name != TRANSFER_TOOL:
                continue
            name = (call.args or {}).get("agent_name")
            if name not in self.agent_names:
                log.warning("LLM named unknown agent %r; using %s", name, self.routes.fallback)
                call.args = {"agent_name": self.routes.fallback}
                name = self.routes.fallback
                changed = True
            last = dict(callback_context.state.get(LAST_DECISION_KEY) or {})
            if last.get("invocation_id") == callback_context.invocation_id:
                last.update(route=name, method="llm" if not changed else "fallback")
                callback_context.state[LAST_DECISION_KEY] = last
        return llm_response if changed else None
