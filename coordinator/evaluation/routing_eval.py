"""Measure a router on labelled data: accuracy, out-of-scope recall/precision, confusion.

A labelled CSV has the header `text,route`. A row whose route is empty or the fallback
name is *out of scope*: it is correct only when routed to the fallback. Bad files fail
with one `ConfigError` naming file and line (`data.csv:7: unknown route 'bilingg'`).
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coordinator.errors import ConfigError
from coordinator.inputs.input_files import decode_text, read_bounded
from coordinator.routing.router import build_router
from coordinator.routing.routes import RouteSet

__all__ = [
    "Disagreement",
    "LabelledRow",
    "RouteMetrics",
    "RoutingEvalReport",
    "TrafficReport",
    "evaluate",
    "plot_confusion",
    "read_labelled_csv",
    "traffic_report",
]

REQUIRED_COLUMNS = ("text", "route")
MAX_CSV_BYTES = 64_000_000  # ~500k labelled rows; hostile inputs (/dev/zero) stop here


class LabelledRow(BaseModel):
    """One labelled request; `route` is the fallback name for out-of-scope rows."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="The request text.")
    route: str = Field(description="Expected route (the fallback: out of scope).")
    line: int = Field(0, description="1-based line in the source CSV (0: not from a file).")


class RouteMetrics(BaseModel):
    precision: float = Field(description="Of requests routed here, the share that belonged.")
    recall: float = Field(description="Of requests that belonged here, the share routed here.")
    f1: float = Field(description="Harmonic mean of precision and recall.")
    support: int = Field(description="Requests labelled with this route.")


class RoutingEvalReport(BaseModel):
    """What `coordinator routes eval --json` prints."""

    method: str = Field(description="Router method evaluated.")
    n: int = Field(description="Rows evaluated.")
    n_in_scope: int = Field(description="Rows labelled with a real route.")
    n_oos: int = Field(description="Rows labelled out of scope (fallback).")
    accuracy: float = Field(description="Share of rows routed to their label (OOS -> fallback).")
    in_scope_accuracy: float | None = Field(description="Accuracy on in-scope rows only.")
    oos_recall: float | None = Field(description="Out-of-scope rows sent to the fallback.")
    oos_precision: float | None = Field(description="Fallback decisions that were truly OOS.")
    threshold: float | None = Field(None, description="Router threshold used.")
    per_route: dict[str, RouteMetrics] = Field(description="Metrics per label, incl. fallback.")
    confusion: dict[str, dict[str, int]] = Field(description="true route -> predicted -> count.")
    latency_ms: dict[str, float] = Field(description="Router latency p50/p95/mean.")


def read_labelled_csv(path: str | Path, routes: RouteSet) -> list[LabelledRow]:
    """Read `text,route` rows; every problem names the file and line."""
    p = Path(path)
    data = read_bounded(p, MAX_CSV_BYTES, advice=" (split the CSV)", missing="file not found")
    handle = io.StringIO(decode_text(data, str(p)), newline="")
    known = set(routes.names)
    rows: list[LabelledRow] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None or not any(h.strip() for h in header):
                raise ConfigError(
                    "empty CSV: expected a header `text,route`", path=str(p), where="line 1"
                )
            cols = [h.strip().lstrip("\ufeff").lower() for h in header]
            unknown = [c for c in cols if c not in REQUIRED_COLUMNS]
            missing = [c for c in REQUIRED_COLUMNS if c not in cols]
            if unknown or missing:
                detail = []
                if unknown:
                    detail.append(f"unknown column(s) {', '.join(map(repr, unknown))}")
                if missing:
                    detail.append(f"missing {', '.join(map(repr, missing))}")
                raise ConfigError(
                    f"{'; '.join(detail)} (expected header `text,route`)",
                    path=str(p),
                    where="line 1",
                )
            ti, ri = cols.index("text"), cols.index("route")
            for values in reader:
                line = reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(cols):
                    raise ConfigError(
                        f"expected {len(cols)} fields, got {len(values)}",
                        path=str(p),
                        where=f"line {line}",
                    )
                text, route = values[ti].strip(), values[ri].strip()
                if not text:
                    raise ConfigError("empty text", path=str(p), where=f"line {line}")
                route = route or routes.fallback
                if route not in known:
                    raise ConfigError(
                        f"unknown route {route!r} (routes: {', '.join(routes.names)})",
                        path=str(p),
                        where=f"line {line}",
                    )
                rows.append(LabelledRow(text=text, route=route, line=line))
        except csv.Error as exc:
            raise ConfigError(
                f"malformed CSV: {exc}", path=str(p), where=f"line {reader.line_num}"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8 text", path=str(p)) from None
    if not rows:
        raise ConfigError("empty CSV: no data rows after the header", path=str(p), where="line 2")
    return rows


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def evaluate(
    router, rows: Sequence[LabelledRow], *, fallback: str | None = None
) -> RoutingEvalReport:
    """Route every row and score the decisions against the labels."""
    fallback = fallback or router.routes.fallback
    preds: list[str] = []
    latencies: list[float] = []
    if rows:
        router.route(rows[0].text)  # warm-up: first-call costs are not routing latency
    for row in rows:
        t0 = time.perf_counter()
        d = router.route(row.text)
        latencies.append((time.perf_counter() - t0) * 1000)
        preds.append(d.route)
    truth = [r.route for r in rows]
    labels = list(dict.fromkeys([*router.routes.names, *truth, *preds]))
    confusion = {t: {p: 0 for p in labels} for t in labels}
    for t, p in zip(truth, preds, strict=True):
        confusion[t][p] += 1
    confusion = {t: {p: c for p, c in row.items() if c} for t, row in confusion.items()}
    per_route = {}
    for lab in labels:
        tp = sum(1 for t, p in zip(truth, preds, strict=True) if t == p == lab)
        routed = sum(1 for p in preds if p == lab)
        support = sum(1 for t in truth if t == lab)
        prec = tp / routed if routed else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_route[lab] = RouteMetrics(
            precision=round(prec, 4), recall=round(rec, 4), f1=round(f1, 4), support=support
        )
    ins = [(t, p) for t, p in zip(truth, preds, strict=True) if t != fallback]
    oos = [(t, p) for t, p in zip(truth, preds, strict=True) if t == fallback]
    to_fallback = sum(1 for p in preds if p == fallback)
    lat = np.asarray(latencies) if latencies else np.zeros(1)
    return RoutingEvalReport(
        method=str(getattr(router, "method", "?")),
        n=len(rows),
        n_in_scope=len(ins),
        n_oos=len(oos),
        accuracy=_ratio(sum(t == p for t, p in zip(truth, preds, strict=True)), len(rows)) or 0.0,
        in_scope_accuracy=_ratio(sum(t == p for t, p in ins), len(ins)),
        oos_recall=_ratio(sum(p == fallback for _, p in oos), len(oos)),
        oos_precision=_ratio(sum(p == fallback for _, p in oos), to_fallback),
        threshold=getattr(router, "threshold", None),
        per_route=per_route,
        confusion=confusion,
        latency_ms={
            "p50": round(float(np.percentile(lat, 50)), 4),
            "p95": round(float(np.percentile(lat, 95)), 4),
            "mean": round(float(lat.mean()), 4),
        },
    )


def plot_confusion(report: RoutingEvalReport, path: str | Path) -> Path:
    """Draw the confusion matrix (rows: true, columns: predicted) as a PNG."""
    # deferred: matplotlib only when a plot is asked for
    from coordinator.evaluation.plotting import pyplot

    plt = pyplot()

    labels = list(report.per_route)
    m = np.asarray([[report.confusion.get(t, {}).get(p, 0) for p in labels] for t in labels])
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report.method}: accuracy {report.accuracy:.3f} (n={report.n})")
    peak = m.max() or 1
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                color = "white" if m[i, j] > peak / 2 else "black"
                ax.text(j, i, str(m[i, j]), ha="center", va="center", color=color)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# --- logged traffic ------------------------------------------------------------------------


class Disagreement(BaseModel):
    method: str = Field(description="Second method the logged texts were re-routed with.")
    compared: int = Field(description="Logged decisions with text that were re-routed.")
    disagreements: int = Field(description="Re-routed decisions that chose another route.")
    rate: float = Field(description="disagreements / compared.")
    examples: list[dict[str, str]] = Field(default_factory=list, description="A few of them.")


class TrafficReport(BaseModel):
    """What `coordinator routes report --json` prints."""

    n: int = Field(description="Decisions in the window.")
    by_route: dict[str, int] = Field(description="Decisions per route.")
    by_method: dict[str, int] = Field(description="Decisions per method.")
    by_route_method: dict[str, dict[str, int]] = Field(description="route -> method -> count.")
    low_confidence_share: float = Field(description="Share the router was unsure about.")
    fallback_share: float = Field(description="Share sent to the fallback route.")
    latency_p50_ms: float = Field(description="Median router latency.")
    outcomes: dict[str, int] = Field(description="Recorded outcomes and their counts.")
    labelled: int = Field(description="Decisions with a known correct route.")
    labelled_accuracy: float | None = Field(description="Routed == correct, on labelled ones.")
    confusion: dict[str, dict[str, int]] = Field(description="correct -> routed -> count.")
    disagreement: Disagreement | None = Field(description="Second-method re-routing check.")
    clarifications: int = Field(0, description="Turns answered with a clarifying question.")
    escalations: int = Field(0, description="Turns handed to a person (escalation route).")
    multi_intent_splits: int = Field(0, description="Turns split into several asks.")


def traffic_report(
    rows,
    routes: RouteSet,
    *,
    model_dir: str | Path | None = None,
    second_method: str | None = None,
    max_compare: int = 2000,
) -> TrafficReport:
    """Summarise logged decisions; re-route logged texts with a second method to disagree."""
    n = len(rows)
    by_route = Counter(r.route for r in rows)
    by_method = Counter(r.method for r in rows)
    by_route_method: dict[str, dict[str, int]] = {}
    for r in rows:
        by_route_method.setdefault(r.route, {}).setdefault(r.method, 0)
        by_route_method[r.route][r.method] += 1
    labelled = [r for r in rows if r.correct_route]
    confusion: dict[str, dict[str, int]] = {}
    for r in labelled:
        confusion.setdefault(r.correct_route, {}).setdefault(r.route, 0)
        confusion[r.correct_route][r.route] += 1
    disagreement = None
    texts = [r for r in rows if r.text and r.method in ("embedding", "classifier", "fallback")]
    if texts:
        logged = Counter(r.method for r in texts).most_common(1)[0][0]
        second = second_method or ("embedding" if logged == "classifier" else "classifier")
        other = build_router(
            routes, method=second, model_dir=model_dir if second == "classifier" else None
        )
        sample = texts[-max_compare:]
        diffs = []
        for r in sample:
            d = other.route(r.text)
            if d.route != r.route:
                diffs.append({"text": r.text, "logged": r.route, second: d.route})
        disagreement = Disagreement(
            method=second,
            compared=len(sample),
            disagreements=len(diffs),
            rate=round(len(diffs) / len(sample), 4),
            examples=diffs[:5],
        )
    return TrafficReport(
        n=n,
        by_route=dict(by_route.most_common()),
        by_method=dict(by_method.most_common()),
        by_route_method=by_route_method,
        low_confidence_share=round(sum(not r.confident for r in rows) / n, 4) if n else 0.0,
        fallback_share=round(by_route.get(routes.fallback, 0) / n, 4) if n else 0.0,
        latency_p50_ms=round(float(np.median([r.latency_ms for r in rows])), 4) if n else 0.0,
        outcomes=dict(Counter(r.outcome for r in rows if r.outcome).most_common()),
        labelled=len(labelled),
        labelled_accuracy=_ratio(sum(r.route == r.correct_route for r in labelled), len(labelled)),
        confusion=confusion,
        disagreement=disagreement,
        clarifications=by_method.get("clarify", 0),
        escalations=by_method.get("escalation", 0),
        # One logged row per part: count the turns (invocations), not the parts.
        multi_intent_splits=len(
            {r.invocation_id or f"row{r.id}" for r in rows if r.method == "multi"}
        ),
    )
