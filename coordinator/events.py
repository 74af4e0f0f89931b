"""The two ADK values the engine and the agents build by hand, built in one place.

- `state_event(ctx, author, delta, text=...)`: a custom agent's event that changes session
  state (`EventActions(state_delta=...)`) and optionally says one line, in the invocation's
  branch, so ADK's runner applies the delta exactly as for an LlmAgent's output_key.
- `model_response(part)` / `text_response(text)`: a single-part model `LlmResponse`, what a
  local `BaseLlm` (offline policy, fault injection, simulated model) returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event, EventActions
from google.adk.models.llm_response import LlmResponse
from google.genai import types

__all__ = ["model_response", "state_event", "text_response"]


def state_event(
    ctx: InvocationContext,
    author: str,
    delta: Mapping[str, Any] | None = None,
    *,
    text: str | None = None,
) -> Event:
    """An event by `author` in `ctx`'s invocation and branch writing `delta` to state."""
    content = None if text is None else types.Content(role="model", parts=[types.Part(text=text)])
    return Event(
        author=author,
        invocation_id=ctx.invocation_id,
        branch=ctx.branch,
        content=content,
        actions=EventActions(state_delta=dict(delta or {})),
    )


def model_response(
    part: types.Part, *, turn_complete: bool | None = None, **metadata: Any
) -> LlmResponse:
    """A model response of one part; `metadata` goes to `custom_metadata` (None if empty)."""
    return LlmResponse(
        content=types.Content(role="model", parts=[part]),
        custom_metadata=metadata or None,
        turn_complete=turn_complete,
    )


def text_response(text: str, **metadata: Any) -> LlmResponse:
    """A complete model turn that says `text`."""
    return model_response(types.Part(text=text), turn_complete=True, **metadata)
