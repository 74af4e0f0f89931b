"""ADK app `support`: the coordinator with its specialists (`adk web adk_web`)."""

from agents.coordinator.agent import build_root_agent
from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

root_agent = build_root_agent()
