"""Voting strategies, the safer-label tie rule, and lazy voting's saved calls."""

from __future__ import annotations

import random

import pytest

from coordinator.errors import UsageError
from coordinator.parallel.vote import Judge, Vote, VoteAggregator, VoteConfig, vote_all, vote_lazily

RISK = ["high", "medium", "low"]


def votes(*labels: str, weights: list[float] | None = None) -> list[Vote]:
    weights = weights or [1.0] * len(labels)
    return [
        Vote(label=label, judge=f"j{i}", weight=w)
        for i, (label, w) in enumerate(zip(labels, weights, strict=True))
    ]


def agg(strategy: str = "majority", **kw) -> VoteAggregator:
    return VoteAggregator(VoteConfig(strategy=strategy, risk_order=RISK, **kw))


def test_majority_and_tie_goes_to_safer_label():
    assert agg().decide(votes("low", "low", "high")).label == "low"
    tie = agg().decide(votes("low", "medium"))
    assert (tie.label, tie.decided_by) == ("medium", "tie->safer")
    three_way = agg().decide(votes("low", "high", "medium"))
    assert three_way.label == "high"


def test_unanimity_requires_all_judges_and_fails_safe():
    assert agg("unanimity").decide(votes("low", "low", "low")).label == "low"
    failed = agg("unanimity").decide(votes("low", "low", "medium"))
    assert (failed.label, failed.decided_by) == ("medium", "no-unanimity->safer")
    # A judge that abstained breaks unanimity too.
    assert agg("unanimity").decide(votes("low", "low"), n_judges=3).decided_by.startswith("no-")


def test_weighted_uses_judge_weight():
    ballot = votes("low", "low", "high", weights=[1.0, 1.0, 3.0])
    assert agg("weighted").decide(ballot).label == "high"
    assert agg("majority").decide(ballot).label == "low"
    tie = agg("weighted").decide(votes("low", "high", weights=[2.0, 2.0]))
    assert tie.label == "high" and tie.decided_by == "tie->safer"


def test_quorum_counts_votes_and_falls_back_to_safer():
    q = agg("quorum", quorum=2)
    assert q.decide(votes("low", "low", "medium")).label == "low"
    none = q.decide(votes("low", "medium", "high"))
    assert (none.label, none.decided_by) == ("high", "no-quorum->safer")
    frac = agg("quorum", quorum=0.75)  # 3 of 4
    assert frac.decide(votes("low", "low", "low", "medium")).label == "low"
    assert frac.decide(votes("low", "low", "medium", "medium")).label == "medium"


def test_unknown_labels_and_bad_config_refused():
    with pytest.raises(UsageError, match="not in risk_order"):
        agg().decide(votes("catastrophic"))
    with pytest.raises(ValueError):
        VoteConfig(strategy="quorum", risk_order=RISK)


def _judge(name: str, answers: dict[str, str], log: list[str], weight: float = 1.0) -> Judge:
    def ask(question: str) -> Vote:
        log.append(name)
        return Vote(label=answers[question], reason=f"{name} on {question}")

    return Judge(name=name, ask=ask, weight=weight)


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["majority", "unanimity", "weighted", "quorum"])
async def test_lazy_voting_matches_always_n_and_saves_calls(strategy):
    rng = random.Random(7)
    labels = ["vulnerable", "safe"]
    truth = {f"q{i}": rng.choice(labels) for i in range(60)}
    accuracies = [0.9, 0.8, 0.75, 0.7, 0.65]
    answers = [
        {q: t if rng.random() < acc else labels[1 - labels.index(t)] for q, t in truth.items()}
        for acc in accuracies
    ]
    config = VoteConfig(
        strategy=strategy,
        risk_order=labels,
        quorum=3 if strategy == "quorum" else None,
    )
    aggregator = VoteAggregator(config)
    weights = [2.0, 1.5, 1.0, 1.0, 0.5]
    lazy_log: list[str] = []
    all_log: list[str] = []
    lazy_judges = [
        _judge(f"j{i}", a, lazy_log, w)
        for i, (a, w) in enumerate(zip(answers, weights, strict=True))
    ]
    all_judges = [
        _judge(f"j{i}", a, all_log, w)
        for i, (a, w) in enumerate(zip(answers, weights, strict=True))
    ]
    saved = 0
    for question in truth:
        lazy = await vote_lazily(lazy_judges, question, aggregator)
        full = await vote_all(all_judges, question, aggregator)
        assert lazy.label == full.label, question
        assert lazy.calls_made + lazy.calls_saved == len(accuracies)
        saved += lazy.calls_saved
    assert len(lazy_log) < len(all_log) == 60 * 5
    assert saved == len(all_log) - len(lazy_log) > 0


@pytest.mark.anyio
async def test_failed_judge_abstains_and_is_listed():
    def broken(question: str) -> Vote:
        raise RuntimeError("judge crashed")

    judges = [
        Judge(name="ok1", ask=lambda q: Vote(label="safe")),
        Judge(name="dead", ask=broken),
        Judge(name="ok2", ask=lambda q: Vote(label="safe")),
    ]
    aggregator = VoteAggregator(VoteConfig(strategy="unanimity", risk_order=["vulnerable", "safe"]))
    outcome = await vote_all(judges, "q", aggregator)
    assert outcome.abstained == ["dead"]
    assert outcome.label == "safe" and outcome.decided_by == "no-unanimity->safer"


@pytest.mark.anyio
async def test_every_judge_runs_marked_as_a_voting_branch_so_side_effects_refuse():
    """A judge that reaches a side-effecting tool (however it got there) is refused by the
    engine's mark; the caller around the vote is not marked, and the tool acts there."""
    from coordinator.parallel.fanout import PARALLEL_REFUSAL, in_parallel_branch, side_effecting

    acted: list[str] = []

    @side_effecting
    def close_account(user: str) -> dict:
        acted.append(user)
        return {"status": "closed"}

    seen: list[tuple[bool, str]] = []

    def judge(q: str) -> Vote:
        seen.append((in_parallel_branch(), close_account("bob")["message"]))
        return Vote(label="low")

    judges = [Judge(name=f"j{i}", ask=judge) for i in range(3)]
    for run in (vote_all, vote_lazily):
        outcome = await run(judges, "q", agg())
        assert outcome.label == "low"
    assert seen and all(marked and PARALLEL_REFUSAL in said for marked, said in seen)
    assert acted == []
    assert not in_parallel_branch() and close_account("bob")["status"] == "closed"
    assert acted == ["bob"]
