"""Request guard for every entry point, including `adk web` / `adk api_server`.

The Python API and the CLI validate a request before it reaches ADK
(`coordinator.inputs.request_text.validate_request`). The HTTP servers hand messages straight to the
Runner, so the same rule runs as an ADK plugin: an unusable message (empty, too long,
not valid UTF-8) is replaced by a short placeholder *before* it is stored in the session,
and the run stops with a one-line explanation instead of routing it.
"""

from __future__ import annotations

from google.adk.agents.invocation_context import InvocationContext
from google.adk.plugins.base_plugin import BasePlugin
from google.genai import types

from coordinator.errors import UsageError
from coordinator.inputs.content import user_text
from coordinator.inputs.request_text import validate_request
from coordinator.settings import get_settings

__all__ = ["RequestGuardPlugin"]

_REFUSED = "[request refused: "


class RequestGuardPlugin(BasePlugin):
    """Refuse unusable user messages the same way the CLI and Python API do."""

    def __init__(self, max_chars: int | None = None) -> None:
        super().__init__(name="request_guard")
        self._max_chars = max_chars

    @property
    def max_chars(self) -> int:
        return self._max_chars or get_settings().max_request_chars

    async def on_user_message_callback(
        self, *, invocation_context: InvocationContext, user_message: types.Content
    ) -> types.Content | None:
        if any(p.function_response is not None for p in user_message.parts or []):
            return None  # a tool result resuming a run, not a new request
        try:
            validate_request(user_text(user_message), self.max_chars)
        except UsageError as exc:
            return types.Content(role="user", parts=[types.Part(text=f"{_REFUSED}{exc}]")])
        return None

    async def before_run_callback(
        self, *, invocation_context: InvocationContext
    ) -> types.Content | None:
        text = user_text(invocation_context.user_content)
        if text.startswith(_REFUSED):
            reason = text[len(_REFUSED) : -1]
            return types.Content(
                role="model", parts=[types.Part(text=f"I can't process that message: {reason}.")]
            )
        return None
