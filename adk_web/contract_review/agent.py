"""ADK app `contract_review`: the contract review pipeline on its own (`adk web adk_web`)."""

from agents.contract_review.agent import build_agent
from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

root_agent = build_agent()
