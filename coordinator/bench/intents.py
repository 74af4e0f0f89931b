"""`coordinator bench intents`: how often clarify and multi-intent splitting fire wrongly.

Same Bitext data and seeded split as `coordinator bench routing`. A classifier router is
trained on the TRAINING rows only; the clarify margin is chosen on the validation slice of
the training split (the `--rate` quantile of the top-1 minus top-2 probability margins of
validation rows the router gets right), never on the test rows. Then, on the held-out
TEST split, every in-scope row (one clear request each) goes through the routing
cascade's turn planner (`RoutingCascade.plan`) and we count:

* clarify rate: rows answered with a clarifying question instead of a route (aim < 2%);
* false-split rate: rows split into several asks although they hold one (aim < 1%);
* and, as the positive check, pairs of test rows from different categories joined with
  "and also" / ". ": the share that IS split, into the right two routes.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from coordinator.bench.routing import DATA, FALLBACK, _load, _routeset, split

__all__ = ["choose_margin", "register", "run"]

MULTI = "multi_intent"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "intents",
        help="clarify rate and false multi-intent splits on held-out Bitext rows",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--rate", type=float, default=0.01, help="clarify budget on validation rows")
    p.add_argument("--oos", type=int, default=3, help="categories held out as out of scope")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pairs", type=int, default=500, help="two-ask messages to build")
    p.add_argument("--data", type=Path, default=DATA, help="CSV with text,intent,category")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def choose_margin(router, rows: list[tuple[str, str]], rate: float) -> float:
    """The margin below which only `rate` of correctly routed held-out rows fall."""
    from coordinator.intents import margin

    margins = []
    for text, label in rows:
        d = router.route(text)
        if d.confident and d.route == label:
            margins.append(margin(d))
    if not margins:
        return 0.0
    return float(np.quantile(np.asarray(margins), rate))


def run(args: argparse.Namespace) -> dict:
    from coordinator.cascade import RoutingCascade
    from coordinator.classifier import ClassifierRouter

    data = split(_load(args.data), oos=args.oos, per_route=20, seed=args.seed)
    routes = _routeset(data["few"])
    router = ClassifierRouter(routes, examples=data["train"], seed=args.seed)
    chosen = choose_margin(router, data["val"], args.rate)
    cascade = RoutingCascade(
        router,
        routes,
        agent_names=[*routes.names, MULTI],
        llm_available=False,
        multi_intent_agent=MULTI,
        clarify=True,
        clarify_margin=chosen,
    )
    in_scope = [(t, r) for t, r in data["test"] if r != FALLBACK]
    oos = [t for t, r in data["test"] if r == FALLBACK]
    clarified, split_wrongly, examples = 0, 0, {"clarify": [], "split": []}
    for text, _ in in_scope:
        plan = cascade.plan(text)
        if plan.decision.method == "clarify":
            clarified += 1
            examples["clarify"].append(text)
        elif plan.parts:
            split_wrongly += 1
            examples["split"].append(text)
    oos_methods: dict[str, int] = {}
    for text in oos:
        m = cascade.plan(text).decision.method
        oos_methods[m] = oos_methods.get(m, 0) + 1
    # Positive check: two held-out asks from different categories in one message.
    rng = random.Random(args.seed)
    joins = [" and also ", ". Also, ", ". "]
    pairs_split = pairs_right = 0
    for i in range(args.pairs):
        (a, ra), (b, rb) = rng.sample(in_scope, 2)
        while rb == ra:
            b, rb = rng.choice(in_scope)
        text = a.rstrip(" ?.!") + joins[i % len(joins)] + b
        plan = cascade.plan(text)
        if plan.parts:
            pairs_split += 1
            pairs_right += [d.route for _, d in plan.parts] == [ra, rb]
    n = len(in_scope)
    return {
        "data": str(args.data),
        "seed": args.seed,
        "held_out_as_oos": data["held_out"],
        "n_train": len(data["train"]),
        "n_val": len(data["val"]),
        "n_test_in_scope": n,
        "n_test_oos": len(oos),
        "clarify_margin": round(chosen, 4),
        "margin_rule": f"{args.rate:.0%} quantile of correct validation margins",
        "clarify_rate": round(clarified / n, 4),
        "false_split_rate": round(split_wrongly / n, 4),
        "oos_methods": oos_methods,
        "pairs": args.pairs,
        "pairs_split_rate": round(pairs_split / args.pairs, 4),
        "pairs_split_right_rate": round(pairs_right / args.pairs, 4),
        "examples": {k: v[:5] for k, v in examples.items()},
    }


def _main(args: argparse.Namespace) -> int:
    import json

    from coordinator.errors import UsageError

    if not args.data.is_file():
        raise UsageError(f"{args.data}: bench data not found")
    if not 0.0 <= args.rate < 0.5:
        raise UsageError("--rate must be in [0, 0.5)")
    if args.pairs < 1:
        raise UsageError("--pairs must be at least 1")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"Bitext, seed {result['seed']}: trained on {result['n_train']} rows; margin chosen on "
        f"{result['n_val']} validation rows ({result['margin_rule']}) = "
        f"{result['clarify_margin']:.4f}"
    )
    print(f"held-out test: {result['n_test_in_scope']} in-scope rows, {result['n_test_oos']} OOS")
    print(f"  clarify rate on clear requests:  {result['clarify_rate']:.2%}")
    print(f"  false multi-intent split rate:   {result['false_split_rate']:.2%}")
    print(f"  OOS rows by method:              {result['oos_methods']}")
    print(
        f"  two-ask messages split:          {result['pairs_split_rate']:.2%} "
        f"(into the right two routes: {result['pairs_split_right_rate']:.2%}, "
        f"n={result['pairs']})"
    )
    return 0
