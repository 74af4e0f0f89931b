"""Routing for your own agents: a router from routes or from sub-agents' descriptions,
and `with_routing(agent)`, which puts the cascade in front of any `LlmAgent`.

    helpdesk = with_routing(
        LlmAgent(name="helpdesk", model=offline_model(), sub_agents=[accounts, devices, desk]),
        fallback="desk",            # unsure -> the LLM if it is a real model, else here
    )

With no routes, each sub-agent's `description` is its route: the description and its
fragments (split at sentence and list punctuation) are the example utterances, so routing
works zero-shot from what ADK already asks you to write. Routes can instead come from a
YAML file (`load_routes`) or `Route` objects, with as many utterances as you have.

The cascade (see `coordinator.routing.cascade`) classifies each new turn first; a confident
decision transfers with no model call, an unsure one asks the agent's own model when it
is a real one (offline models cannot route), else goes to the fallback. Clarify,
escalation and multi-intent are off unless asked for; every decision is written to the
decision log unless `decision_log=False`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.adk.agents import BaseAgent, LlmAgent
from google.adk.models.base_llm import BaseLlm

from coordinator.errors import UsageError
from coordinator.models.offline import OfflineLlm
from coordinator.models.scripted import ScriptedLlm
from coordinator.routing.cascade import RoutingCascade, transfer_response
from coordinator.routing.decision import Router
from coordinator.routing.decision_log import DecisionLog
from coordinator.routing.multi_intent import MultiIntentAgent
from coordinator.routing.router import build_router
from coordinator.routing.routes import Route, RouteSet, load_routes

__all__ = ["MULTI_INTENT_AGENT", "routes_from_agents", "with_routing"]

MULTI_INTENT_AGENT = "multi_intent"
_FRAGMENT = re.compile(r"[.;:!?()\n]+|,\s+|\s+(?:and|or|e\.g\.)\s+")


def _fragments(description: str) -> list[str]:
    pieces = [p.strip(" -") for p in _FRAGMENT.split(description)]
    return [description.strip(), *(p for p in pieces if len(p.split()) >= 1 and len(p) > 2)]


def routes_from_agents(
    agents: Sequence[BaseAgent], *, fallback: str, utterances: dict[str, list[str]] | None = None
) -> RouteSet:
    """One route per agent from its `description` (zero-shot); `fallback` needs none.

    `utterances` adds real examples per agent name, when you have some."""
    extra = utterances or {}
    routes = []
    for agent in agents:
        if agent.name == fallback:
            routes.append(Route(name=agent.name, description=agent.description or agent.name))
            continue
        if not agent.description and not extra.get(agent.name):
            raise UsageError(f"agent {agent.name!r} has no description to route by")
        examples = [*_fragments(agent.description or ""), *extra.get(agent.name, [])]
        routes.append(Route(name=agent.name, description=agent.description or agent.name,
                            utterances=tuple(examples)))
    if fallback not in {a.name for a in agents}:
        raise UsageError(f"fallback {fallback!r} is not one of the agents: "
                         + ", ".join(a.name for a in agents))
    return RouteSet(fallback=fallback, routes=tuple(routes))


def _routes(value: Any, agents: list[BaseAgent], fallback: str | None) -> RouteSet:
    if isinstance(value, RouteSet):
        return value
    if isinstance(value, str | Path):
        return load_routes(value)
    if fallback is None:
        raise UsageError("with_routing needs fallback= (the agent that takes unsure requests)")
    if value is None:
        return routes_from_agents(agents, fallback=fallback)
    return RouteSet(fallback=fallback, routes=tuple(value))


def _real_model(model: Any) -> bool:
    """An LLM that can route when the classifier is unsure (local models cannot)."""
    if isinstance(model, str):
        return bool(model)
    return isinstance(model, BaseLlm) and not isinstance(model, OfflineLlm | ScriptedLlm)


def _decision_log(value: Any) -> DecisionLog | None:
    if value is True:
        return DecisionLog()
    if value is False or value is None:
        return None
    if isinstance(value, str | Path):
        return DecisionLog(value)
    return value


def with_routing(
    agent: LlmAgent,
    *,
    routes: RouteSet | str | Path | Sequence[Route] | None = None,
    fallback: str | None = None,
    router: Router | None = None,
    method: str = "auto",
    threshold: float | None = None,
    decision_log: bool | str | Path | DecisionLog = True,
    clarify: bool = False,
    clarify_margin: float | None = None,
    escalation: str | None = None,
    multi_intent: bool = False,
    llm_available: bool | None = None,
    max_chars: int = 20_000,
) -> LlmAgent:
    """Put the routing cascade in front of `agent` (returned, changed in place).

    `routes`: a `RouteSet`, a routes YAML file, `Route`s, or None for the sub-agents'
    descriptions. `decision_log`: True (the data dir's log), False, a path or URL, or a
    `DecisionLog`. `escalation`: the sub-agent that hands over to a person. `multi_intent`:
    answer several asks in one message in parallel (agents without side effects).
    """
    if not isinstance(agent, LlmAgent):
        raise UsageError(f"with_routing wraps an LlmAgent, got {type(agent).__name__}")
    if not agent.sub_agents:
        raise UsageError(f"agent {agent.name!r} has no sub_agents to route to")
    route_set = _routes(routes, list(agent.sub_agents), fallback)
    names = {a.name for a in agent.sub_agents}
    missing = [n for n in route_set.names if n not in names]
    if route_set.fallback in missing:
        raise UsageError(f"fallback route {route_set.fallback!r} has no sub-agent")
    if router is None:
        router = build_router(route_set, method=method, threshold=threshold)
    if multi_intent and MULTI_INTENT_AGENT not in names:
        multi = MultiIntentAgent(
            name=MULTI_INTENT_AGENT,
            description="Answers a message with several independent asks, one section per ask.",
            specialists={a.name: a for a in agent.sub_agents},
        )
        multi.parent_agent = agent
        agent.sub_agents.append(multi)
    cascade = RoutingCascade(
        router,
        route_set,
        agent_names=[a.name for a in agent.sub_agents],
        llm_available=_real_model(agent.model) if llm_available is None else llm_available,
        decision_log=_decision_log(decision_log),
        max_chars=max_chars,
        escalation_route=escalation,
        multi_intent_agent=MULTI_INTENT_AGENT if multi_intent else None,
        clarify=clarify,
        clarify_margin=clarify_margin,
        root_name=agent.name,
    )
    agent.before_model_callback = [cascade.before_model, *_callbacks(agent.before_model_callback)]
    agent.after_model_callback = [cascade.after_model, *_callbacks(agent.after_model_callback)]
    if agent.on_model_error_callback is None:
        # The router LLM is only asked when unsure; if it is down, take the safe route.
        def on_error(callback_context, llm_request, error):
            return transfer_response(route_set.fallback)

        agent.on_model_error_callback = on_error
    return agent


def _callbacks(existing: Any) -> list[Any]:
    if existing is None:
        return []
    return list(existing) if isinstance(existing, list) else [existing]
