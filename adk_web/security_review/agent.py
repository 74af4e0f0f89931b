"""ADK app `security_review`: N voters judge a snippet on their own (`adk web adk_web`).

`app` carries the request guard (size/UTF-8/empty checks, as in the CLI).
"""

from google.adk.apps import App

from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)
from coordinator.app_spec import load_app
from coordinator.serving.guard import RequestGuardPlugin

root_agent = load_app().review_kinds["security"].build_agent()

app = App(name="security_review", root_agent=root_agent, plugins=[RequestGuardPlugin()])
