"""Run an agent on one piece of text in a private session: the unit of a parallel branch.

A branch that shared the user's session would see (and write) its siblings' turns; ADK's
own `AgentTool` runs an agent in a throw-away in-memory session for the same reason. The
branch gets a copy of the user's state (minus ADK's and the engine's own bookkeeping and
`temp:` keys) and the same user id, and runs inside `parallel_branch()`, so a
side-effecting tool refuses even if one slipped past the construction-time check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types

from coordinator.deferred import walk
from coordinator.models.usage import Usage
from coordinator.parallel.branches import Metered
from coordinator.parallel.safety import assert_no_side_effects, parallel_branch

__all__ = ["assert_tree_has_no_side_effects", "run_alone"]

PRIVATE_PREFIXES = ("_adk", "temp:", "coordinator:")


def assert_tree_has_no_side_effects(agents: Iterable[BaseAgent], *, role: str) -> None:
    """`UsageError` naming the agent when any agent of the trees carries such a tool."""
    for top in agents:
        for agent in walk(top):  # deferred agents built: the check must see inside them
            assert_no_side_effects(getattr(agent, "tools", None) or [],
                                   where=f" ({role} {agent.name!r})")


async def run_alone(
    agent: BaseAgent,
    ctx: InvocationContext,
    text: str,
    *,
    state: Mapping[str, Any] | None = None,
) -> Metered:
    """The final text `agent` answers to `text`, with the model calls it took."""
    runner = Runner(app_name=ctx.app_name, agent=agent, session_service=InMemorySessionService())
    copied = {k: v for k, v in ctx.session.state.items() if not k.startswith(PRIVATE_PREFIXES)}
    copied.update(state or {})
    session = await runner.session_service.create_session(
        app_name=ctx.app_name, user_id=ctx.session.user_id, state=copied
    )
    message = types.Content(role="user", parts=[types.Part(text=text)])
    answer: list[str] = []
    calls = prompt = completion = 0
    with parallel_branch():
        async for event in runner.run_async(
            user_id=session.user_id, session_id=session.id, new_message=message
        ):
            if event.usage_metadata is not None:  # one model call (offline ones count too)
                calls += 1
                prompt += event.usage_metadata.prompt_token_count or 0
                completion += event.usage_metadata.candidates_token_count or 0
            if event.is_final_response() and event.content:
                answer.extend(p.text for p in event.content.parts or [] if p.text and not p.thought)
    usage = Usage(llm_calls=calls, prompt_tokens=prompt, completion_tokens=completion)
    return Metered(value="\n".join(a.strip() for a in answer if a.strip()), usage=usage)
