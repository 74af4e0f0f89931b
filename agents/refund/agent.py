"""The refund specialist: the only agent allowed to issue refunds (tools/refunds.py)."""

from __future__ import annotations

from google.adk.agents import LlmAgent

from agents._specialist import build_specialist
from coordinator import Settings
from tools.refunds import REFUND_AGENT, REFUND_TOOLS

from .policy import policy
from .prompt import PROMPT

__all__ = ["NAME", "build_agent"]

NAME = REFUND_AGENT  # request_refund refuses to run for any other agent name


def build_agent(settings: Settings | None = None) -> LlmAgent:
    return build_specialist(
        NAME, prompt=PROMPT, policy=policy, tools=REFUND_TOOLS, settings=settings
    )
