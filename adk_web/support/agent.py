"""ADK app `support`: the coordinator with its specialists (`adk web adk_web`).

`app` carries the request guard (size/UTF-8/empty checks, as in the CLI) and a context
cache config; ADK's loader prefers `app` and falls back to `root_agent`. The agents come
from the application the engine runs (`COORDINATOR_APP`, default `agents.app:build_app`).
"""

from google.adk.agents.context_cache_config import ContextCacheConfig
from google.adk.apps import App

from coordinator.app_spec import load_app
from coordinator.deferred import build_deferred
from coordinator.serving.guard import RequestGuardPlugin
from coordinator.settings import get_settings

_spec = load_app()
root_agent = _spec.build_root_agent(get_settings())
# A server builds the deferred review pipelines at load, not inside someone's request.
build_deferred(root_agent)

app = App(
    name="support",
    root_agent=root_agent,
    plugins=[RequestGuardPlugin(), *_spec.build_plugins()],
    context_cache_config=ContextCacheConfig(),
)
