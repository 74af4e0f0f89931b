"""adk-coordinator: routing and parallelization for Google ADK agents, as a library.

Your own agents, routed and run in parallel (offline here: no key, no network)::

    from google.adk.agents import LlmAgent
    from coordinator import Coordinator, offline_model, with_routing

    desk = LlmAgent(name="desk", description="Anything else.", model=offline_model())
    vpn = LlmAgent(name="vpn", description="VPN and remote access: cannot connect, "
                   "tunnel drops.", model=offline_model())
    root = with_routing(LlmAgent(name="helpdesk", model=offline_model(),
                                 sub_agents=[vpn, desk]), fallback="desk")
    reply = Coordinator(root).ask("my vpn tunnel keeps dropping", user_id="alice")
    reply.route, reply.method      # ("vpn", "embedding")

Every public name is importable from here; each loads its module on first use (`import
coordinator` itself imports neither ADK nor numpy: every CLI command starts with it).
See docs/api.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

if TYPE_CHECKING:  # pragma: no cover
    from coordinator.api import Coordinator, Reply
    from coordinator.app_spec import AppSpec, ReviewFlags, ReviewKindSpec, load_app
    from coordinator.deferred import DeferredAgent
    from coordinator.errors import (
        ConfigError,
        CoordinatorError,
        ModelError,
        PolicyError,
        UsageError,
    )
    from coordinator.events import model_response, state_event, text_response
    from coordinator.inputs.config_file import load_yaml_model
    from coordinator.inputs.content import user_text
    from coordinator.inputs.request_split import split_request
    from coordinator.models.offline import (
        OfflineLlm,
        Policy,
        function_call,
        function_responses,
        is_relayed,
        last_user_text,
    )
    from coordinator.models.retry import call_with_retries, timed_call
    from coordinator.models.roles import is_offline, resolve_model
    from coordinator.models.scripted import ScriptedLlm, offline_model
    from coordinator.models.usage import Usage
    from coordinator.parallel.aggregate import concatenate, from_state, structured_merge
    from coordinator.parallel.branches import (
        Branch,
        FailedBranch,
        Metered,
        branch_request,
        response_text,
    )
    from coordinator.parallel.fanout_agent import FanOutAgent
    from coordinator.parallel.progress import PROGRESS_KEY
    from coordinator.parallel.safety import side_effecting
    from coordinator.parallel.vote import (
        Judge,
        Vote,
        VoteAggregator,
        VoteConfig,
        vote_all,
        vote_lazily,
    )
    from coordinator.parallel.voting_agent import VotingAgent
    from coordinator.routing.cascade import LAST_DECISION_KEY, transfer_response
    from coordinator.routing.classifier import read_manifest
    from coordinator.routing.decision import Decision, Router
    from coordinator.routing.decision_log import DecisionLog
    from coordinator.routing.encoder import Encoder, get_encoder
    from coordinator.routing.intents import calibrated_margin
    from coordinator.routing.language import answer_in_instruction, detect_language, offline_notice
    from coordinator.routing.router import build_router
    from coordinator.routing.routes import DEFAULT_ROUTES_FILE, Route, RouteSet, load_routes
    from coordinator.routing.wrap import routes_from_agents, with_routing
    from coordinator.settings import Settings, get_settings

# public name -> the module that defines it, loaded on first access
_EXPORTS: dict[str, str] = {
    # the coordinator
    "Coordinator": "coordinator.api",
    "Reply": "coordinator.api",
    "ConfigError": "coordinator.errors",
    "CoordinatorError": "coordinator.errors",
    "ModelError": "coordinator.errors",
    "PolicyError": "coordinator.errors",
    "UsageError": "coordinator.errors",
    # routing
    "routes_from_agents": "coordinator.routing.wrap",
    "with_routing": "coordinator.routing.wrap",
    "Route": "coordinator.routing.routes",
    "RouteSet": "coordinator.routing.routes",
    "load_routes": "coordinator.routing.routes",
    "DEFAULT_ROUTES_FILE": "coordinator.routing.routes",
    "read_manifest": "coordinator.routing.classifier",
    "build_router": "coordinator.routing.router",
    "Decision": "coordinator.routing.decision",
    "Router": "coordinator.routing.decision",
    "DecisionLog": "coordinator.routing.decision_log",
    # parallel
    "DeferredAgent": "coordinator.deferred",
    "FanOutAgent": "coordinator.parallel.fanout_agent",
    "VotingAgent": "coordinator.parallel.voting_agent",
    "concatenate": "coordinator.parallel.aggregate",
    "structured_merge": "coordinator.parallel.aggregate",
    "side_effecting": "coordinator.parallel.safety",
    # models
    "ScriptedLlm": "coordinator.models.scripted",
    "offline_model": "coordinator.models.scripted",
    "OfflineLlm": "coordinator.models.offline",
    "function_call": "coordinator.models.offline",
    "last_user_text": "coordinator.models.offline",
    # building blocks the bundled apps use (engine-level; stable, less often needed)
    "AppSpec": "coordinator.app_spec",
    "ReviewFlags": "coordinator.app_spec",
    "ReviewKindSpec": "coordinator.app_spec",
    "load_app": "coordinator.app_spec",
    "Settings": "coordinator.settings",
    "get_settings": "coordinator.settings",
    "model_response": "coordinator.events",
    "state_event": "coordinator.events",
    "text_response": "coordinator.events",
    "load_yaml_model": "coordinator.inputs.config_file",
    "user_text": "coordinator.inputs.content",
    "Policy": "coordinator.models.offline",
    "function_responses": "coordinator.models.offline",
    "is_relayed": "coordinator.models.offline",
    "is_offline": "coordinator.models.roles",
    "resolve_model": "coordinator.models.roles",
    "Usage": "coordinator.models.usage",
    "call_with_retries": "coordinator.models.retry",
    "timed_call": "coordinator.models.retry",
    "from_state": "coordinator.parallel.aggregate",
    "Branch": "coordinator.parallel.branches",
    "FailedBranch": "coordinator.parallel.branches",
    "Metered": "coordinator.parallel.branches",
    "branch_request": "coordinator.parallel.branches",
    "response_text": "coordinator.parallel.branches",
    "PROGRESS_KEY": "coordinator.parallel.progress",
    "Judge": "coordinator.parallel.vote",
    "Vote": "coordinator.parallel.vote",
    "VoteAggregator": "coordinator.parallel.vote",
    "VoteConfig": "coordinator.parallel.vote",
    "vote_all": "coordinator.parallel.vote",
    "vote_lazily": "coordinator.parallel.vote",
    "LAST_DECISION_KEY": "coordinator.routing.cascade",
    "transfer_response": "coordinator.routing.cascade",
    "Encoder": "coordinator.routing.encoder",
    "get_encoder": "coordinator.routing.encoder",
    "calibrated_margin": "coordinator.routing.intents",
    "answer_in_instruction": "coordinator.routing.language",
    "detect_language": "coordinator.routing.language",
    "offline_notice": "coordinator.routing.language",
    "split_request": "coordinator.inputs.request_split",
}

__all__ = [
    "DEFAULT_ROUTES_FILE",
    "LAST_DECISION_KEY",
    "PROGRESS_KEY",
    "AppSpec",
    "Branch",
    "ConfigError",
    "Coordinator",
    "CoordinatorError",
    "Decision",
    "DecisionLog",
    "DeferredAgent",
    "Encoder",
    "FailedBranch",
    "FanOutAgent",
    "Judge",
    "Metered",
    "ModelError",
    "OfflineLlm",
    "Policy",
    "PolicyError",
    "Reply",
    "ReviewFlags",
    "ReviewKindSpec",
    "Route",
    "RouteSet",
    "Router",
    "ScriptedLlm",
    "Settings",
    "Usage",
    "UsageError",
    "Vote",
    "VoteAggregator",
    "VoteConfig",
    "VotingAgent",
    "answer_in_instruction",
    "branch_request",
    "build_router",
    "calibrated_margin",
    "call_with_retries",
    "concatenate",
    "detect_language",
    "from_state",
    "function_call",
    "function_responses",
    "get_encoder",
    "get_settings",
    "is_offline",
    "is_relayed",
    "last_user_text",
    "load_app",
    "load_routes",
    "load_yaml_model",
    "model_response",
    "offline_model",
    "offline_notice",
    "read_manifest",
    "resolve_model",
    "response_text",
    "routes_from_agents",
    "side_effecting",
    "split_request",
    "state_event",
    "structured_merge",
    "text_response",
    "timed_call",
    "transfer_response",
    "user_text",
    "vote_all",
    "vote_lazily",
    "with_routing",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'coordinator' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
