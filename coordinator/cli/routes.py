"""`coordinator routes train|eval|report|retune`: routing as a measured product.

coordinator routes train --data train.csv --out model/      # fit + calibrate + save
coordinator routes eval --data test.csv --model model/ --json
coordinator routes report --since 24h                       # what the decision log saw
coordinator routes retune --target-retention 0.95 --apply   # from labelled outcomes
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from coordinator.cli._args import (
    add_outlier_args,
    finite_float,
    non_negative_int,
    positive_int,
    unit_float,
)
from coordinator.errors import UsageError
from coordinator.settings import get_settings

__all__ = ["register"]


def _add_routes_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--routes", type=Path, help="routes YAML (default: settings / built-in)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "routes",
        help="train, evaluate, report on and retune the router",
        description="Routing as a measured product: train a classifier, evaluate it on a "
        "labelled CSV (text,route; an empty or fallback route means out of scope), report on "
        "logged traffic, and retune the threshold and utterances from labelled outcomes.",
    )
    inner = parser.add_subparsers(dest="routes_cmd", metavar="ACTION", parser_class=type(parser))

    p = inner.add_parser("train", help="train + calibrate a classifier, save it to a dir")
    _add_routes_arg(p)
    p.add_argument("--data", type=Path, help="extra labelled CSV with columns text,route")
    p.add_argument("--out", type=Path, required=True, help="model dir to write")
    add_outlier_args(p, "trained as 'none of these' (outlier exposure)")
    p.add_argument(
        "--target-retention",
        type=finite_float,
        default=0.95,
        help="share of in-scope requests the threshold keeps (default 0.95)",
    )
    p.add_argument(
        "--from-log",
        action="store_true",
        help="also train on logged decisions labelled with a correct route (record_outcome)",
    )
    p.add_argument("--db", type=Path, help="decision log for --from-log (default: settings)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=_train)

    p = inner.add_parser("outcome", help="record feedback for a logged decision")
    p.add_argument("decision_id", type=positive_int, help="id from the decision log")
    p.add_argument("outcome", help="e.g. resolved, wrong_route, escalated")
    p.add_argument("--correct-route", help="the route the request should have gone to")
    p.add_argument("--db", type=Path, help="decision log (default: settings)")
    p.set_defaults(func=_outcome)

    p = inner.add_parser("eval", help="accuracy / OOS recall / confusion on a labelled CSV")
    _add_routes_arg(p)
    p.add_argument("--data", type=Path, required=True, help="labelled CSV: text,route")
    p.add_argument(
        "--method",
        default=None,
        choices=["auto", "embedding", "classifier", "llm"],
        help="router method (default: settings, auto)",
    )
    p.add_argument("--model", type=Path, help="trained model dir from `routes train`")
    p.add_argument("--threshold", type=unit_float, help="override the calibrated threshold (0-1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", type=Path, help="write the confusion matrix as PNG")
    p.set_defaults(func=_eval)

    p = inner.add_parser("report", help="traffic, low confidence, disagreements, outcomes")
    _add_routes_arg(p)
    p.add_argument("--since", help="only decisions since an ISO date or age (24h, 7d)")
    p.add_argument("--db", type=Path, help="decision log (default: settings)")
    p.add_argument("--model", type=Path, help="trained model dir (default: settings)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_report)

    p = inner.add_parser("retune", help="propose threshold + utterances from labelled outcomes")
    _add_routes_arg(p)
    p.add_argument("--target-retention", type=finite_float, default=0.95)
    p.add_argument("--since", help="only decisions since an ISO date or age (24h, 7d)")
    p.add_argument("--db", type=Path, help="decision log (default: settings)")
    p.add_argument("--model", type=Path, help="trained model dir (default: settings)")
    p.add_argument(
        "--max-new", type=non_negative_int, default=5, help="new utterances per route (max)"
    )
    p.add_argument(
        "--apply",
        action="store_true",
        help="write the threshold into the model manifest and the utterances into "
        "the --routes file (a copy in the data dir for the built-in file)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_retune)

    parser.set_defaults(func=lambda args: parser.print_help() or 2)


# --- helpers -----------------------------------------------------------------------------


def _routes(args):
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.routing.routes import load_routes

    return load_routes(args.routes or get_settings().routes_file)


def _model_dir(args) -> Path | None:

    return args.model or get_settings().router_model_dir


def _writable_dir(path: Path, flag: str) -> None:
    """Create `path` and prove it takes files, before minutes of work are spent."""
    import tempfile

    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = (
            "exists and is not a directory"
            if path.exists() and not path.is_dir()
            else (exc.strerror or str(exc))
        )
        raise UsageError(f"{flag} {path}: cannot write there: {reason}") from None


def _check_retention(value: float) -> None:

    if not 0.5 <= value <= 1.0:
        raise UsageError(f"--target-retention must be between 0.5 and 1.0, got {value}")


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


# --- train / eval ------------------------------------------------------------------------


def _train(args) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.evaluation.routing_eval import read_labelled_csv
    from coordinator.routing.classifier import ClassifierRouter

    _check_retention(args.target_retention)
    _writable_dir(args.out, "--out")
    routes = _routes(args)
    examples = []
    if args.data:
        examples = [(r.text, r.route) for r in read_labelled_csv(args.data, routes)]
    if args.from_log:
        with _log(args) as log:
            logged = [(r.text, r.correct_route) for r in log.rows(labelled_only=True) if r.text]
        known = set(routes.names)
        examples += [(t, c) for t, c in logged if c in known]
    outliers: list[str] = []
    if args.outliers:
        # deferred: only a run with --outliers reads a corpus
        from coordinator.routing.outliers import balanced_outliers

        outliers = balanced_outliers(args.outliers, args.outlier_sample, seed=0)
    router = ClassifierRouter(
        routes, examples=examples, outliers=outliers, target_retention=args.target_retention
    )
    try:
        out = router.save(args.out)
    except OSError as exc:  # e.g. the disk filled up while writing the weights
        raise UsageError(f"--out {args.out}: cannot write the model: {exc.strerror}") from None
    manifest = router.manifest()
    if args.json:
        _print_json(manifest.model_dump())
        return 0
    m = manifest.metrics
    print(f"trained classifier on {manifest.n_train} examples, {len(manifest.routes)} routes")
    print(
        f"  threshold {manifest.threshold:.4f} (keeps {m['cv_retention']:.1%} of held-out "
        f"in-scope examples; target {args.target_retention:.0%})"
    )
    print(
        f"  cross-validated accuracy {m['cv_accuracy']:.3f}, "
        f"in-scope accuracy after threshold {m['cv_in_scope_accuracy']:.3f}"
    )
    if m.get("outlier_recall") is not None:
        print(
            f"  outlier exposure: {m['outlier_examples']} generic requests, "
            f"{m['outlier_recall']:.1%} of them rejected (cross-validated)"
        )
    if m.get("oos_recall") is not None:
        print(f"  out-of-scope examples rejected: {m['oos_recall']:.1%} of {m['oos_examples']}")
    print(f"saved to {out}  (use it: --model {out}  or  COORDINATOR_ROUTER_MODEL={out})")
    return 0


def _eval(args) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.evaluation.routing_eval import evaluate, plot_confusion, read_labelled_csv
    from coordinator.routing.router import build_router

    routes = _routes(args)
    rows = read_labelled_csv(args.data, routes)
    method = args.method or get_settings().router_method
    router = build_router(
        routes, method=method, threshold=args.threshold, model_dir=_model_dir(args)
    )
    report = evaluate(router, rows)
    if args.plot:
        try:
            plot_confusion(report, args.plot)
        except OSError as exc:
            raise UsageError(f"--plot {args.plot}: cannot write: {exc.strerror}") from None
    if args.json:
        _print_json(report.model_dump())
        return 0
    _print_eval(report, args.data)
    if args.plot:
        print(f"confusion matrix: {args.plot}")
    return 0


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def _print_eval(report, source: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    summary = Table(title=f"routing eval: {source} ({report.method})", show_header=False)
    summary.add_row("rows", f"{report.n} ({report.n_in_scope} in scope, {report.n_oos} OOS)")
    summary.add_row("accuracy", _fmt(report.accuracy))
    summary.add_row("in-scope accuracy", _fmt(report.in_scope_accuracy))
    summary.add_row(
        "OOS recall / precision", f"{_fmt(report.oos_recall)} / {_fmt(report.oos_precision)}"
    )
    summary.add_row("threshold", _fmt(report.threshold))
    summary.add_row(
        "latency p50 / p95 ms", f"{report.latency_ms['p50']:.3f} / {report.latency_ms['p95']:.3f}"
    )
    console.print(summary)
    per = Table(title="per route")
    for col in ("route", "precision", "recall", "f1", "support"):
        per.add_column(col, justify="left" if col == "route" else "right")
    for name, m in report.per_route.items():
        per.add_row(name, _fmt(m.precision), _fmt(m.recall), _fmt(m.f1), str(m.support))
    console.print(per)
    labels = list(report.per_route)
    conf = Table(title="confusion (rows: true, columns: predicted)")
    conf.add_column("true \\ pred")
    for lab in labels:
        conf.add_column(lab[:10], justify="right")
    for t in labels:
        conf.add_row(t, *[str(report.confusion.get(t, {}).get(p, "") or "") for p in labels])
    console.print(conf)


# --- report / retune ---------------------------------------------------------------------


def _log(args):
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.routing.decision_log import DecisionLog

    if args.db is not None and not args.db.is_file():
        raise UsageError(f"{args.db}: no decision log there")
    return DecisionLog(args.db)


def _outcome(args) -> int:
    with _log(args) as log:
        log.record_outcome(args.decision_id, args.outcome, correct_route=args.correct_route)
    print(
        f"decision {args.decision_id}: {args.outcome}"
        + (f" (correct route {args.correct_route})" if args.correct_route else "")
    )
    return 0


def _report(args) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.evaluation.routing_eval import traffic_report
    from coordinator.routing.decision_log import parse_since

    routes = _routes(args)
    with _log(args) as log:
        rows = log.rows(since=parse_since(args.since))
    report = traffic_report(rows, routes, model_dir=_model_dir(args))
    if args.json:
        _print_json(report.model_dump())
        return 0
    _print_report(report)
    return 0


def _print_report(report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if report.n == 0:
        console.print("no decisions logged yet (ask something first: coordinator ask ...)")
        return
    t = Table(title=f"routing traffic: {report.n} decisions", show_header=False)
    t.add_row("low-confidence share", f"{report.low_confidence_share:.1%}")
    t.add_row("fallback share", f"{report.fallback_share:.1%}")
    t.add_row("latency p50 ms", f"{report.latency_p50_ms:.3f}")
    t.add_row("clarifying questions", str(report.clarifications))
    t.add_row("escalations to a person", str(report.escalations))
    t.add_row("multi-intent splits", str(report.multi_intent_splits))
    if report.disagreement is not None:
        d = report.disagreement
        t.add_row(
            f"disagreement vs {d.method}",
            f"{d.disagreements}/{d.compared} ({d.rate:.1%}) of re-routed texts",
        )
    if report.labelled:
        t.add_row("labelled accuracy", f"{report.labelled_accuracy:.3f} ({report.labelled})")
    console.print(t)
    by = Table(title="by route and method")
    by.add_column("route")
    methods = sorted({m for counts in report.by_route_method.values() for m in counts})
    for m in methods:
        by.add_column(m, justify="right")
    for route, counts in report.by_route_method.items():
        by.add_row(route, *[str(counts.get(m, "")) for m in methods])
    console.print(by)
    if report.outcomes:
        o = Table(title="outcomes")
        o.add_column("outcome")
        o.add_column("count", justify="right")
        for k, v in report.outcomes.items():
            o.add_row(k, str(v))
        console.print(o)
    if report.confusion:
        c = Table(title="labelled confusion (true -> routed: count)")
        c.add_column("true")
        c.add_column("routed")
        for true, preds in report.confusion.items():
            c.add_row(true, ", ".join(f"{p}: {n}" for p, n in preds.items()))
        console.print(c)


def _retune(args) -> int:
    # deferred: every `coordinator` command imports this module; only this one pays
    from coordinator.evaluation.calibration import apply_retune, propose_retune
    from coordinator.routing.decision_log import parse_since

    _check_retention(args.target_retention)
    routes = _routes(args)
    with _log(args) as log:
        rows = log.rows(since=parse_since(args.since), labelled_only=True)
    model_dir = _model_dir(args)
    proposal = propose_retune(
        rows,
        routes,
        model_dir=model_dir,
        target_retention=args.target_retention,
        max_new=args.max_new,
    )
    written: list[str] = []
    if args.apply:
        written = apply_retune(proposal, routes, routes_file=args.routes, model_dir=model_dir)
    if args.json:
        _print_json({**proposal.model_dump(), "written": written})
        return 0
    p = proposal
    print(f"labelled decisions: {p.labelled} ({p.in_scope} in scope, {p.oos} out of scope)")
    cur = "-" if p.current_threshold is None else f"{p.current_threshold:.4f}"
    print(
        f"threshold: current {cur} -> proposed {p.proposed_threshold:.4f} "
        f"(keeps {p.target_retention:.0%} of in-scope; {p.basis})"
    )
    if p.oos:
        print(
            f"  OOS rejected on labelled traffic: {_fmt(p.oos_recall_current)} now, "
            f"{_fmt(p.oos_recall_proposed)} proposed"
        )
    for route, texts in p.new_utterances.items():
        print(f"new utterances for {route}:")
        for text in texts:
            print(f"  + {text}")
    if not p.new_utterances:
        print("no new utterances (no misrouted labelled traffic with text)")
    for path in written:
        print(f"wrote {path}")
    if args.apply and model_dir is None:
        print(
            f"no model dir to store the threshold in: set "
            f"COORDINATOR_ROUTER_THRESHOLD={p.proposed_threshold:.4f} (or use --model)"
        )
    if not args.apply:
        print("dry run: add --apply to save")
    return 0
