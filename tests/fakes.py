"""Scripted fake models and transcript helpers for tests (never a real model).

`ScriptedLlm` answers from a queue and records every request it was asked; running past
the script raises, and `assert_complete()` fails on leftovers.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from google.adk.events import Event
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import Field, PrivateAttr

from coordinator.events import model_response

# The keys issue #4 requires in a review report (JSON and state alike).
REVIEW_REPORT_KEYS = (
    "sections",
    "findings",
    "categories_found",
    "contradictions",
    "failed_branches",
    "usage",
    "latency_ms",
    "critical_path_ms",
)


def transfer_call(agent_name: str) -> types.Part:
    return types.Part(
        function_call=types.FunctionCall(name="transfer_to_agent", args={"agent_name": agent_name})
    )


def tool_call(name: str, **args: Any) -> types.Part:
    return types.Part(function_call=types.FunctionCall(name=name, args=args))


class ScriptedLlm(BaseLlm):
    """Replies with the next scripted item: a str (text) or a Part (e.g. a function call)."""

    model: str = "scripted"
    script: list[Any] = Field(default_factory=list)
    _requests: list[LlmRequest] = PrivateAttr(default_factory=list)

    @property
    def requests(self) -> list[LlmRequest]:
        return self._requests

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self._requests.append(llm_request)
        if not self.script:
            raise AssertionError(f"{self.model}: model called past the end of its script")
        item = self.script.pop(0)
        part = types.Part(text=item) if isinstance(item, str) else item
        yield model_response(part)

    def assert_complete(self) -> None:
        assert not self.script, f"{self.model}: unused script items: {self.script}"


def simplify_events(events: list[Event]) -> list[tuple[str, Any]]:
    """A transcript: (author, text | transfer_call(...) | tool_call(...)) per part."""
    out: list[tuple[str, Any]] = []
    for event in events:
        for part in (event.content.parts if event.content else None) or []:
            if part.text:
                out.append((event.author, part.text))
            elif part.function_call is not None:
                call = part.function_call
                if call.name == "transfer_to_agent":
                    out.append((event.author, ("transfer", (call.args or {}).get("agent_name"))))
                else:
                    out.append((event.author, ("call", call.name)))
    return out


class FakeChat:
    """A session for calling tools directly: `say(text)` starts a user turn and returns the
    ToolContext-like object the tools read (user, agent, state, session events, the turn's
    real user message). State persists across turns, as in an ADK session."""

    def __init__(
        self, user: str = "alice", agent: str = "refund", branch: str | None = None, **state: Any
    ) -> None:
        import uuid

        self.user, self.agent, self.branch = user, agent, branch
        self.state: dict[str, Any] = dict(state)
        self.id = uuid.uuid4().hex
        self.events: list[Any] = []
        self._turn: tuple[str, types.Content] | None = None

    def say(self, text: str) -> Any:
        import uuid

        content = types.Content(role="user", parts=[types.Part(text=text)])
        self._turn = (uuid.uuid4().hex, content)
        self.events.append(Event(author="user", invocation_id=self._turn[0], content=content))
        return self.ctx()

    def ctx(self) -> Any:
        from types import SimpleNamespace

        if self._turn is None:
            self.say("hello")
        invocation_id, content = self._turn  # type: ignore[misc]
        return SimpleNamespace(
            user_id=self.user,
            agent_name=self.agent,
            state=self.state,
            invocation_id=invocation_id,
            _invocation_context=SimpleNamespace(
                branch=self.branch,
                session=SimpleNamespace(id=self.id, events=self.events),
                user_content=content,
            ),
        )


def confirm_refund(order_id: int, user: str = "alice", reason: str = "broken") -> dict:
    """Propose then confirm a refund the way a customer does (two turns, a clear yes)."""
    from tools import refunds

    chat = FakeChat(user=user)
    refunds.check_refund_eligibility(order_id, chat.say(f"refund order {order_id}"))
    return refunds.request_refund(order_id, reason, chat.say("yes"))
