"""An IT helpdesk on the coordinator: your three agents, routed by their descriptions."""

from . import agent  # noqa: F401  (ADK convention: the app's package exposes agent.root_agent)
