"""`coordinator bench routing`: our routers vs the `semantic-router` library, same data.

Datasets (`--dataset`, see coordinator.bench.datasets): `bitext` (default, shipped),
`banking77` and `hwu64` (public, read from `--data-dir`), or any `PATH.csv`. Labels held
out entirely are OUT OF SCOPE (never seen in training; the right answer is the fallback).
`--oos-from OTHER` keeps every label in scope and takes the out-of-scope test rows from
another dataset's test split instead: off-topic requests for the whole bot rather than
sibling intents of the same domain. Thresholds still come from in-scope training rows only.
Every system uses the same WordLlama embeddings (semantic-router gets them through its
`DenseEncoder` interface), so the comparison is about the routing.

Systems: `ours embedding` (nearest examples), `ours classifier` (logistic regression on the
embedding: the previous default), `ours hybrid` (char n-gram tf-idf + embedding: the
default), semantic-router's `IndexedRouter` without a threshold and with a bar set by our
retention rule on its own scores for a validation slice of the training data.

Setups: few-shot K per route (`--per-route 10,20`) and full training. Columns: accuracy,
in-scope accuracy, OOS recall, typo accuracy (the test set with seeded typos:
coordinator.bench.typos), p50 latency (one BLAS thread for every system).

semantic-router is an optional bench dependency: `pip install semantic-router` (or install
it with `--target DIR` and pass `--semantic-router-path DIR` to keep the main env intact).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coordinator.bench.datasets import FALLBACK, few_shot, load_dataset, validation
from coordinator.bench.typos import typo_copy
from coordinator.cli._args import add_outlier_args, non_negative_int, positive_int
from coordinator.errors import UsageError

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "routing",
        help="our routers vs semantic-router (accuracy, OOS recall, typos, latency)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--dataset",
        default="bitext",
        help="bitext | banking77 | hwu64 | PATH.csv (text + label column)",
    )
    p.add_argument("--data-dir", type=Path, help="folder of the banking77/hwu64 files")
    p.add_argument(
        "--per-route", default="10,20", help="comma-separated few-shot utterances per route"
    )
    p.add_argument(
        "--level",
        choices=["category", "intent"],
        default="category",
        help="bitext only: routes are categories (11) or intents (27)",
    )
    p.add_argument(
        "--oos",
        type=non_negative_int,
        help="labels held out as out of scope (HWU64: scenarios); default 3 bitext, "
        "19 banking77, 3 hwu64, 0 csv",
    )
    p.add_argument(
        "--oos-from",
        metavar="DATASET",
        help="out-of-scope test rows from ANOTHER dataset's test split (bitext | banking77 "
        "| hwu64 | PATH.csv); every label of --dataset stays in scope",
    )
    p.add_argument("--oos-from-dir", type=Path, help="folder of the --oos-from files")
    p.add_argument(
        "--oos-sample",
        type=positive_int,
        help="--oos-from rows to sample (seeded); default a third of the in-scope test "
        "rows (a quarter of the test set)",
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--target-retention",
        default="0.95",
        help="comma-separated in-scope retention targets for the thresholds",
    )
    p.add_argument("--no-full", action="store_true", help="skip full-training rows")
    add_outlier_args(p, "adds 'ours hybrid+OE' (outlier exposure) rows")
    p.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # old name of the bitext CSV
    p.add_argument(
        "--semantic-router-path",
        type=Path,
        help="extra site dir holding semantic_router (pip install --target)",
    )
    p.add_argument("--no-semantic-router", action="store_true", help="only run ours")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _measure(
    name: str, setup: str, predict: Callable[[str], str], test, typos: list[str], note: str = ""
) -> dict:
    predict(test[0][0])  # warm-up
    preds, lat = [], []
    for text, _ in test:
        t0 = time.perf_counter()
        preds.append(predict(text))
        lat.append((time.perf_counter() - t0) * 1000)
    truth = [r for _, r in test]
    typo_preds = [predict(t) for t in typos]
    ins = [(p, t) for p, t in zip(preds, truth, strict=True) if t != FALLBACK]
    oos = [(p, t) for p, t in zip(preds, truth, strict=True) if t == FALLBACK]

    def acc(ps) -> float:
        return round(float(np.mean([p == t for p, t in zip(ps, truth, strict=True)])), 4)

    return {
        "system": name,
        "setup": setup,
        "accuracy": acc(preds),
        "in_scope_accuracy": round(float(np.mean([p == t for p, t in ins])), 4),
        "oos_recall": round(float(np.mean([p == FALLBACK for p, _ in oos])), 4) if oos else None,
        "typo_accuracy": acc(typo_preds),
        "p50_ms": round(float(np.percentile(lat, 50)), 4),
        "p95_ms": round(float(np.percentile(lat, 95)), 4),
        "note": note,
    }


def _routeset(utterances: dict[str, list[str]]):
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.routes import RouteSet

    return RouteSet.model_validate(
        {
            "fallback": FALLBACK,
            "routes": [
                {"name": _safe(c), "description": f"{c} requests", "utterances": u}
                for c, u in utterances.items()
            ],
        }
    )


def _safe(label: str) -> str:
    """A route name (Python identifier) for a dataset label."""
    import re

    name = re.sub(r"\W", "_", label)
    return name if re.match(r"[A-Za-z_]", name) else f"r_{name}"


def _import_semantic_router(path: Path | None):
    """semantic_router, or an explanation of why not (str)."""
    if path is not None and str(path) not in sys.path:
        sys.path.append(str(path))  # appended: the main env's packages keep precedence
    try:
        import semantic_router
        from semantic_router import IndexedRouter, Route
        from semantic_router.encoders.base import DenseEncoder
    except Exception as exc:  # ImportError or a broken optional install
        return (
            f"semantic-router unavailable ({type(exc).__name__}: {exc}); pip install "
            "semantic-router, or --semantic-router-path DIR"
        )
    return semantic_router, IndexedRouter, Route, DenseEncoder


def _semantic_router_systems(
    sr, setups, retentions: list[float]
) -> list[tuple[str, str, Callable, str]]:
    module, indexed_router, route_cls, dense_encoder = sr
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.encoder import get_encoder

    class WordLlamaEncoder(dense_encoder):  # type: ignore[misc, valid-type]
        """Our WordLlama embeddings behind semantic-router's encoder interface."""

        name: str = "wordllama-l2_supercat-256"

        def __call__(self, docs):
            return get_encoder().embed([str(d) for d in docs]).tolist()

    encoder = WordLlamaEncoder()
    version = getattr(module, "__version__", "?")
    out = []
    for setup, utterances, val in setups:

        def build(bar=None, utterances=utterances):
            routes = [route_cls(name=_safe(c), utterances=u) for c, u in utterances.items()]
            if bar is None:
                return indexed_router(encoder=encoder, routes=routes)
            return indexed_router(encoder=encoder, routes=routes, confidence_threshold=bar)

        router = build()

        def raw(text: str, router=router) -> str:
            return getattr(router(text), "name", None) or FALLBACK

        out.append((f"semantic-router {version}", setup, raw, "no threshold"))
        # Its threshold, chosen by our rule (keep `retention` of held-out in-scope queries)
        # on its own top scores for the validation queries: same principle, same data size.
        tops = [router(t, limit=None)[0].confidence for t, _ in val]
        for retention in retentions:
            barred = build(float(np.quantile(tops, 1.0 - retention)))

            def with_bar(text: str, router=barred) -> str:
                return getattr(router(text), "name", None) or FALLBACK

            note = f"bar keeps {retention:.0%} of {len(val)} val. queries"
            out.append((f"semantic-router {version}", setup, with_bar, note))
    return out


def _ints(value: str, flag: str, low: int) -> list[int]:

    try:
        out = [int(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected integers like 10,20") from None
    if not out or min(out) < low:
        raise UsageError(f"{flag} values must be at least {low}")
    return out


def _retentions(value: str) -> list[float]:

    try:
        out = [float(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--target-retention {value!r}: expected numbers like 0.95,0.98") from None
    if not out or not all(0.5 <= v <= 1.0 for v in out):
        raise UsageError("--target-retention values must be between 0.5 and 1.0")
    return out


def run(args: argparse.Namespace) -> dict:
    """Run the bench; returns the JSON-able result."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.routing.classifier import ClassifierRouter
    from coordinator.routing.router import EmbeddingRouter

    retentions = _retentions(args.target_retention)
    ks = _ints(args.per_route, "--per-route", 2)
    data_dir = args.data_dir if args.data_dir is not None else args.data
    outliers: list[str] = []
    if args.outliers:
        # deferred: only a run with --outliers reads a corpus
        from coordinator.routing.outliers import balanced_outliers

        outliers = balanced_outliers(args.outliers, args.outlier_sample, seed=args.seed)
    data = load_dataset(
        args.dataset,
        data_dir=data_dir,
        oos=args.oos,
        seed=args.seed,
        level=args.level,
        oos_from=args.oos_from,
        oos_from_dir=args.oos_from_dir,
        oos_sample=args.oos_sample,
        not_oos=outliers,
    )
    test = [(t, _safe(lab) if lab != FALLBACK else lab) for t, lab in data["test"]]
    train = [(t, _safe(lab)) for t, lab in data["train"]]
    typos = typo_copy([t for t, _ in test], seed=args.seed)
    results = []
    sr_setups = []

    def add(name: str, setup: str, model, note: str) -> None:
        results.append(
            _measure(name, setup, lambda t, m=model: m.route(t).route, test, typos, note)
        )

    systems = [("ours classifier", "embedding", ()), ("ours hybrid", "hybrid", ())]
    if outliers:
        systems.append(("ours hybrid+OE", "hybrid", outliers))

    def classifiers(setup: str, routes, examples, timing: bool) -> None:
        for name, features, exposure in systems:
            t0 = time.perf_counter()
            model = ClassifierRouter(
                routes, examples=examples, outliers=exposure, seed=args.seed, features=features
            )
            took = time.perf_counter() - t0
            for r in retentions:
                model.retain(r)
                note = f"threshold keeps {r:.0%} (CV)"
                if timing:
                    note += f"; trained in {took:.0f} s"
                add(name, setup, model, note)

    for k in ks:
        few, few_val = few_shot(train, k, args.seed)
        setup = f"few-shot {k}/route"
        routes = _routeset(few)
        for r in retentions:
            add(
                "ours embedding",
                setup,
                EmbeddingRouter(routes, target_retention=r),
                f"threshold keeps {r:.0%} (LOO)",
            )
        classifiers(setup, routes, (), timing=False)
        sr_setups.append((setup, few, few_val))
    if not args.no_full:
        few, _ = few_shot(train, 2, args.seed)
        classifiers("full train", _routeset(few), train, timing=True)
        fit, val = validation(train, args.seed)
        full: dict[str, list[str]] = {}
        for t, c in fit:
            full.setdefault(c, []).append(t)
        sr_setups.append(("full train", full, val))
    sr_status = "skipped (--no-semantic-router)"
    if not args.no_semantic_router:
        sr = _import_semantic_router(args.semantic_router_path)
        if isinstance(sr, str):
            sr_status = sr
        else:
            sr_status = f"semantic-router {getattr(sr[0], '__version__', '?')}"
            for name, setup, predict, note in _semantic_router_systems(sr, sr_setups, retentions):
                results.append(_measure(name, setup, predict, test, typos, note=note))
    order = {s: i for i, s in enumerate(dict.fromkeys(r["setup"] for r in results))}
    results.sort(key=lambda r: order[r["setup"]])
    return {
        "dataset": data["dataset"],
        "data": data["source"],
        "seed": args.seed,
        "routes": sorted({lab for _, lab in train}),
        "held_out_as_oos": data["held_out"],
        "oos_from": data["oos_from"],
        "n_train": len(train),
        "n_test": len(test),
        "n_test_oos": sum(1 for _, r in test if r == FALLBACK),
        "target_retention": retentions,
        "outliers": {
            "files": [p.name for p in args.outliers],
            "sampled": len(outliers),
        },
        "typos": "seeded: 25% of words (at least one per text), drop/swap/double/neighbour key",
        "semantic_router": sr_status,
        "results": results,
    }


_NAMED = ("bitext", "banking77", "hwu64")  # the datasets read by name; else a CSV path


def _check_dataset(flag: str, value: str) -> None:
    if value not in _NAMED and not Path(value).is_file():
        raise UsageError(f"{flag} {value!r}: not bitext, banking77, hwu64 or an existing CSV file")


def _check_oos_from(args: argparse.Namespace) -> None:
    """--oos-from and its companions make sense together, and only with another dataset."""
    if args.oos_from is None:
        for flag, value in (
            ("--oos-from-dir", args.oos_from_dir),
            ("--oos-sample", args.oos_sample),
        ):
            if value is not None:
                raise UsageError(f"{flag} needs --oos-from DATASET")
        return
    _check_dataset("--oos-from", args.oos_from)
    same = args.oos_from == args.dataset or (
        args.oos_from not in _NAMED
        and args.dataset not in _NAMED
        and Path(args.oos_from).resolve() == Path(args.dataset).resolve()
    )
    if same:
        raise UsageError(f"--oos-from {args.oos_from}: must be another dataset than --dataset")
    if args.oos:
        raise UsageError("--oos-from keeps every label of --dataset in scope: drop --oos")


def _main(args: argparse.Namespace) -> int:
    import json

    from threadpoolctl import threadpool_limits

    if args.data is not None and not args.data.is_file():
        raise UsageError(f"{args.data}: bench data not found")
    _check_dataset("--dataset", args.dataset)
    _check_oos_from(args)
    # One BLAS thread for every system: a router answers one request per call, and on a
    # busy machine multi-threaded matrix-vector products cost 100x more than they save.
    with threadpool_limits(1):
        result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # piped: do not wrap the table at 80 columns
    held = ", ".join(result["held_out_as_oos"]) or "none (no OOS rows)"
    if result["oos_from"]:
        f = result["oos_from"]
        held = (
            f"none; OOS = {result['n_test_oos']} test rows of {f['dataset']} "
            f"({f['duplicates_of_in_scope_removed']} duplicates of in-scope/exposure texts "
            "removed)"
        )
    console.print(
        f"{result['dataset']}: {len(result['routes'])} routes, held out as out of scope: "
        f"{held}; train {result['n_train']}, test {result['n_test']} rows "
        f"({result['n_test_oos']} OOS); {result['semantic_router']}"
    )
    table = Table(title="routing bench (same WordLlama embeddings for every system)")
    cols = ("system", "setup", "accuracy", "in-scope acc", "OOS recall", "typo acc", "p50 ms")
    for col in (*cols, "note"):
        table.add_column(col, justify="right" if col in cols[2:] else "left")
    for r in result["results"]:
        oos = "-" if r["oos_recall"] is None else f"{r['oos_recall']:.3f}"
        table.add_row(
            r["system"],
            r["setup"],
            f"{r['accuracy']:.3f}",
            f"{r['in_scope_accuracy']:.3f}",
            oos,
            f"{r['typo_accuracy']:.3f}",
            f"{r['p50_ms']:.3f}",
            r["note"],
        )
    console.print(table)
    return 0
