"""ADK app `security_review`: N voters judge a snippet on their own (`adk web adk_web`)."""

from agents.security_review.agent import build_agent
from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)

root_agent = build_agent()
