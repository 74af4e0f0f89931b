"""Research summary on the coordinator: sections summarised in parallel, a claim voted on."""

from . import agent  # noqa: F401  (ADK convention: the app's package exposes agent.root_agent)
