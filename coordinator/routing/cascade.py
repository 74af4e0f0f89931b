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

Typos of the routes' own words are corrected first (`coordinator.routing.spelling`): "invoce",
"factrua", "Rechnng" are routed as the words they stand for.

A long message (a pasted contract or code file) is routed by its request line, else by
windows of the document among routes that declare `documents: true`.

Routes that declare `languages` turn on language-aware dispatch (a Spanish request routed
to `billing` goes to `billing_es` when that variant exists). Each decision also records a
complexity tier ("cheap"/"strong", `coordinator.routing.tiers`) that specialists use to pick their
model per request.

Around the router (`coordinator.routing.intents`), when the app wires them:

* **Escalation**: "talk to a human" (six languages) or the `escalation` route goes to the
  escalation agent; so does a session whose turns fail twice in a row (fallback, low
  confidence, "this is useless"). `coordinator:escalation` in state says why and whether
  the user asked explicitly (the hand-off tool opens a ticket only then, or after a "yes").
  A message that asks for a person AND asks something else ("why was I charged twice? Also,
  get me a manager") is two parts for the multi-intent agent: the answer, then the hand-over.
* **Clarify**: a vague message ("help", "it doesn't work") or a confident route whose
  runner-up is within `clarify_margin` gets ONE question naming the options; the next turn
  is routed on both turns' text.
* **Multi-intent**: a message whose parts route confidently to different specialists goes
  to the multi-intent agent with the parts in `coordinator:parts`. A problem followed by
  its remedy ("it broke, I want my money back") is one ask, for the remedy's specialist.

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
from pydantic import BaseModel, ConfigDict, Field

from coordinator.events import model_response
from coordinator.inputs.content import user_text
from coordinator.inputs.request_split import split_request
from coordinator.routing.decision import Decision, Router
from coordinator.routing.intents import (
    announces_another_ask,
    asks_for_person,
    clarifying_question,
    is_background,
    is_courtesy,
    is_frustrated,
    is_greeting,
    is_own_ask,
    is_pleasantry,
    is_remedy,
    is_remedy_of,
    is_request,
    is_vague,
    margin,
    split_clauses,
    split_joined,
)
from coordinator.routing.language import detect_language, prefer_language
from coordinator.routing.routes import RouteSet
from coordinator.routing.spelling import Speller
from coordinator.routing.tiers import choose_tier
from coordinator.routing.yes_no import is_yes_or_no, leads_with_yes
from coordinator.state_keys import PENDING_KEY

__all__ = [
    "CLARIFY_KEY",
    "ESCALATION_KEY",
    "FAILURES_KEY",
    "LAST_DECISION_KEY",
    "PARTS_KEY",
    "PENDING_KEY",
    "TRANSFER_TOOL",
    "RoutingCascade",
    "TurnPlan",
    "transfer_response",
]

log = logging.getLogger(__name__)

# Each part of a split message must be routed at least this surely (else: one ask), or
# this surely when the message announces its second ask ("and also", ". Außerdem,").
SPLIT_PART_CONFIDENCE = 0.5
ANNOUNCED_PART_CONFIDENCE = 0.35
# An announced part this far below every bar (route probability x typicality) is off-topic,
# not unsure: beside a confident ask it is a second ask for the catch-all route.
OFF_TOPIC_PART_CONFIDENCE = 0.12  # on the tuning tables 0.05 -> 0.12 moved no false split
LAST_DECISION_KEY = "coordinator:last_decision"
TRANSFER_TOOL = "transfer_to_agent"
ESCALATION_KEY = "coordinator:escalation"  # {"reason", "explicit"} for the hand-off agent
CLARIFY_KEY = "coordinator:clarify"  # the text of the turn we asked a question about
FAILURES_KEY = "coordinator:failures"  # failed turns in a row (fallback, unsure, frustrated)
PARTS_KEY = "coordinator:parts"  # [{"route", "text"}] for the multi-intent agent
LONG_MESSAGE = 600  # characters: a message this long is treated as carrying a document
DOC_WINDOW = 500  # characters per window of a document
DOC_WINDOWS = 6  # windows spread over the document (router calls: ~0.3 ms each)
SURE_WINDOW = 0.75  # a window's candidate this likely (among routes) anchors the vote, unconfident


def transfer_response(agent_name: str) -> LlmResponse:
    """The model turn ADK turns into a transfer, without calling any model."""
    call = types.FunctionCall(name=TRANSFER_TOOL, args={"agent_name": agent_name})
    return model_response(types.Part(function_call=call), routed_by="cascade")


class TurnPlan(BaseModel):
    """What the cascade decided for one turn, beyond the route."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    decision: Decision
    parts: list[tuple[str, Decision]] = Field(
        default_factory=list, description="Multi-intent: (part text, its decision) per route."
    )
    question: str | None = Field(None, description="Clarify: the question to ask.")
    escalation: str | None = Field(
        None, description="Escalation reason: requested, frustration, repeated_failure."
    )
    explicit: bool = Field(False, description="The user asked for a person in this session.")
    failed: bool = Field(False, description="This turn counts as a failure.")
    text: str = Field("", description="The text that was routed (both turns after a clarify).")


def _without_background(pieces: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each background part ("I updated the app") glued to the part it sets the scene for
    (the next one, else the previous one), with its joining words: it is no ask of its own.
    Unless the next part is announced as another ask ("... and ALSO my password won't reset")."""
    out: list[tuple[str, str]] = []
    carry: tuple[str, str] | None = None
    for i, (join, piece) in enumerate(pieces):
        if carry is not None:
            join, piece = carry[0], f"{carry[1]} {join} {piece}".replace("  ", " ")
            carry = None
        after = pieces[i + 1][0] if i + 1 < len(pieces) else ""
        if is_background(piece) and len(pieces) > 1 and not announces_another_ask(after):
            carry = (join, piece)
            continue
        out.append((join, piece))
    if carry is not None:
        if out:
            join, piece = out[-1]
            out[-1] = (join, f"{piece} {carry[0]} {carry[1]}".replace("  ", " "))
        else:
            out.append(carry)
    return out


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
        escalation_route: str | None = None,
        multi_intent_agent: str | None = None,
        clarify: bool = False,
        clarify_margin: float | None = None,
        max_failures: int = 2,
        root_name: str = "coordinator",
        spelling: bool = True,
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
        self.escalation_route = escalation_route if escalation_route in self.agent_names else None
        self.multi_intent_agent = (
            multi_intent_agent if multi_intent_agent in self.agent_names else None
        )
        self.clarify = clarify
        self.clarify_margin = clarify_margin
        self.max_failures = max_failures
        self.root_name = root_name
        self.speller = Speller(routes) if spelling else None
        # Routes a clarifying question may offer / a multi-intent part may go to.
        self.specialist_routes = [
            r.name
            for r in routes.scored
            if r.name in self.agent_names and r.name != self.escalation_route
        ]
        self.chat_routes = [n for n in self.specialist_routes if n not in self.document_routes]

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
                # A window of prose is no question, so it is atypical of every route's
                # examples (its confidence is discounted for that) and the outlier class
                # (generic questions) may claim it: a candidate the routes' probabilities
                # are sure of anchors too.
                if window.confident or window.scores.get(name, 0.0) >= SURE_WINDOW:
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
        long = self.document_routes and len(text) >= LONG_MESSAGE
        lang = detect_language(text) if self.multilingual or self.speller else None
        if long:
            decision = self._route_document(text)
        else:
            decision = self.router.route(text)
            fixed = self.speller.correct(text, lang) if self.speller else text
            if fixed != text:  # typos of the routes' words: route what was meant
                decision = self.router.route(fixed)
        if self.multilingual:
            preferred = prefer_language(decision, self.routes, lang)
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
                and not is_yes_or_no(text)  # a bare yes/no answers the agent's question
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

    # --- beyond one route: escalation, clarification, several asks ---------------------------

    def _remedy(self, pieces: list[tuple[str, str]], decided: list[Decision]) -> Decision | None:
        """The remedy's decision when the message is a problem and its remedy: ONE ask.

        "the headphones I ordered stopped working and I'd like my money back": the first
        part alone routes to technical support, but it is why the customer wants the
        refund, not a second request. Every part before the remedy must be such a cause
        (`is_remedy_of`); a part after it, or one with an ask of its own, makes it two asks.
        """
        for r, (_, remedy) in enumerate(pieces):
            d = decided[r]
            if not (d.confident and d.route in self.chat_routes and is_remedy(remedy)):
                continue
            causes = pieces[:r]
            later = [i for i in range(r + 1, len(pieces)) if decided[i].route != d.route]
            if not causes or later:
                continue
            joins = [join for join, _ in pieces[1 : r + 1]]
            if all(  # joins[i:] are the words between cause i and the remedy
                decided[i].route == d.route or is_remedy_of(cause, " ".join(joins[i:]), remedy)
                for i, (_, cause) in enumerate(causes)
            ):
                return d
        return None

    def _parts(self, text: str) -> tuple[list[tuple[str, Decision]], Decision | None]:
        """(parts that route confidently to different specialists, or [] = no split;
        the remedy's decision when the message is a problem and its remedy)."""
        clauses = [(j, c) for j, c in split_clauses(text) if not is_pleasantry(c)]
        # "Two things: ..." says up front that no part is the cause of another.
        if len(clauses) >= 2 and not announces_another_ask(clauses[0][0]):
            remedy = self._remedy(clauses, [self.decide(clause) for _, clause in clauses])
            if remedy is not None:
                return [], remedy
        pieces = [(j, p) for j, p in split_joined(text) if not is_pleasantry(p)]
        pieces = _without_background(pieces)
        if len(pieces) < 2:
            return [], None
        decided = [self.decide(piece) for _, piece in pieces]
        announced = any(announces_another_ask(join) for join, _ in pieces[1:])
        bar = ANNOUNCED_PART_CONFIDENCE if announced else SPLIT_PART_CONFIDENCE
        # Two parts that both ask for money back ("refund the gift card and put the money
        # back on my PayPal") are one remedy: the later one goes where the first went.
        remedies = [d.route for (_, p), d in zip(pieces, decided, strict=True) if is_remedy(p)]
        if len(remedies) >= 2:
            decided = [
                d.model_copy(update={"route": remedies[0]}) if is_remedy(p) and d.confident else d
                for (_, p), d in zip(pieces, decided, strict=True)
            ]
        by_route: dict[str, tuple[str, Decision]] = {}
        aside = [
            self._off_topic(piece, d, announced)
            for (_, piece), d in zip(pieces, decided, strict=True)
        ]
        for (_, piece), d, off in zip(pieces, decided, aside, strict=True):
            if off:  # "... Also, what's the weather in Denver?": the catch-all answers it
                by_route.setdefault(
                    self.routes.fallback,
                    (piece, d.model_copy(update={"route": self.routes.fallback})),
                )
                continue
            # Document routes review a pasted document as a whole: never a split part. A part
            # the router is less than even on is context for the other, not an ask of its own.
            if not d.confident or d.route not in self.chat_routes:
                return [], None
            if d.confidence < bar:
                return [], None
            if self.clarify_margin is not None and margin(d) < self.clarify_margin:
                return [], None  # a part we would have to ask about is not a confident split
            if d.route in by_route:  # same specialist twice: one section with both asks
                prev_text, prev = by_route[d.route]
                by_route[d.route] = (f"{prev_text}. {piece}", prev)
            else:
                by_route[d.route] = (piece, d)
        return (list(by_route.values()) if len(by_route) >= 2 else []), None

    def _off_topic(self, piece: str, d: Decision, announced: bool) -> bool:
        """True for a part of a message that announces several asks ("Also,", "by the way",
        "mudando de assunto") which surely asks what no specialist handles: a question or
        request of its own, four words or more, far below every route's bar; first or later.
        Unannounced, a follow-up ("When will it arrive?") looks the same, so never then.
        A fragment ("and also when I share them") or a vague part is never one."""
        return (
            announced
            and not d.confident
            and d.confidence <= OFF_TOPIC_PART_CONFIDENCE
            and is_request(piece)
            and len(piece.split()) >= 4
            and not (is_vague(piece) or is_courtesy(piece) or is_greeting(piece))
        )

    def _person_parts(self, text: str, person: Decision) -> list[tuple[str, Decision]]:
        """Parts of a message that asks for a person AND asks something else, or [].

        "why was I charged twice? Also, I want to talk to a manager" is two asks: the charge
        is answered and the conversation handed over. "the app keeps crashing and I want to
        speak to someone" is one: the crash is why the customer wants a person, so it stays
        with the hand-over (as a cause stays with its refund, `is_remedy_of`). Another part
        counts only when it asks something itself or the message announces a second ask,
        and routes confidently to a chat specialist.
        """
        esc = self.escalation_route
        if not self.multi_intent_agent or (self.document_routes and len(text) >= LONG_MESSAGE):
            return []
        pieces = [(j, p) for j, p in split_joined(text) if not is_pleasantry(p)]
        pieces = _without_background(pieces)
        wants = [asks_for_person(p) for _, p in pieces]
        if len(pieces) < 2 or all(wants) or not any(wants):
            return []
        # "... Can I talk to a person TOO?" announces the hand-over as a second ask.
        person_texts = [p for (_, p), wanted in zip(pieces, wants, strict=True) if wanted]
        announced = any(announces_another_ask(join) for join, _ in pieces) or any(
            announces_another_ask(p) for p in person_texts
        )
        # The person part is certain; another part that asks something itself needs only
        # the bar of an announced part.
        bar = ANNOUNCED_PART_CONFIDENCE
        by_route: dict[str, tuple[str, Decision]] = {}
        for (_, piece), wanted in zip(pieces, wants, strict=True):
            d = person if wanted else self.decide(piece)
            if not wanted and self._off_topic(piece, d, announced):  # "... and tell me a joke"
                fallback = self.routes.fallback
                by_route.setdefault(fallback, (piece, d.model_copy(update={"route": fallback})))
                continue
            if not wanted:
                if not d.confident or d.route not in self.chat_routes or d.confidence < bar:
                    return []
                if not (announced or is_own_ask(piece)):
                    return []  # the reason for wanting a person, not an ask of its own
                if self.clarify_margin is not None and margin(d) < self.clarify_margin:
                    return []
            if d.route in by_route:
                prev_text, prev = by_route[d.route]
                by_route[d.route] = (f"{prev_text}. {piece}", prev)
            else:
                by_route[d.route] = (piece, d)
        return list(by_route.values()) if esc in by_route and len(by_route) >= 2 else []

    def _question(self, decision: Decision, vague: bool) -> str:
        """Name the close candidates (or, for a vague message, the likeliest chat routes)."""
        ranked = sorted(
            (n for n in decision.scores if n in self.specialist_routes),
            key=lambda n: decision.scores[n],
            reverse=True,
        )
        chat = [n for n in ranked if n not in self.document_routes]
        options = [] if vague else ranked[:2]
        options += [n for n in chat if n not in options][: 3 - len(options)]
        return clarifying_question(self.routes, options)

    def plan(
        self,
        text: str,
        *,
        pending: str | None = None,
        clarifying: str | None = None,
        failures: int = 0,
        explicit: bool = False,
    ) -> TurnPlan:
        """Decide one turn with its session context (pure; the callbacks keep the state).

        `clarifying` is the text of the previous turn when we asked a question about it;
        `failures` counts failed turns in a row before this one; `explicit` says the user
        already asked for a person in this session.
        """
        text = text[: self.max_chars]
        esc = self.escalation_route
        if esc and pending == esc and leads_with_yes(text):
            # "yes" to "shall I hand you to a person?": the user's own confirmation.
            decision = Decision(route=esc, confidence=1.0, method="escalation")
            return TurnPlan(decision=decision, escalation="confirmed", explicit=True, text=text)
        if esc and asks_for_person(text):
            decision = Decision(route=esc, confidence=1.0, method="escalation", candidate=esc)
            parts = self._person_parts(text, decision)
            if parts:  # a person AND another ask: both, the hand-over after the answer
                multi = decision.model_copy(
                    update={
                        "route": self.multi_intent_agent,
                        "method": "multi",
                        "confident": True,
                        "candidate": parts[0][1].route,
                        "confidence": min(d.confidence for _, d in parts),
                    }
                )
                return TurnPlan(
                    decision=multi, parts=parts, escalation="requested", explicit=True, text=text
                )
            return TurnPlan(decision=decision, escalation="requested", explicit=True, text=text)
        routed = text
        if clarifying:
            routed = f"{clarifying}\n{text}"
        decision = self.decide(routed, pending if pending != esc else None)
        if clarifying:
            alone = self.decide(text)
            if not decision.confident and alone.confident:
                decision, routed = alone, text
        if esc and decision.route == esc:
            decision = decision.model_copy(update={"method": "escalation"})
            return TurnPlan(decision=decision, escalation="requested", explicit=explicit, text=text)
        if decision.method == "pending":
            return TurnPlan(decision=decision, text=routed)
        long = self.document_routes and len(text) >= LONG_MESSAGE
        if self.multi_intent_agent and not clarifying and not long:
            parts, remedy = self._parts(text)
            if remedy is not None and (decision.route != remedy.route or not decision.confident):
                # A problem and its remedy: the remedy's specialist, however the whole scored.
                decision = remedy.model_copy(update={"latency_ms": decision.latency_ms})
                return TurnPlan(decision=decision, text=text)
            if parts:
                multi = decision.model_copy(
                    update={
                        "route": self.multi_intent_agent,
                        "method": "multi",
                        "confident": True,
                        "candidate": parts[0][1].route,
                        "confidence": min(d.confidence for _, d in parts),
                    }
                )
                return TurnPlan(decision=multi, parts=parts, text=text)
        if self.clarify and not clarifying and not long:
            close = (
                self.clarify_margin is not None
                and decision.confident
                and decision.route in self.specialist_routes
                and margin(decision) < self.clarify_margin
            )
            vague = is_vague(text)
            if vague or close:
                ask = decision.model_copy(
                    update={"route": self.root_name, "method": "clarify", "confident": False}
                )
                question = self._question(decision, vague)
                if is_greeting(text):
                    question = "Hello! " + question
                return TurnPlan(decision=ask, question=question, text=text)
        frustrated = is_frustrated(text)
        failed = frustrated or (
            decision.route == self.routes.fallback
            and not decision.confident
            and not is_courtesy(text)
        )
        if esc and failed and failures + 1 >= self.max_failures:
            reason = "frustration" if frustrated else "repeated_failure"
            decision = decision.model_copy(
                update={"route": esc, "method": "escalation", "confident": True}
            )
            return TurnPlan(
                decision=decision, escalation=reason, explicit=explicit, failed=True, text=text
            )
        return TurnPlan(decision=decision, failed=failed, text=routed)

    def _log(self, ctx: CallbackContext, decision: Decision, text: str) -> int | None:
        if self.decision_log is None:
            return None
        try:
            return self.decision_log.record(
                decision,
                text=text,
                session_id=ctx.session.id,
                user_id=ctx.user_id,
                invocation_id=ctx.invocation_id,
            )
        except Exception:  # the log must never break a conversation
            log.exception("decision log write failed")
            return None

    def _remember(
        self, ctx: CallbackContext, decision: Decision, text: str, *, record: bool = True
    ) -> None:
        decision_id = self._log(ctx, decision, text) if record else None
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
        text = user_text(callback_context.user_content)
        if not text:
            decision = Decision(
                route=self.routes.fallback, confidence=0.0, method="fallback", confident=False
            )
            self._remember(callback_context, decision, text)
            return transfer_response(self.routes.fallback)
        state = callback_context.state
        pending = state.get(PENDING_KEY)
        previous = state.get(ESCALATION_KEY) or {}
        plan = self.plan(
            text,
            pending=pending,
            clarifying=(state.get(CLARIFY_KEY) or {}).get("text"),
            failures=int(state.get(FAILURES_KEY) or 0),
            explicit=bool(previous.get("explicit")),
        )
        decision = plan.decision
        if decision.route != pending and pending:
            state[PENDING_KEY] = None  # the user moved on
        if state.get(CLARIFY_KEY):
            state[CLARIFY_KEY] = None  # asked once; this turn answered it
        if plan.failed and not plan.escalation:
            state[FAILURES_KEY] = int(state.get(FAILURES_KEY) or 0) + 1
        elif decision.confident and decision.method not in ("pending",):
            state[FAILURES_KEY] = 0
        if plan.escalation:
            state[ESCALATION_KEY] = {
                "reason": previous.get("reason")
                if plan.escalation == "confirmed"
                else plan.escalation,
                "explicit": plan.explicit,
                "invocation_id": callback_context.invocation_id,
            }
        if plan.parts:
            state[PARTS_KEY] = [{"route": d.route, "text": t} for t, d in plan.parts]
            for part_text, part in plan.parts:  # one logged decision per part
                self._log(callback_context, part.model_copy(update={"method": "multi"}), part_text)
            self._remember(callback_context, decision, text, record=False)
            last = dict(state[LAST_DECISION_KEY])
            last["routes"] = [d.route for _, d in plan.parts]
            state[LAST_DECISION_KEY] = last
            return transfer_response(decision.route)
        self._remember(callback_context, decision, plan.text)
        if plan.question is not None:
            state[CLARIFY_KEY] = {"text": text}
            return model_response(types.Part(text=plan.question), routed_by="cascade", clarify=True)
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
