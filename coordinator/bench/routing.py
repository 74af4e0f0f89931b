"""`coordinator bench routing`: our routers vs the `semantic-router` library, same data.

Data: the Bitext customer-support sample (agents/data/bitext, CDLA-Sharing-1.0). Routes
are its categories; a few categories are held out entirely as OUT OF SCOPE (never seen
in training; the right answer is the fallback). In-scope rows are split train/test per
category (seeded). Every system uses the same WordLlama embeddings (semantic-router gets
them through its `DenseEncoder` interface), so the comparison is about the routing.

Setups:
* few-shot: `--per-route` utterances per route (ours: embedding and classifier, threshold
  calibrated on those utterances only);
* full: the whole training split (ours: classifier trained on it).
semantic-router's `IndexedRouter` gets the same utterances; it is shown without a threshold,
and with a bar set by our retention rule on its own scores for a validation slice of the
training split (its Platt calibrator cannot be fitted there: it needs wrong answers, and the
validation queries are all answered right).

semantic-router is an optional bench dependency: `pip install semantic-router` (or install
it with `--target DIR` and pass `--semantic-router-path DIR` to keep the main env intact).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coordinator.cli._args import non_negative_int, positive_int

__all__ = ["register", "run"]

DATA = Path(__file__).resolve().parents[2] / "agents" / "data" / "bitext" / "customer_support.csv"
FALLBACK = "out_of_scope"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "routing",
        help="our routers vs semantic-router on Bitext (accuracy, OOS recall, latency)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--per-route", type=positive_int, default=20, help="few-shot utterances per route"
    )
    p.add_argument(
        "--level",
        choices=["category", "intent"],
        default="category",
        help="routes are Bitext categories (11) or intents (27)",
    )
    p.add_argument(
        "--oos", type=non_negative_int, default=3, help="routes held out as out of scope"
    )
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument(
        "--target-retention",
        default="0.95,0.98",
        help="comma-separated in-scope retention targets for the thresholds",
    )
    p.add_argument("--data", type=Path, default=DATA, help="CSV with text,intent,category")
    p.add_argument(
        "--semantic-router-path",
        type=Path,
        help="extra site dir holding semantic_router (pip install --target)",
    )
    p.add_argument("--no-semantic-router", action="store_true", help="only run ours")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_main)


def _load(path: Path, level: str = "category") -> dict[str, list[str]]:
    by_cat: dict[str, list[str]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            by_cat.setdefault(row[level].lower(), []).append(row["text"].strip())
    return {c: list(dict.fromkeys(t)) for c, t in sorted(by_cat.items())}


def split(by_cat: dict[str, list[str]], *, oos: int, per_route: int, seed: int) -> dict:
    """Seeded split: held-out OOS categories, train/validation/test per in-scope category."""
    rng = random.Random(seed)
    held = sorted(rng.sample(sorted(by_cat), oos))
    train: list[tuple[str, str]] = []
    val: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    few: dict[str, list[str]] = {}
    oos_pool: list[str] = []
    for cat, texts in by_cat.items():
        texts = texts[:]
        rng.shuffle(texts)
        if cat in held:
            oos_pool.extend(texts)
            continue
        n_test = round(len(texts) * 0.3)
        test.extend((t, cat) for t in texts[:n_test])
        rest = texts[n_test:]
        n_val = max(10, int(len(rest) * 0.1))
        val.extend((t, cat) for t in rest[:n_val])
        train.extend((t, cat) for t in rest[n_val:])
        few[cat] = rest[n_val : n_val + per_route]
    # Out-of-scope rows: a quarter of the test set (a held-out big category must not swamp it).
    rng.shuffle(oos_pool)
    test.extend((t, FALLBACK) for t in oos_pool[: len(test) // 3])
    few_val = [(t, c) for c in few for t in [t for t, cc in val if cc == c][:10]]
    return {
        "held_out": held,
        "train": train,
        "val": val,
        "few": few,
        "few_val": few_val,
        "test": test,
    }


def _measure(name: str, setup: str, predict: Callable[[str], str], test, note: str = "") -> dict:
    predict(test[0][0])  # warm-up
    preds, lat = [], []
    for text, _ in test:
        t0 = time.perf_counter()
        preds.append(predict(text))
        lat.append((time.perf_counter() - t0) * 1000)
    truth = [r for _, r in test]
    ins = [(p, t) for p, t in zip(preds, truth, strict=True) if t != FALLBACK]
    oos = [(p, t) for p, t in zip(preds, truth, strict=True) if t == FALLBACK]
    return {
        "system": name,
        "setup": setup,
        "accuracy": round(float(np.mean([p == t for p, t in zip(preds, truth, strict=True)])), 4),
        "in_scope_accuracy": round(float(np.mean([p == t for p, t in ins])), 4),
        "oos_recall": round(float(np.mean([p == FALLBACK for p, _ in oos])), 4) if oos else None,
        "p50_ms": round(float(np.percentile(lat, 50)), 4),
        "p95_ms": round(float(np.percentile(lat, 95)), 4),
        "note": note,
    }


def _routeset(utterances: dict[str, list[str]]):
    from coordinator.routes import RouteSet

    return RouteSet.model_validate(
        {
            "fallback": FALLBACK,
            "routes": [
                {"name": c, "description": f"Bitext {c} requests", "utterances": u}
                for c, u in utterances.items()
            ],
        }
    )


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
    sr, data, retentions: list[float]
) -> list[tuple[str, str, Callable, str]]:
    module, indexed_router, route_cls, dense_encoder = sr
    from coordinator.encoder import get_encoder

    class WordLlamaEncoder(dense_encoder):  # type: ignore[misc, valid-type]
        """Our WordLlama embeddings behind semantic-router's encoder interface."""

        name: str = "wordllama-l2_supercat-256"

        def __call__(self, docs):
            return get_encoder().embed([str(d) for d in docs]).tolist()

    encoder = WordLlamaEncoder()
    version = getattr(module, "__version__", "?")
    out = []
    full: dict[str, list[str]] = {}
    for t, c in data["train"]:
        full.setdefault(c, []).append(t)
    for setup, utterances, val in (
        (f"few-shot {len(next(iter(data['few'].values())))}/route", data["few"], data["few_val"]),
        ("full train", full, data["val"]),
    ):
        router = indexed_router(
            encoder=encoder,
            routes=[route_cls(name=c, utterances=u) for c, u in utterances.items()],
        )

        def raw(text: str, router=router) -> str:
            return getattr(router(text), "name", None) or FALLBACK

        out.append((f"semantic-router {version}", setup, raw, "no threshold"))
        # Its threshold, chosen by our rule (keep `retention` of held-out in-scope queries)
        # on its own top scores for the validation queries: same principle, same data size.
        tops = [router(t, limit=None)[0].confidence for t, _ in val]
        for retention in retentions:
            bar = float(np.quantile(tops, 1.0 - retention))
            barred = indexed_router(
                encoder=encoder,
                routes=[route_cls(name=c, utterances=u) for c, u in utterances.items()],
                confidence_threshold=bar,
            )

            def with_bar(text: str, router=barred) -> str:
                return getattr(router(text), "name", None) or FALLBACK

            note = f"bar keeps {retention:.0%} of {len(val)} extra val. queries"
            out.append((f"semantic-router {version}", setup, with_bar, note))
    return out


def _retentions(value: str) -> list[float]:
    from coordinator.errors import UsageError

    try:
        out = [float(v) for v in str(value).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--target-retention {value!r}: expected numbers like 0.95,0.98") from None
    if not out or not all(0.5 <= v <= 1.0 for v in out):
        raise UsageError("--target-retention values must be between 0.5 and 1.0")
    return out


def run(args: argparse.Namespace) -> dict:
    """Run the bench; returns the JSON-able result."""
    from coordinator.classifier import ClassifierRouter
    from coordinator.router import EmbeddingRouter

    retentions = _retentions(args.target_retention)
    data = split(
        _load(args.data, args.level), oos=args.oos, per_route=args.per_route, seed=args.seed
    )
    test = data["test"]
    few_routes = _routeset(data["few"])
    results = []
    few = f"few-shot {args.per_route}/route"
    for r in retentions:
        emb = EmbeddingRouter(few_routes, target_retention=r)
        note = f"threshold keeps {r:.0%} (LOO)"
        results.append(
            _measure("ours embedding", few, lambda t, m=emb: m.route(t).route, test, note)
        )
    clf = ClassifierRouter(few_routes, seed=args.seed)
    t0 = time.perf_counter()
    full = ClassifierRouter(few_routes, examples=data["train"] + data["val"], seed=args.seed)
    train_s = time.perf_counter() - t0
    for setup, model in ((few, clf), ("full train", full)):
        for r in retentions:
            model.threshold = model.calibrate(r)
            note = f"threshold keeps {r:.0%} (CV)"
            if model is full:
                note += f"; trained in {train_s:.1f} s"
            results.append(
                _measure("ours classifier", setup, lambda t, m=model: m.route(t).route, test, note)
            )
    sr_status = "skipped (--no-semantic-router)"
    if not args.no_semantic_router:
        sr = _import_semantic_router(args.semantic_router_path)
        if isinstance(sr, str):
            sr_status = sr
        else:
            sr_status = f"semantic-router {getattr(sr[0], '__version__', '?')}"
            for name, setup, predict, note in _semantic_router_systems(sr, data, retentions):
                results.append(_measure(name, setup, predict, test, note=note))
    return {
        "data": str(args.data),
        "seed": args.seed,
        "level": args.level,
        "routes": sorted(data["few"]),
        "held_out_as_oos": data["held_out"],
        "n_train": len(data["train"]) + len(data["val"]),
        "n_test": len(test),
        "n_test_oos": sum(1 for _, r in test if r == FALLBACK),
        "target_retention": retentions,
        "semantic_router": sr_status,
        "results": results,
    }


def _main(args: argparse.Namespace) -> int:
    import json

    from coordinator.errors import UsageError

    if not args.data.is_file():
        raise UsageError(f"{args.data}: bench data not found")
    if args.per_route < 2:
        raise UsageError("--per-route must be at least 2")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # piped: do not wrap the table at 80 columns
    console.print(
        f"Bitext: {len(result['routes'])} routes ({result['level']}), held out as out of scope: "
        f"{', '.join(result['held_out_as_oos'])}; test {result['n_test']} rows "
        f"({result['n_test_oos']} OOS); {result['semantic_router']}"
    )
    table = Table(title="routing bench (same WordLlama embeddings for every system)")
    for col in ("system", "setup", "accuracy", "in-scope acc", "OOS recall", "p50 ms", "note"):
        table.add_column(col, justify="right" if col[0] in "aiOp" else "left")
    for r in result["results"]:
        oos = "-" if r["oos_recall"] is None else f"{r['oos_recall']:.3f}"
        table.add_row(
            r["system"],
            r["setup"],
            f"{r['accuracy']:.3f}",
            f"{r['in_scope_accuracy']:.3f}",
            oos,
            f"{r['p50_ms']:.3f}",
            r["note"],
        )
    console.print(table)
    return 0
