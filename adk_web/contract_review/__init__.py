from . import agent  # noqa: F401  (ADK convention: the app package exposes agent.root_agent)
