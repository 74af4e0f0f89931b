"""Deterministic local models that implement ADK's `BaseLlm`.

An `OfflineLlm` is a *policy*: a plain function from the `LlmRequest` the agent built to
the `LlmResponse` it returns (text, or function calls for ADK to execute). Policies answer
from data — tool results, knowledge-base articles, the rulebook — so the offline default
gives useful answers with no API key and no network. Every response is marked
`custom_metadata={"offline": True}` so nothing pretends to be Gemini.

Token usage is estimated (words x 1.3) so cost accounting works the same offline.
"""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types

from coordinator.events import model_response, text_response
from coordinator.inputs.content import user_text

__all__ = [
    "OWN_CALL_PREFIX",
    "OfflineLlm",
    "Policy",
    "estimate_tokens",
    "function_call",
    "function_responses",
    "is_relayed",
    "last_user_text",
    "text_response",
    "tool_names",
]

Policy = Callable[[LlmRequest], LlmResponse | Awaitable[LlmResponse]]

# Id prefix of the tool calls a policy makes itself (see `function_responses`).
OWN_CALL_PREFIX = "offline-"


def estimate_tokens(text: str) -> int:
    """A stable, cheap token estimate (~1.3 tokens per whitespace word)."""
    return max(1, int(len(text.split()) * 1.3)) if text else 0


def _request_text(req: LlmRequest) -> str:
    parts: list[str] = []
    for content in req.contents:
        for part in content.parts or []:
            if part.text:
                parts.append(part.text)
            elif part.function_response is not None:
                parts.append(json.dumps(part.function_response.response, default=str))
    return "\n".join(parts)


def _usage(req: LlmRequest, resp: LlmResponse) -> types.GenerateContentResponseUsageMetadata:
    out = ""
    if resp.content:
        for part in resp.content.parts or []:
            if part.text:
                out += part.text
            elif part.function_call is not None:
                out += json.dumps(part.function_call.args or {}, default=str)
    prompt = estimate_tokens(_request_text(req))
    completion = estimate_tokens(out)
    return types.GenerateContentResponseUsageMetadata(
        prompt_token_count=prompt,
        candidates_token_count=completion,
        total_token_count=prompt + completion,
    )


class OfflineLlm(BaseLlm):
    """A `BaseLlm` whose answers come from a deterministic policy function.

    Example::

        def echo(req: LlmRequest) -> LlmResponse:
            return text_response("you said: " + last_user_text(req))

        agent = LlmAgent(name="echo", model=OfflineLlm(model="offline/echo", policy=echo))
    """

    policy: Any  # Policy; typed loosely because pydantic cannot validate callables' shape

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        result = self.policy(llm_request)
        if inspect.isawaitable(result):
            result = await result
        response: LlmResponse = result
        if response.usage_metadata is None:
            response.usage_metadata = _usage(llm_request, response)
        meta = dict(response.custom_metadata or {})
        meta.setdefault("offline", True)
        meta.setdefault("model", self.model)
        response.custom_metadata = meta
        yield response


# --- helpers for writing policies -------------------------------------------------------

# ADK relays other agents' turns (e.g. the coordinator's transfer) to the current agent as
# user-role content that starts with this preamble; it is context, not the user speaking.
_RELAYED_PREFIX = "For context:"


def is_relayed(content: types.Content) -> bool:
    """True for another agent's turn that ADK relayed as user-role context."""
    parts = content.parts or []
    return bool(parts) and bool(parts[0].text) and parts[0].text.startswith(_RELAYED_PREFIX)


def _is_user_text(content: types.Content) -> bool:
    return (
        content.role == "user"
        and not is_relayed(content)
        and any(p.text for p in content.parts or [])
    )


def last_user_text(req: LlmRequest) -> str:
    """The text of the latest user message (empty if the last turn was a tool result)."""
    for content in reversed(req.contents):
        if _is_user_text(content):
            return user_text(content)
    return ""


def function_responses(req: LlmRequest) -> dict[str, dict[str, Any]]:
    """Results of the policy's own tool calls since the latest user text, by tool name
    (latest wins).

    A deterministic policy answers from the calls it chose, never from a call it did not
    make: a model glitch (an invented tool name, or a real tool called with bogus
    arguments) gets ADK's or the tool's error back, and the policy carries on from its
    real results, or makes its first call again, as a model recovering from its own
    mistake would. Its calls carry an id with `OWN_CALL_PREFIX` (see `function_call`),
    and only responses under such an id count.
    """
    found: dict[str, dict[str, Any]] = {}
    for content in _since_last_user_text(req):
        for part in content.parts or []:
            fr = part.function_response
            if fr is None or not fr.name or fr.name in found:
                continue
            if (fr.id or "").startswith(OWN_CALL_PREFIX):
                found[fr.name] = dict(fr.response or {})
    return found


def _since_last_user_text(req: LlmRequest) -> list[types.Content]:
    """The contents after the latest user text message, newest first."""
    out: list[types.Content] = []
    for content in reversed(req.contents):
        if _is_user_text(content):
            break
        out.append(content)
    return out


def tool_names(req: LlmRequest) -> set[str]:
    """Names of the tools the agent offered this turn."""
    return set(req.tools_dict)


def function_call(name: str, args: dict[str, Any] | None = None, **metadata: Any) -> LlmResponse:
    """A policy's tool call, with an id that marks it as the policy's own (ADK keeps ids
    that do not start with "adk-", so the result comes back under the same id)."""
    call = types.FunctionCall(name=name, args=args or {}, id=f"{OWN_CALL_PREFIX}{uuid.uuid4().hex}")
    return model_response(types.Part(function_call=call), **metadata)
