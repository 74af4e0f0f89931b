"""Voting: N independent judges answer the same question; one aggregator decides.

Strategies (`VoteConfig.strategy`):

- ``majority``: most votes wins (plurality, one vote per judge).
- ``weighted``: most total weight wins (judge weight, times confidence if
  `use_confidence`).
- ``unanimity``: every judge must vote and agree.
- ``quorum``: a label wins when at least `quorum` judges (an int, or a fraction of all
  judges) voted for it.

Tie rule (the one place caution is encoded): `risk_order` lists labels from MOST cautious
to least, e.g. ``["high", "medium", "low"]`` or ``["vulnerable", "safe"]``. A tie between
labels resolves to the most cautious of the tied labels. When no label is decided (failed
unanimity, no quorum) the outcome is the most cautious label any judge voted for (or the
most cautious label overall if nobody voted). A judge that fails abstains.

Lazy voting (`vote_lazily`) asks judges one at a time (or in small waves) and stops as
soon as no answer from the remaining judges (any label, or abstaining) could change the
outcome, so it returns exactly the decision asking everyone would, with fewer calls.

Judges never get side-effecting tools: `llm_judge` refuses requests whose tools are
marked `side_effecting` (see `coordinator.parallel.fanout.assert_no_side_effects`).
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field, model_validator

from coordinator.errors import UsageError
from coordinator.parallel.fanout import assert_no_side_effects, call_model, parallel_branch

__all__ = [
    "Judge",
    "Vote",
    "VoteAggregator",
    "VoteConfig",
    "VoteOutcome",
    "llm_judge",
    "vote_all",
    "vote_lazily",
]

Strategy = Literal["majority", "unanimity", "weighted", "quorum"]


class Vote(BaseModel):
    """One judge's answer."""

    label: str = Field(description="The judge's verdict; must be in the risk order.")
    confidence: float = Field(1.0, ge=0, le=1, description="Judge's confidence in [0, 1].")
    reason: str = Field("", description="Why, in the judge's words.")
    judge: str = Field("", description="Judge name.")
    weight: float = Field(1.0, ge=0, description="Judge weight (used by `weighted`).")


class VoteConfig(BaseModel):
    """How votes become a decision. Example: ``VoteConfig(strategy="unanimity",
    risk_order=["high", "medium", "low"])``."""

    model_config = ConfigDict(frozen=True)

    strategy: Strategy = Field("majority", description="majority | unanimity | weighted | quorum")
    risk_order: list[str] = Field(
        description="Labels from MOST cautious to least; ties resolve toward the front.",
        min_length=1,
    )
    quorum: float | None = Field(
        None, gt=0, description="quorum strategy: votes needed (int >= 1, or fraction < 1)."
    )
    use_confidence: bool = Field(False, description="weighted: multiply weight by confidence.")

    @model_validator(mode="after")
    def _check(self) -> VoteConfig:
        if len(set(self.risk_order)) != len(self.risk_order):
            raise ValueError("risk_order has duplicate labels")
        if self.strategy == "quorum" and self.quorum is None:
            raise ValueError("strategy 'quorum' needs a quorum")
        return self

    def quorum_votes(self, n_judges: int) -> int:
        q = self.quorum or 0
        return max(1, math.ceil(q * n_judges)) if q < 1 else int(q)


class VoteOutcome(BaseModel):
    """The decision and how it was reached."""

    label: str = Field(description="The decided label.")
    strategy: Strategy
    decided_by: str = Field(
        description="winner | tie->safer | no-unanimity->safer | no-quorum->safer | no-votes->safer"
    )
    tally: dict[str, float] = Field(description="Score per label under the strategy.")
    votes: list[Vote] = Field(default_factory=list)
    abstained: list[str] = Field(default_factory=list, description="Judges that failed.")
    calls_made: int = Field(0, description="Judge calls made.")
    calls_saved: int = Field(0, description="Judge calls lazy voting did not need.")

    @property
    def unanimous(self) -> bool:
        return bool(self.votes) and len({v.label for v in self.votes}) == 1 and not self.abstained


class VoteAggregator:
    """Applies a `VoteConfig` to votes. Pure and deterministic."""

    def __init__(self, config: VoteConfig):
        self.config = config
        self._rank = {label: i for i, label in enumerate(config.risk_order)}

    def safest(self, labels: Sequence[str]) -> str:
        """The most cautious of `labels` (the first in risk order)."""
        return min(labels, key=self._rank.__getitem__) if labels else self.config.risk_order[0]

    def _score(self, vote: Vote) -> float:
        if self.config.strategy == "weighted":
            return vote.weight * (vote.confidence if self.config.use_confidence else 1.0)
        return 1.0

    def _check_labels(self, votes: Sequence[Vote]) -> None:
        unknown = sorted({v.label for v in votes} - set(self._rank))
        if unknown:
            raise UsageError(
                f"vote labels {unknown} are not in risk_order {self.config.risk_order}"
            )

    def decide(self, votes: Sequence[Vote], n_judges: int | None = None) -> VoteOutcome:
        """The outcome for `votes`; `n_judges` counts abstentions (default: len(votes))."""
        self._check_labels(votes)
        n = len(votes) if n_judges is None else n_judges
        label, how, tally = self._decide([(v.label, self._score(v)) for v in votes], n_judges=n)
        return VoteOutcome(
            label=label,
            strategy=self.config.strategy,
            decided_by=how,
            tally=tally,
            votes=list(votes),
        )

    def _decide(
        self, scored: Sequence[tuple[str, float]], *, n_judges: int
    ) -> tuple[str, str, dict[str, float]]:
        tally: dict[str, float] = {}
        for label, score in scored:
            tally[label] = tally.get(label, 0.0) + score
        cast = list(tally)
        if not cast:
            return self.config.risk_order[0], "no-votes->safer", tally
        strategy = self.config.strategy
        if strategy == "unanimity":
            if len(cast) == 1 and len(scored) == n_judges:
                return cast[0], "winner", tally
            return self.safest(cast), "no-unanimity->safer", tally
        if strategy == "quorum":
            need = self.config.quorum_votes(n_judges)
            reached = [label for label, count in tally.items() if count >= need]
            if not reached:
                return self.safest(cast), "no-quorum->safer", tally
            if len(reached) > 1:
                return self.safest(reached), "tie->safer", tally
            return reached[0], "winner", tally
        best = max(tally.values())
        top = [label for label, score in tally.items() if math.isclose(score, best)]
        if len(top) > 1:
            return self.safest(top), "tie->safer", tally
        return top[0], "winner", tally

    def settled(self, votes: Sequence[Vote], remaining: Sequence[float], n_judges: int) -> bool:
        """True when no answers from the remaining judges (weights given) change the outcome.

        Each remaining judge may vote any label or abstain. Majority/weighted: a challenger
        does best when every remaining judge backs it, so checking those scenarios (plus
        all abstaining) is exact. Unanimity/quorum: judges are interchangeable, so every
        distribution of the remaining judges over labels+abstain is checked.
        """
        if not remaining:
            return True
        scored = [(v.label, self._score(v)) for v in votes]
        current = self._decide(scored, n_judges=n_judges)[0]
        labels = self.config.risk_order
        if self.config.strategy in ("majority", "weighted"):
            # Max possible score of a remaining judge: weight x 1 (confidence <= 1).
            extra_weight = [w if self.config.strategy == "weighted" else 1.0 for w in remaining]
            for label in labels:
                trial = scored + [(label, w) for w in extra_weight]
                if self._decide(trial, n_judges=n_judges)[0] != current:
                    return False
            return self._decide(scored, n_judges=n_judges)[0] == current
        options = [*labels, None]
        for combo in itertools.combinations_with_replacement(options, len(remaining)):
            trial = scored + [(label, 1.0) for label in combo if label is not None]
            if self._decide(trial, n_judges=n_judges)[0] != current:
                return False
        return True


# --- judges ----------------------------------------------------------------------------------


class Judge(BaseModel):
    """A named, weighted voter: `ask(question) -> Vote` (sync or async)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    weight: float = Field(1.0, ge=0)
    ask: Callable[[Any], Vote | Awaitable[Vote]] = Field(description="question -> Vote")

    async def vote(self, question: Any) -> Vote:
        result = self.ask(question)
        if inspect.isawaitable(result):
            result = await result
        vote: Vote = result
        return vote.model_copy(update={"judge": vote.judge or self.name, "weight": self.weight})


def llm_judge(
    name: str,
    model: Any,
    build_request: Callable[[Any], Any],
    parse: Callable[[Any], Vote],
    *,
    weight: float = 1.0,
    deny_tools: Sequence[str] = (),
) -> Judge:
    """A judge that calls `model` (BaseLlm) with `build_request(question)` and parses the reply.

    Refuses (UsageError) requests carrying side-effecting tools: judges only judge.
    """

    async def ask(question: Any) -> Vote:
        request = build_request(question)
        assert_no_side_effects(request.tools_dict.values(), deny=deny_tools, where=f" ({name})")
        return parse(await call_model(model, request))

    return Judge(name=name, weight=weight, ask=ask)


async def _collect(judges: Sequence[Judge], question: Any) -> list[Vote | None]:
    out: list[Vote | None] = [None] * len(judges)

    async def one(i: int, judge: Judge) -> None:
        try:
            with parallel_branch():  # a voting branch: side-effecting tools refuse here
                out[i] = await judge.vote(question)
        except Exception:  # a failed judge abstains; the outcome lists it
            out[i] = None

    async with anyio.create_task_group() as tg:
        for i, judge in enumerate(judges):
            tg.start_soon(one, i, judge)
    return out


async def vote_all(
    judges: Sequence[Judge], question: Any, aggregator: VoteAggregator
) -> VoteOutcome:
    """Ask every judge at once and decide (the baseline lazy voting must match)."""
    answers = await _collect(judges, question)
    return _outcome(judges, answers, aggregator, calls_made=len(judges))


async def vote_lazily(
    judges: Sequence[Judge], question: Any, aggregator: VoteAggregator, *, wave: int = 1
) -> VoteOutcome:
    """Ask judges in waves of `wave`, stopping once the rest cannot change the outcome."""
    if not judges:
        raise UsageError("vote_lazily needs at least one judge")
    if wave < 1:
        raise UsageError("wave must be >= 1")
    answers: list[Vote | None] = []
    asked = 0
    while asked < len(judges):
        batch = judges[asked : asked + wave]
        answers.extend(await _collect(batch, question))
        asked += len(batch)
        votes = [a for a in answers if a is not None]
        aggregator._check_labels(votes)
        remaining = [j.weight for j in judges[asked:]]
        if aggregator.settled(votes, remaining, n_judges=len(judges)):
            break
    return _outcome(judges, answers, aggregator, calls_made=asked)


def _outcome(
    judges: Sequence[Judge],
    answers: Sequence[Vote | None],
    aggregator: VoteAggregator,
    *,
    calls_made: int,
) -> VoteOutcome:
    votes = [a for a in answers if a is not None]
    outcome = aggregator.decide(votes, n_judges=len(judges))
    abstained = [j.name for j, a in zip(judges, answers, strict=False) if a is None]
    return outcome.model_copy(
        update={
            "abstained": abstained,
            "calls_made": calls_made,
            "calls_saved": len(judges) - calls_made,
        }
    )
