"""A specialist built on its first request, not when the tree is assembled.

A document-review pipeline costs ~0.15 s of CPU to build (rulebooks parsed and their
regexes compiled, a dozen agents, their modules imported); a one-shot `coordinator ask`
that is routed to billing would pay it for nothing. `DeferredAgent` stands in the tree
under the route's name and builds the real agent the first time it runs, is searched
for a name inside it, or is walked by a safety check.

ADK finds agents by the author names of a session's events (`find_agent`), so a deferred
agent declares the names of the agents inside it (`inner_names`); they are checked when
it is built. Without them any search for a name it does not hold builds it: correct, but
a resumed session pays the build. Only agents that never transfer (pipelines, fan-outs,
votes) may be deferred: an `LlmAgent` would find its parent and peers changed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from google.adk.agents import BaseAgent, LlmAgent
from pydantic import Field, PrivateAttr

from coordinator.errors import UsageError

__all__ = ["DeferredAgent", "build_deferred", "walk"]


class _Slot:
    """The built agent, shared by a deferred agent and its clones (a shallow copy keeps it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.agent: BaseAgent | None = None


class DeferredAgent(BaseAgent):
    """Builds `build()` on first use and runs it as its only sub-agent."""

    build: Callable[[], BaseAgent] = Field(exclude=True, description="Makes the real agent.")
    inner_names: frozenset[str] = Field(
        default_factory=frozenset,
        description="Names of the agents the built agent holds (its own included).",
    )
    _slot: _Slot = PrivateAttr(default_factory=_Slot)

    @property
    def built(self) -> bool:
        return bool(self.sub_agents) or self._slot.agent is not None

    def materialize(self) -> BaseAgent:
        """The real agent below this one, built once (thread-safe) for this agent and every
        clone of it: ADK clones an agent to run it, and a clone made before the build would
        otherwise build again. A clone gets its own copy, as ADK's clone of a built one does."""
        if self.sub_agents:
            return self.sub_agents[0]
        with self._slot.lock:
            if self._slot.agent is None:
                agent = self.build()
                self._check(agent)
                self._slot.agent = agent
            if not self.sub_agents:
                agent = self._slot.agent
                mine = agent if agent.parent_agent is None else agent.clone()
                mine.parent_agent = self
                self.sub_agents = [mine]
        return self.sub_agents[0]

    def _check(self, agent: Any) -> None:
        if not isinstance(agent, BaseAgent):
            raise UsageError(f"DeferredAgent {self.name!r}: build() returned "
                             f"{type(agent).__name__}, not an ADK agent")
        if isinstance(agent, LlmAgent):
            raise UsageError(f"DeferredAgent {self.name!r}: an LlmAgent transfers to its "
                             "parent and peers; defer pipelines, fan-outs or votes only")
        if agent.parent_agent is not None:
            raise UsageError(f"DeferredAgent {self.name!r}: build() returned an agent that "
                             f"already has a parent ({agent.parent_agent.name!r})")
        if self.inner_names:
            held = {a.name for a in walk(agent)}
            if held != set(self.inner_names):
                missing = sorted(set(self.inner_names) - held)
                extra = sorted(held - set(self.inner_names))
                raise UsageError(f"DeferredAgent {self.name!r}: inner_names differ from the "
                                 f"built tree (declared, not built: {missing}; built, not "
                                 f"declared: {extra})")

    def find_agent(self, name: str) -> BaseAgent | None:
        if name == self.name:
            return self
        if not self.built and self.inner_names and name not in self.inner_names:
            return None  # not in here: no reason to build
        return self.materialize().find_agent(name)

    async def _run_async_impl(self, ctx):
        async for event in self.materialize().run_async(ctx):
            yield event


def walk(agent: BaseAgent, *, build: bool = True) -> list[BaseAgent]:
    """`agent` and every agent below it. `build=False` leaves deferred agents unbuilt (their
    inside is then not listed): for bookkeeping, never for a safety check."""
    if build and isinstance(agent, DeferredAgent):
        agent.materialize()
    found = [agent]
    for sub in agent.sub_agents:
        found.extend(walk(sub, build=build))
    return found


def build_deferred(agent: BaseAgent) -> int:
    """Build every deferred agent in the tree (a server's warm-up); how many were built."""
    pending = [a for a in walk(agent, build=False)
               if isinstance(a, DeferredAgent) and not a.built]
    for a in pending:
        walk(a)  # builds it and any deferred agent inside it
    return len(pending)
