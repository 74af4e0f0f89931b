"""The root `coordinator` agent: routing cascade + the specialists as sub-agents.

Which specialist serves a route is configuration (`SPECIALISTS`); the engine in
`coordinator/` knows nothing about billing or contracts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import sys
from pathlib import Path

from google.adk.agents import BaseAgent, LlmAgent
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from coordinator import (
    DEFAULT_ROUTES_FILE,
    DecisionLog,
    DeferredAgent,
    Router,
    RouteSet,
    Settings,
    build_router,
    calibrated_margin,
    get_settings,
    load_routes,
    read_manifest,
    resolve_model,
    transfer_response,
    with_routing,
)
from tools.side_effects import SideEffectReportPlugin

from .prompt import ROOT_INSTRUCTION

__all__ = ["SPECIALISTS", "build_plugins", "build_root_agent", "build_specialists"]

# route name -> module exposing build_agent(settings) -> BaseAgent
SPECIALISTS: dict[str, str] = {
    "billing": "agents.billing.agent",
    "technical_support": "agents.technical_support.agent",
    "refund": "agents.refund.agent",
    "contract_review": "agents.contract_review.agent",
    "security_review": "agents.security_review.agent",
    "general": "agents.general.agent",
    "escalation": "agents.escalation.agent",
}
# Pipelines built on their first request (coordinator.DeferredAgent): ~0.15 s of CPU that a
# `coordinator ask` routed elsewhere would pay. The names of the agents inside each (ADK
# looks a session's event authors up by name) are checked when it is built.
DEFERRED: dict[str, tuple[str, ...]] = {
    "contract_review": ("contract_review", "split", "clause_checks", "risk_vote", "aggregate"),
    "security_review": ("security_review", "intake", "voters", "vote"),
}
ESCALATION_ROUTE = "escalation"
# The classifier for agents/routes.yaml, trained with outlier exposure (router_model/build.sh).
SHIPPED_ROUTER = Path(__file__).resolve().parents[1] / "router_model"
log = logging.getLogger(__name__)


def build_plugins() -> list:
    """ADK plugins the support app needs around its specialists' side effects: an audited
    refund the session was never told about (crash mid-turn) is reported next turn."""
    return [SideEffectReportPlugin()]


def build_specialists(routes: RouteSet, settings: Settings) -> list[BaseAgent]:
    """One sub-agent per route that has an implementation, fallback included."""
    agents: list[BaseAgent] = []
    for name in routes.names:
        module_name = SPECIALISTS.get(name)
        if module_name is None or not _available(module_name):
            continue  # the route exists but this build has no agent for it
        build = functools.partial(_build_specialist, module_name, settings)
        if name in DEFERRED:
            agent = DeferredAgent(name=name, build=build, inner_names=DEFERRED[name])
        else:
            agent = build()
        # The route definition is the single source of the description that drives routing.
        agent.description = routes.description(name)
        agents.append(agent)
    return agents


def _available(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # its package is missing
        return False


def _build_specialist(module_name: str, settings: Settings) -> BaseAgent:
    return importlib.import_module(module_name).build_agent(settings)


_announced = False


def announce_mode(s: Settings) -> None:
    """Say once per process, on stderr, whether Gemini or the offline models answer."""
    global _announced
    if _announced:
        return
    _announced = True
    if s.use_remote_models:
        names = f"{s.model_router} / {s.model_fast} / {s.model_strong}"
        print(f"coordinator: using real models (router / fast / strong: {names})", file=sys.stderr)
    else:
        why = "COORDINATOR_MODE=offline" if s.mode == "offline" else "no GOOGLE_API_KEY set"
        print(
            f"coordinator: offline mode ({why}): local models answer from local data",
            file=sys.stderr,
        )


def _offline_root_policy(fallback: str):
    def policy(req: LlmRequest) -> LlmResponse:
        # Offline the cascade always decides before the model; reaching here means
        # something skipped it, so take the safe route.
        return transfer_response(fallback)

    return policy


# The product's clarify margin, chosen by `coordinator bench intents --write-margin`.
CLARIFY_MARGIN_FILE = Path(__file__).resolve().parents[1] / "clarify_margin.json"


def _clarify_margin(s: Settings, routes: RouteSet, router: Router) -> float | None:
    """Ask when the top two routes are closer than this (None: never on margin alone).

    The margin is in calibrated-probability units, so it applies to the classifier
    router; it is chosen on the routes' own utterances (k-fold), or set explicitly.
    """
    if not s.clarify or getattr(router, "method", "") != "classifier":
        return None
    if s.clarify_margin is not None:
        return s.clarify_margin
    return calibrated_margin(routes, shipped=CLARIFY_MARGIN_FILE)


def _shipped_router(routes: RouteSet, method: str) -> Path | None:
    """The shipped classifier (trained with outlier exposure, see router_model/build.sh)
    when it was trained on exactly these routes; else None (train in memory, no exposure)."""
    if method not in ("auto", "classifier") or not (SHIPPED_ROUTER / "manifest.json").is_file():
        return None
    if read_manifest(SHIPPED_ROUTER).routes_fingerprint != routes.fingerprint():
        if routes.fingerprint() == _default_fingerprint():
            log.warning(
                "agents/router_model is stale for agents/routes.yaml: run "
                "agents/router_model/build.sh; routing without outlier exposure meanwhile"
            )
        return None
    return SHIPPED_ROUTER


def _default_fingerprint() -> str:
    return load_routes(DEFAULT_ROUTES_FILE).fingerprint()


def build_root_agent(
    settings: Settings | None = None,
    *,
    routes: RouteSet | None = None,
    router: Router | None = None,
    decision_log=None,
) -> LlmAgent:
    """Assemble the coordinator tree (used by adk_web, the CLI and the Python API)."""
    s = settings or get_settings()
    announce_mode(s)
    routes = routes or load_routes(s.routes_file)
    if router is None:
        model_dir = s.router_model_dir or _shipped_router(routes, s.router_method)
        extra = {"model_dir": model_dir} if model_dir else {}
        router = build_router(routes, method=s.router_method, threshold=s.router_threshold, **extra)
    if decision_log is None:
        decision_log = DecisionLog(s.database_url or s.decision_log_path)
    specialists = build_specialists(routes, s)
    policy = _offline_root_policy(routes.fallback)
    listing = "\n".join(f"- {a.name}: {a.description}" for a in specialists)
    root = LlmAgent(
        name="coordinator",
        description="Routes each request to the specialist that fits.",
        model=resolve_model("router", name="coordinator", policy=policy, settings=s),
        instruction=ROOT_INSTRUCTION.format(agents=listing, fallback=routes.fallback),
        sub_agents=specialists,
    )
    return with_routing(
        root,
        routes=routes,
        router=router,
        decision_log=decision_log,
        llm_available=s.use_remote_models,
        max_chars=s.max_request_chars,
        escalation=ESCALATION_ROUTE,
        # Several asks in one message: the specialists' answers, merged.
        multi_intent=True,
        clarify=s.clarify,
        clarify_margin=_clarify_margin(s, routes, router),
    )
