"""Voting over your own agents: each judge (a sub-agent) answers the same question alone.

    verdict = VotingAgent(
        name="verdict", sub_agents=[strict, lenient, literal],
        labels=["unsupported", "supported"],   # most cautious first: ties go to the front
        strategy="majority", lazy=True, output_key="verdict",
    )

Each judge runs in a private session (`run_alone`) on the question: the turn's text, a
template over state and the turn (`"Claim: {claim}. Evidence: {turn}"`), or a callable
`question(state, turn) -> str`. The first label its answer names is its vote; an answer
naming none abstains (a failed judge too), and the outcome lists it. Strategies, the tie
rule and lazy voting are those of `coordinator.parallel.vote`; `weights` gives a judge
more say under `weighted`. Judges carrying a side-effecting tool are refused at
construction.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from pydantic import Field, PrivateAttr, model_validator

from coordinator.errors import UsageError
from coordinator.events import state_event
from coordinator.inputs.content import user_text
from coordinator.parallel.isolated import assert_tree_has_no_side_effects, run_alone
from coordinator.parallel.vote import (
    Judge,
    Strategy,
    Vote,
    VoteAggregator,
    VoteConfig,
    vote_all,
    vote_lazily,
)

__all__ = ["VotingAgent", "label_in"]


def label_in(answer: str, labels: list[str]) -> str | None:
    """The label `answer` names first (whole words, any case), or None."""
    found = []
    for label in labels:
        words = r"[\s_-]+".join(map(re.escape, label.split()))
        match = re.search(rf"(?<![\w-]){words}(?![\w-])", answer, re.IGNORECASE)
        if match:
            found.append((match.start(), -len(label), label))
    return min(found)[2] if found else None


class VotingAgent(BaseAgent):
    """Its sub-agents are judges; their votes decide one label (see the module doc)."""

    labels: list[str] = Field(min_length=1, description="Labels, MOST cautious first.")
    strategy: Strategy = "majority"
    quorum: float | None = Field(None, gt=0, description="quorum: votes needed (or fraction).")
    weights: dict[str, float] = Field(default_factory=dict, description="Judge name -> weight.")
    lazy: bool = Field(False, description="Stop asking once the outcome cannot change.")
    question: str | Callable[[Mapping[str, Any], str], str] | None = Field(
        None, description="A template over state and {turn}, or `(state, turn) -> str`."
    )
    output_key: str | None = Field(None, description="State key of the outcome (a dict).")
    _aggregator: VoteAggregator = PrivateAttr()

    @model_validator(mode="after")
    def _check(self) -> VotingAgent:
        if not self.sub_agents:
            raise UsageError(f"VotingAgent {self.name!r} needs at least one judge (sub_agents)")
        assert_tree_has_no_side_effects(self.sub_agents, role="judge")
        unknown = set(self.weights) - {a.name for a in self.sub_agents}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise UsageError(f"weights name no judge of {self.name!r}: {names}")
        try:
            config = VoteConfig(strategy=self.strategy, risk_order=self.labels, quorum=self.quorum)
        except ValueError as exc:
            raise UsageError(f"VotingAgent {self.name!r}: {exc}") from None
        self._aggregator = VoteAggregator(config)
        return self

    def _question(self, ctx: InvocationContext) -> str:
        state, turn = dict(ctx.session.state), user_text(ctx.user_content)
        if callable(self.question):
            return str(self.question(state, turn))
        if isinstance(self.question, str):
            try:
                return self.question.format_map({**state, "turn": turn})
            except KeyError as exc:
                raise UsageError(f"question of {self.name!r} needs state key {exc}") from None
        return turn

    def _judge(self, agent: BaseAgent, ctx: InvocationContext) -> Judge:
        async def ask(question: str) -> Vote:
            answer = str((await run_alone(agent, ctx, question)).value)
            label = label_in(answer, self.labels)
            if label is None:
                raise ValueError(f"{agent.name} named no label")  # abstains
            return Vote(label=label, reason=answer[:500], judge=agent.name)

        return Judge(name=agent.name, weight=self.weights.get(agent.name, 1.0), ask=ask)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        question = self._question(ctx)
        judges = [self._judge(a, ctx) for a in self.sub_agents]
        decide = vote_lazily if self.lazy else vote_all
        outcome = await decide(judges, question, self._aggregator)
        counts = ", ".join(f"{label} {score:g}" for label, score in outcome.tally.items())
        text = f"{outcome.label} ({outcome.strategy}: {counts or 'no votes'}"
        text += f"; abstained: {', '.join(outcome.abstained)})" if outcome.abstained else ")"
        delta = {self.output_key: outcome.model_dump(mode="json")} if self.output_key else {}
        yield state_event(ctx, self.name, delta, text=text)
