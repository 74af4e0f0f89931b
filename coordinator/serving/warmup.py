"""Run one throwaway request through ADK so its lazy imports happen up front.

ADK imports parts of its workflow engine and builds pydantic schemas for function tools
on the first run (~0.6-0.9 s here). Doing that once at start-up keeps the first real
request as fast as the rest. Nothing is persisted: in-memory session, no decision log.
"""

from __future__ import annotations

from google.adk.agents import LlmAgent
from google.adk.runners import InMemoryRunner
from google.genai import types

from coordinator.models.offline import OfflineLlm, function_call, function_responses, text_response


def _ping(text: str) -> dict:
    """Echo tool (forces ADK to build a function declaration)."""
    return {"status": "ok", "text": text}


def _policy(req):
    if function_responses(req):
        return text_response("pong")
    return function_call("_ping", {"text": "ping"})


async def warm_up() -> None:
    agent = LlmAgent(
        name="warmup", model=OfflineLlm(model="offline/warmup", policy=_policy), tools=[_ping]
    )
    runner = InMemoryRunner(agent=agent, app_name="warmup")
    session = await runner.session_service.create_session(app_name="warmup", user_id="warmup")
    msg = types.Content(role="user", parts=[types.Part(text="ping")])
    async for _ in runner.run_async(user_id="warmup", session_id=session.id, new_message=msg):
        pass
