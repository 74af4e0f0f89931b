"""ADK app `contract_review`: the contract review pipeline on its own (`adk web adk_web`).

`app` carries the request guard (size/UTF-8/empty checks, as in the CLI), so a 5 MB
paste is refused before it is split into thousands of branches.
"""

from google.adk.apps import App

from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)
from coordinator.app_spec import load_app
from coordinator.serving.guard import RequestGuardPlugin

root_agent = load_app().review_kinds["contract"].build_agent()

app = App(name="contract_review", root_agent=root_agent, plugins=[RequestGuardPlugin()])
