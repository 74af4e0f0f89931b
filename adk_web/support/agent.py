"""ADK app `support`: the coordinator with its specialists (`adk web adk_web`).

`app` carries the request guard (size/UTF-8/empty checks, as in the CLI) and a context
cache config; ADK's loader prefers `app` and falls back to `root_agent`.
"""

from google.adk.agents.context_cache_config import ContextCacheConfig
from google.adk.apps import App

from agents.coordinator.agent import build_plugins, build_root_agent
from coordinator.guard import RequestGuardPlugin

root_agent = build_root_agent()

app = App(
    name="support",
    root_agent=root_agent,
    plugins=[RequestGuardPlugin(), *build_plugins()],
    context_cache_config=ContextCacheConfig(),
)
