"""The escalation agent: hands the conversation to a person with a support ticket.

Reached when the user asks for a person (six languages) or after repeated failed turns
(see coordinator.routing.cascade). Its one tool, `open_handoff_ticket`, takes no arguments: user,
session and reason come from the session, never from the conversation text.
"""

from __future__ import annotations

from google.adk.agents import LlmAgent

from agents._specialist import build_specialist
from coordinator import Settings
from tools.tickets import open_handoff_ticket

from .policy import policy
from .prompt import PROMPT

__all__ = ["NAME", "build_agent"]

NAME = "escalation"


def build_agent(settings: Settings | None = None) -> LlmAgent:
    return build_specialist(
        NAME, prompt=PROMPT, policy=policy, tools=[open_handoff_ticket], settings=settings
    )
