"""`coordinator bench voting`: lazy vs always-N voting, and measured vs predicted accuracy.

Simulated judges with known, different accuracies answer seeded binary questions
("vulnerable" vs "safe"); each judge errs independently. We measure, side by side:

1. judge calls used by `vote_lazily` vs asking all N (`vote_all`), and that every decision
   is identical;
2. the ensemble's majority accuracy vs the exact prediction for independent voters with
   those accuracies (Poisson-binomial: P(more than half are right)).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from typing import Any

from coordinator.cli._args import non_negative_int, positive_int
from coordinator.errors import UsageError

__all__ = ["majority_accuracy", "measure", "register", "run"]

LABELS = ["vulnerable", "safe"]  # most cautious first
DEFAULT_ACCURACIES = (0.9, 0.85, 0.8, 0.75, 0.7)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "voting",
        help="lazy voting calls saved, and ensemble accuracy vs the binomial prediction",
        description="Seeded simulated judges with different accuracies vote on binary "
        "questions; compares lazy voting with asking every judge, and the measured majority "
        "accuracy with the prediction for independent voters.",
    )
    p.add_argument(
        "--questions", type=positive_int, default=2000, help="questions (default: %(default)s)"
    )
    p.add_argument(
        "--accuracies",
        default=",".join(str(a) for a in DEFAULT_ACCURACIES),
        help="comma-separated judge accuracies (default: %(default)s)",
    )
    p.add_argument("--seed", type=non_negative_int, default=13)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also sweep 3..9 judges and plot judge calls, always-N vs lazy",
    )
    p.set_defaults(func=run)


def majority_accuracy(accuracies: list[float]) -> float:
    """P(strict majority of independent judges is right); a tie counts as half right
    (binary labels: the tie rule picks the cautious label, right half the time)."""
    dist = [1.0]  # dist[k] = P(k judges right)
    for p in accuracies:
        nxt = [0.0] * (len(dist) + 1)
        for k, prob in enumerate(dist):
            nxt[k] += prob * (1 - p)
            nxt[k + 1] += prob * p
        dist = nxt
    n = len(accuracies)
    right = sum(prob for k, prob in enumerate(dist) if 2 * k > n)
    tie = sum(prob for k, prob in enumerate(dist) if 2 * k == n)
    return right + tie / 2


async def measure(questions: int, accuracies: list[float], seed: int) -> dict[str, Any]:
    # deferred: the CLI imports this module to register `bench`; pydantic loads on run
    from coordinator.parallel.vote import (
        Judge,
        Vote,
        VoteAggregator,
        VoteConfig,
        vote_all,
        vote_lazily,
    )

    if questions < 1 or not accuracies or not all(0 <= a <= 1 for a in accuracies):
        raise UsageError("need --questions >= 1 and accuracies in [0, 1]")
    rng = random.Random(seed)
    truth = [rng.choice(LABELS) for _ in range(questions)]
    # Each judge's answer to each question, drawn once so both runs see the same votes.
    answers = [
        [t if rng.random() < acc else LABELS[1 - LABELS.index(t)] for t in truth]
        for acc in accuracies
    ]
    calls = {"lazy": 0, "all": 0}

    def make(i: int, mode: str) -> Judge:
        def ask(q: int) -> Vote:
            calls[mode] += 1
            return Vote(label=answers[i][q], confidence=accuracies[i])

        return Judge(name=f"judge_{i}", ask=ask)

    # Most accurate first: the outcome tends to settle sooner.
    order = sorted(range(len(accuracies)), key=lambda i: -accuracies[i])
    lazy_judges = [make(i, "lazy") for i in order]
    all_judges = [make(i, "all") for i in order]
    aggregator = VoteAggregator(VoteConfig(strategy="majority", risk_order=LABELS))
    identical = correct = 0
    for q in range(questions):
        lazy = await vote_lazily(lazy_judges, q, aggregator)
        full = await vote_all(all_judges, q, aggregator)
        identical += lazy.label == full.label
        correct += full.label == truth[q]
    predicted = majority_accuracy(accuracies)
    return {
        "questions": questions,
        "judges": len(accuracies),
        "accuracies": accuracies,
        "lazy_calls": calls["lazy"],
        "all_calls": calls["all"],
        "calls_saved_fraction": round(1 - calls["lazy"] / calls["all"], 4),
        "identical_decisions": identical,
        "identical_fraction": identical / questions,
        "ensemble_accuracy": round(correct / questions, 4),
        "predicted_accuracy": round(predicted, 4),
        "best_single_accuracy": max(accuracies),
        "seed": seed,
    }


def run(args: argparse.Namespace) -> int:

    try:
        accuracies = [float(a) for a in args.accuracies.split(",") if a.strip()]
    except ValueError:
        raise UsageError(f"--accuracies must be numbers, got {args.accuracies!r}") from None
    record = asyncio.run(measure(args.questions, accuracies, args.seed))
    if args.plot:
        record["plot"] = {"file": args.plot, "sweep": _plot(args.plot, args.questions, args.seed)}
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    # deferred: rich and matplotlib load only when a report is drawn
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"voting: {record['judges']} judges, {record['questions']} questions")
    t.add_column("measure")
    t.add_column("value", justify="right")
    t.add_row("judge calls, always-N", str(record["all_calls"]))
    t.add_row("judge calls, lazy", str(record["lazy_calls"]))
    t.add_row("calls saved", f"{record['calls_saved_fraction']:.1%}")
    t.add_row("identical decisions", f"{record['identical_fraction']:.1%}")
    t.add_row("ensemble accuracy (measured)", f"{record['ensemble_accuracy']:.3f}")
    t.add_row("ensemble accuracy (binomial)", f"{record['predicted_accuracy']:.3f}")
    t.add_row("best single judge", f"{record['best_single_accuracy']:.3f}")
    Console().print(t)
    if args.plot:
        Console(stderr=True).print(f"plot written to {args.plot}")
    return 0


def _plot(path: str, questions: int, seed: int) -> list[dict[str, Any]]:
    """Calls per question, always-N vs lazy, for 3..9 judges (accuracies 0.9 down to 0.7)."""
    # deferred: rich and matplotlib load only when a report is drawn
    from coordinator.evaluation.plotting import pyplot

    plt = pyplot()
    sweep = []
    for n in (3, 5, 7, 9):
        accs = [round(0.9 - 0.2 * i / max(n - 1, 1), 3) for i in range(n)]
        r = asyncio.run(measure(questions, accs, seed))
        sweep.append(
            {
                "judges": n,
                "all": r["all_calls"],
                "lazy": r["lazy_calls"],
                "saved": r["calls_saved_fraction"],
                "identical": r["identical_fraction"],
            }
        )
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [s["judges"] for s in sweep]
    ax.bar(
        [x - 0.3 for x in xs],
        [s["all"] / questions for s in sweep],
        0.6,
        alpha=0.5,
        label="always ask N",
    )
    ax.bar(xs, [s["lazy"] / questions for s in sweep], 0.6, label="lazy voting")
    for s in sweep:
        ax.annotate(
            f"-{s['saved']:.0%}", (s["judges"], s["lazy"] / questions), ha="center", va="bottom"
        )
    ax.set_xticks(xs)
    ax.set_xlabel("judges")
    ax.set_ylabel("judge calls per question")
    ax.set_title("Lazy voting: calls saved, identical decisions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return sweep
