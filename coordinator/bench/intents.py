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

Second, the PRODUCT cascade (agents/routes.yaml, its classifier, the margin chosen by
k-fold on those utterances) on the same held-out test rows whose Bitext intent is one of
our routes (invoice/payment/fee -> billing, refunds -> refund, password/sign-up ->
technical_support, contact_human_agent -> escalation; texts copied into routes.yaml are
excluded), and on the user turns of adk_web/support/support.evalset.json.

Third, the product cascade on messy support traffic (tests/data/messy: the dev table the
rules were tuned on and the four held-out tables, each written before the rule changes it
scores, scored separately):
single-ask accuracy, the false-split rate of single asks with a second clause ("it broke,
I want my money back"), and two-ask messages split into both right routes.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from coordinator.bench.datasets import BITEXT, FALLBACK, few_shot, load_dataset, validation
from coordinator.bench.routing import _routeset
from coordinator.cli._args import non_negative_int, positive_int, unit_float
from coordinator.errors import UsageError

__all__ = ["choose_margin", "register", "run"]

MULTI = "multi_intent"
# Bitext intents that our product routes serve.
PRODUCT_INTENTS = {
    "check_invoice": "billing",
    "get_invoice": "billing",
    "check_payment_methods": "billing",
    "payment_issue": "billing",
    "check_cancellation_fee": "billing",
    "get_refund": "refund",
    "track_refund": "refund",
    "check_refund_policy": "refund",
    "recover_password": "technical_support",
    "registration_problems": "technical_support",
    "contact_human_agent": "escalation",
}
EVALSET = Path(__file__).resolve().parents[2] / "adk_web" / "support" / "support.evalset.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "intents",
        help="clarify rate and false multi-intent splits on held-out Bitext rows",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--rate", type=unit_float, default=0.01, help="clarify budget on validation rows"
    )
    p.add_argument(
        "--oos", type=non_negative_int, default=3, help="categories held out as out of scope"
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--pairs", type=positive_int, default=500, help="two-ask messages to build")
    p.add_argument("--data", type=Path, default=BITEXT, help="CSV with text,intent,category")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--table",
        type=Path,
        action="append",
        metavar="CSV",
        help="messy-traffic table to score (repeatable; default: dev and every held-out table)",
    )
    p.add_argument(
        "--messy-only",
        action="store_true",
        help="score only the messy-traffic tables (skip the Bitext runs)",
    )
    p.add_argument("--errors", action="store_true", help="print every messy row routed wrong")
    p.add_argument(
        "--write-margin",
        action="store_true",
        help="recompute the product's clarify margin and ship it (agents/clarify_margin.json)",
    )
    p.set_defaults(func=_main)


def choose_margin(router, rows: list[tuple[str, str]], rate: float) -> float:
    """The margin below which only `rate` of correctly routed held-out rows fall."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.intents import margin

    margins = []
    for text, label in rows:
        d = router.route(text)
        if d.confident and d.route == label:
            margins.append(margin(d))
    if not margins:
        return 0.0
    return float(np.quantile(np.asarray(margins), rate))


def run(args: argparse.Namespace) -> dict:
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.cascade import RoutingCascade
    from coordinator.routing.classifier import ClassifierRouter

    # The same seeded Bitext split as `coordinator bench routing --dataset bitext`.
    data = load_dataset("bitext", data_dir=args.data, oos=args.oos, seed=args.seed)
    fit, val = validation(data["train"], args.seed)
    few, _ = few_shot(data["train"], 20, args.seed)
    data = {**data, "train": fit, "val": val}
    routes = _routeset(few)
    router = ClassifierRouter(routes, examples=fit, seed=args.seed)
    chosen = choose_margin(router, val, args.rate)
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
    product = _product(args, {t for t, _ in data["test"]})
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
        "product": product,
    }


def _evalset_turns() -> list[tuple[str, str]]:
    import json

    if not EVALSET.is_file():
        return []
    data = json.loads(EVALSET.read_text(encoding="utf-8"))
    out = []
    for case in data.get("eval_cases", []):
        for turn in case.get("conversation", []):
            text = turn["user_content"]["parts"][0].get("text", "")
            uses = (turn.get("intermediate_data") or {}).get("tool_uses") or []
            routes = [u["args"]["agent_name"] for u in uses if u.get("name") == "transfer_to_agent"]
            if text and routes:
                out.append((text, routes[0]))
    return out


def _product_cascade(write: bool = False):
    """(routes, cascade, margin): the shipped routes, classifier and clarify margin."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.cascade import RoutingCascade
    from coordinator.routing.classifier import read_manifest
    from coordinator.routing.intents import calibrated_margin, write_margin
    from coordinator.routing.router import build_router
    from coordinator.routing.routes import DEFAULT_ROUTES_FILE, load_routes

    routes = load_routes()
    shipped = DEFAULT_ROUTES_FILE.with_name("clarify_margin.json")  # what the agent reads
    if write:
        write_margin(routes, shipped)
    # The router the support app routes with: the shipped model (outlier exposure) when it
    # was trained on these routes, as agents/coordinator/agent.py loads it.
    model = DEFAULT_ROUTES_FILE.with_name("router_model")
    extra = {}
    if (model / "manifest.json").is_file() and (
        read_manifest(model).routes_fingerprint == routes.fingerprint()
    ):
        extra["model_dir"] = model
    router = build_router(routes, method="classifier", **extra)
    chosen = calibrated_margin(routes, shipped=shipped)
    cascade = RoutingCascade(
        router,
        routes,
        agent_names=[*routes.names, MULTI],
        llm_available=False,
        escalation_route="escalation",
        multi_intent_agent=MULTI,
        clarify=True,
        clarify_margin=chosen,
    )
    return routes, cascade, chosen


def _shown(path: Path) -> str:
    """The table's path as typed, or relative to the checkout for the default tables."""
    try:
        return str(path.resolve().relative_to(EVALSET.parents[2]))
    except ValueError:
        return str(path)


def messy(args: argparse.Namespace) -> dict:
    """The shipped cascade on each messy-traffic table (see module doc)."""
    from coordinator.bench import messy as tables  # deferred: as above

    paths = args.table or list(tables.TABLES.values())
    routes, cascade, chosen = _product_cascade(args.write_margin and args.messy_only)
    loaded = {_shown(p): tables.load_table(p, set(routes.names)) for p in paths}
    return {
        "clarify_margin": round(chosen, 4),
        "tables": {p: tables.score(cascade, rows) for p, rows in loaded.items()},
    }


def _product(args: argparse.Namespace, test_texts: set[str]) -> dict:
    """The shipped cascade on held-out rows our routes serve (see module doc)."""
    import csv

    routes, cascade, chosen = _product_cascade(args.write_margin)
    trained = {u for r in routes.routes for u in r.utterances}
    rows: list[tuple[str, str]] = []
    with args.data.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = row["text"].strip()
            route = PRODUCT_INTENTS.get(row["intent"])
            if route and text in test_texts and text not in trained:
                rows.append((text, route))
    rows = list(dict.fromkeys(rows))
    out: dict = {"clarify_margin": round(chosen, 4), "margin_rule": "1% quantile, 5-fold CV"}
    for name, labelled in (("bitext_test", rows), ("support_evalset", _evalset_turns())):
        counts = {"n": len(labelled), "clarify": 0, "split": 0, "correct": 0, "multi": 0}
        esc_total = esc_hit = other_total = other_esc = 0
        for text, label in labelled:
            plan = cascade.plan(text)
            method, route = plan.decision.method, plan.decision.route
            counts["clarify"] += method == "clarify"
            if label == MULTI:  # a turn recorded as several asks: splitting it is right
                counts["multi"] += 1
                counts["correct"] += bool(plan.parts)
                continue
            counts["split"] += bool(plan.parts)
            counts["correct"] += route == label
            if label == "escalation":
                esc_total += 1
                esc_hit += route == "escalation"
            else:
                other_total += 1
                other_esc += route == "escalation"
        n = max(1, counts["n"])
        out[name] = {
            "n": counts["n"],
            "clarify_rate": round(counts["clarify"] / n, 4),
            "false_split_rate": round(counts["split"] / max(1, n - counts["multi"]), 4),
            "routed_right": round(counts["correct"] / n, 4),
            "escalation_recall": round(esc_hit / esc_total, 4) if esc_total else None,
            "escalation_false_positive_rate": (
                round(other_esc / other_total, 4) if other_total else None
            ),
        }
    return out


def _main(args: argparse.Namespace) -> int:
    import json

    if not args.messy_only and not args.data.is_file():
        raise UsageError(f"{args.data}: bench data not found")
    if not 0.0 <= args.rate < 0.5:
        raise UsageError("--rate must be in [0, 0.5)")
    if args.pairs < 1:
        raise UsageError("--pairs must be at least 1")
    result = {} if args.messy_only else run(args)
    result["messy"] = messy(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if not args.messy_only:
        _print_bitext(result)
    _print_messy(result["messy"], args.errors)
    return 0


def _print_messy(result: dict, errors: bool) -> None:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.1%}"

    print(f"messy support traffic, product cascade (margin {result['clarify_margin']:.4f}):")
    for path, r in result["tables"].items():
        print(f"  {path} ({r['n']} rows)")
        print(
            f"    single asks right:      {pct(r['single_accuracy'])} of {r['single_n']} "
            f"(clarifying question {pct(r['single_clarify_rate'])})"
        )
        print(
            f"    false splits:           {pct(r['false_split_rate'])} of "
            f"{r['second_clause_n']} single asks with a second clause"
        )
        print(
            f"    two asks, both right:   {pct(r['two_ask_right_rate'])} of {r['two_ask_n']} "
            f"(split at all {pct(r['two_ask_split_rate'])})"
        )
        print("    by kind:     " + ", ".join(f"{k} {pct(v)}" for k, v in r["by_kind"].items()))
        print("    by language: " + ", ".join(f"{k} {pct(v)}" for k, v in r["by_language"].items()))
        if errors:
            for e in r["errors"]:
                print(
                    f"    x {e['kind']}: expected {e['expected']}, got {e['got']} "
                    f"({e['method']}): {e['text']}"
                )


def _print_bitext(result: dict) -> None:
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
    p = result["product"]
    print(
        f"product cascade (agents/routes.yaml, margin {p['clarify_margin']:.4f}, "
        f"{p['margin_rule']} on its utterances):"
    )
    for name in ("bitext_test", "support_evalset"):
        r = p[name]
        line = (
            f"  {name}: n={r['n']}  clarify {r['clarify_rate']:.2%}  "
            f"false split {r['false_split_rate']:.2%}  routed right {r['routed_right']:.2%}"
        )
        if r["escalation_recall"] is not None:
            line += (
                f"  escalation recall {r['escalation_recall']:.2%}, false positives "
                f"{r['escalation_false_positive_rate']:.2%}"
            )
        print(line)
