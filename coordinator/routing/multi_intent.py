"""Several asks in one message: each part to its specialist, in parallel, one reply.

The routing cascade splits a message whose parts route confidently to different
specialists and writes the parts to `coordinator:parts`, then transfers here. This agent:

1. runs every part whose specialist has NO side-effecting tool through the fan-out engine
   (`coordinator.parallel.fanout.fan_out`), each in its own throw-away ADK session for the same
   authenticated user (as ADK's `AgentTool` runs an agent), so the part's specialist sees
   only its part;
2. merges the answers into ONE reply with a section per part;
3. only then runs a side-effecting part (refunds) with the real session, sequentially and
   outside any parallel branch, exactly as a transfer would (its confirmation flow and
   pending state live in the user's session).

`coordinator:routes` in state lists every route that handled the turn, in order.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator
from typing import Any

from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from pydantic import Field

from coordinator.errors import UsageError
from coordinator.events import state_event
from coordinator.models.usage import Usage
from coordinator.parallel.fanout import Branch, Metered, assert_no_side_effects, fan_out
from coordinator.parallel.isolated import run_alone
from coordinator.routing.cascade import LAST_DECISION_KEY, PARTS_KEY

__all__ = ["PARTS_USAGE_KEY", "ROUTES_KEY", "MultiIntentAgent", "has_side_effects"]

log = logging.getLogger(__name__)

ROUTES_KEY = "coordinator:routes"
PARTS_USAGE_KEY = "coordinator:parts_usage"  # model calls/tokens the parallel parts spent


def has_side_effects(agent: BaseAgent) -> bool:
    """True when the agent carries a tool that must never run in a parallel branch."""
    try:
        assert_no_side_effects(getattr(agent, "tools", None) or [])
    except UsageError:
        return True
    return False


def _title(route: str) -> str:
    return route.replace("_", " ").capitalize()


async def _answer_alone(agent: BaseAgent, ctx: InvocationContext, text: str, route: str) -> Metered:
    """Run `agent` on `text` in a private in-memory session of the same user, as if the
    cascade had routed the part alone (the coordinator's bookkeeping is not copied)."""
    last = dict(ctx.session.state.get(LAST_DECISION_KEY) or {})
    last.update(route=route, invocation_id=None)
    return await run_alone(agent, ctx, text, state={LAST_DECISION_KEY: last})


class MultiIntentAgent(BaseAgent):
    """Answers each part of a multi-intent message with its specialist (see module doc)."""

    specialists: dict[str, Any] = Field(
        default_factory=dict, description="Route name -> the specialist agent serving it."
    )
    max_concurrency: int | None = Field(None, ge=1)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        parts = [
            p
            for p in ctx.session.state.get(PARTS_KEY) or []
            if isinstance(p, dict) and p.get("route") in self.specialists
        ]
        parallel = [p for p in parts if not has_side_effects(self.specialists[p["route"]])]
        after = [p for p in parts if has_side_effects(self.specialists[p["route"]])]
        routes = [p["route"] for p in parts]  # the message's order, however they run
        sections: list[str] = []
        spent = Usage()
        if parallel:
            branches = [
                Branch(
                    id=f"part{i}",
                    call=functools.partial(
                        _answer_alone, self.specialists[p["route"]], ctx, p["text"], p["route"]
                    ),
                    calls_per_attempt=1,
                )
                for i, p in enumerate(parallel)
            ]
            result = await fan_out(branches, limit=self.max_concurrency, retries=0)
            by_id = {r.branch_id: r for r in result.results}
            spent = result.usage
            for i, p in enumerate(parallel):
                r = by_id.get(f"part{i}")
                body = (
                    r.output
                    if r is not None and r.ok and r.output
                    else "Sorry, this part could not be answered right now; please ask again."
                )
                sections.append(f"**{_title(p['route'])}** ({p['text']})\n{body}")
        if after:
            sections.append(
                "\n".join(f"**{_title(p['route'])}** ({p['text']}): see below." for p in after)
            )
        yield state_event(
            ctx,
            self.name,
            {
                ROUTES_KEY: routes,
                PARTS_KEY: None,
                PARTS_USAGE_KEY: {
                    "llm_calls": spent.llm_calls,
                    "prompt_tokens": spent.prompt_tokens,
                    "completion_tokens": spent.completion_tokens,
                },
            },
            text="\n\n".join(sections),
        )
        for p in after:  # side effects: never in the parallel group, one at a time
            async for event in self.specialists[p["route"]].run_async(ctx):
                yield event
