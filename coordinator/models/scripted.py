"""Local models for your own agents: `offline_model()` and `ScriptedLlm` for tests.

Both are ADK `BaseLlm`s, so any `LlmAgent(model=...)` takes them, and neither touches
the network. `offline_model(policy)` wraps a policy (`LlmRequest -> LlmResponse`); with no
policy it answers extractively: the leading sentences of the request it was given, marked
offline, which is enough to run a pipeline end to end with no key. `ScriptedLlm` replays
the replies a test scripted, in order, and records every request it saw::

    llm = ScriptedLlm(replies=["Hello!", function_call("lookup", {"q": "vpn"}), "Done."])
    agent = LlmAgent(name="helper", model=llm)
    ...
    assert "vpn" in llm.requests[-1].contents[-1].parts[0].text
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from pydantic import Field, PrivateAttr

from coordinator.errors import ModelError
from coordinator.events import text_response
from coordinator.models.offline import OfflineLlm, Policy, last_user_text

__all__ = ["ScriptedLlm", "offline_model"]

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
EXTRACT_SENTENCES = 2


def _extractive(req: LlmRequest) -> LlmResponse:
    """The leading sentences of the user's text: an honest offline stand-in for a summary."""
    text = " ".join(last_user_text(req).split())
    sentences = [s for s in _SENTENCE.split(text) if s]
    return text_response(" ".join(sentences[:EXTRACT_SENTENCES]) or text)


def offline_model(policy: Policy | None = None, *, name: str = "offline") -> OfflineLlm:
    """A deterministic local model: `policy(request) -> response`, else extractive."""
    return OfflineLlm(model=f"offline/{name}", policy=policy or _extractive)


Reply = str | LlmResponse | Callable[[LlmRequest], LlmResponse]


class ScriptedLlm(BaseLlm):
    """Replays `replies` in order (text, an `LlmResponse`, or `request -> response`).

    Every request is kept in `requests`; a call past the end of the script raises
    `ModelError`, so a test notices an agent that asked the model more than expected.
    """

    model: str = "scripted"
    replies: list[Any] = Field(default_factory=list)
    _requests: list[LlmRequest] = PrivateAttr(default_factory=list)

    def __init__(self, replies: Sequence[Reply] = (), **data: Any) -> None:
        super().__init__(replies=list(replies), **data)

    @property
    def requests(self) -> list[LlmRequest]:
        return self._requests

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        index = len(self._requests)
        self._requests.append(llm_request)
        if index >= len(self.replies):
            raise ModelError(f"ScriptedLlm: call {index + 1} but only {len(self.replies)} "
                             "replies were scripted")
        reply = self.replies[index]
        if callable(reply):
            reply = reply(llm_request)
        response = text_response(reply) if isinstance(reply, str) else reply.model_copy()
        meta = dict(response.custom_metadata or {})
        meta.setdefault("offline", True)
        response.custom_metadata = meta
        yield response
