"""The billing specialist: charges, invoices, payment methods (tools in tools/billing.py)."""

from __future__ import annotations

from google.adk.agents import LlmAgent

from agents._specialist import build_specialist
from coordinator import Settings
from tools.billing import BILLING_TOOLS
from tools.kb import search_knowledge_base

from .policy import policy
from .prompt import PROMPT

__all__ = ["NAME", "build_agent"]

NAME = "billing"


def build_agent(settings: Settings | None = None) -> LlmAgent:
    return build_specialist(
        NAME,
        prompt=PROMPT,
        policy=policy,
        tools=[*BILLING_TOOLS, search_knowledge_base],
        settings=settings,
    )
