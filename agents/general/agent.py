"""The general agent: the catch-all fallback route; never fails to answer."""

from __future__ import annotations

from google.adk.agents import LlmAgent

from agents._specialist import build_specialist, routes_for
from coordinator import Settings, get_settings
from tools.kb import search_knowledge_base

from .policy import make_policy
from .prompt import PROMPT

__all__ = ["NAME", "build_agent"]

NAME = "general"


def build_agent(settings: Settings | None = None) -> LlmAgent:
    s = settings or get_settings()
    routes = routes_for(s)
    return build_specialist(
        NAME,
        prompt=PROMPT,
        policy=make_policy(routes),
        tools=[search_knowledge_base],
        settings=s,
        routes=routes,
    )
