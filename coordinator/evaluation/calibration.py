"""Retuning from logged traffic: a new threshold and new example utterances.

Training-time calibration only sees the utterances; real traffic drifts. Decisions that got
a labelled outcome (`DecisionLog.record_outcome(..., correct_route=...)`) are re-scored
with the current router: the new threshold keeps `target_retention` of the in-scope ones
(pooled with the model's held-out training scores while traffic is thin), and misrouted
in-scope texts become proposed utterances for the route they belonged to.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, Field

from coordinator.routing.classifier import threshold_for_retention, write_threshold
from coordinator.routing.decision_log import DecisionRow
from coordinator.routing.router import build_router
from coordinator.routing.routes import DEFAULT_ROUTES_FILE, RouteSet
from coordinator.settings import get_settings

__all__ = ["MIN_TRAFFIC", "RetuneProposal", "apply_retune", "propose_retune"]

# Below this many labelled in-scope texts, pool them with the held-out training scores.
MIN_TRAFFIC = 20


class RetuneProposal(BaseModel):
    """What `coordinator routes retune --json` prints (and `--apply` writes)."""

    labelled: int = Field(description="Labelled decisions considered.")
    in_scope: int = Field(description="Labelled in-scope decisions with text (re-scored).")
    oos: int = Field(description="Labelled out-of-scope decisions with text.")
    hash_only: int = Field(description="Labelled decisions without text (cannot be re-scored).")
    method: str = Field(description="Router the scores come from.")
    target_retention: float = Field(description="In-scope share the threshold should keep.")
    current_threshold: float | None = Field(description="Threshold in use now.")
    proposed_threshold: float = Field(description="Threshold that keeps target_retention.")
    basis: str = Field(description="Which scores the proposal was computed from.")
    oos_recall_current: float | None = Field(description="Labelled OOS rejected now.")
    oos_recall_proposed: float | None = Field(description="Labelled OOS rejected if applied.")
    new_utterances: dict[str, list[str]] = Field(description="route -> texts to add.")


def propose_retune(
    rows: list[DecisionRow],
    routes: RouteSet,
    *,
    model_dir: str | Path | None = None,
    router=None,
    target_retention: float = 0.95,
    max_new: int = 5,
) -> RetuneProposal:
    """Re-score labelled traffic and propose a threshold and utterances (writes nothing)."""
    labelled = [r for r in rows if r.correct_route]
    if router is None:
        configured = get_settings().router_method
        method = "classifier" if model_dir else ("auto" if configured == "llm" else configured)
        router = build_router(routes, method=method, model_dir=model_dir)
    scored = {r.name for r in routes.scored}
    with_text = [r for r in labelled if r.text]
    in_scope = [r for r in with_text if r.correct_route in scored]
    oos = [r for r in with_text if r.correct_route == routes.fallback]
    in_scores = [router.in_scope_score(r.text)[1] for r in in_scope]
    oos_scores = np.asarray([router.in_scope_score(r.text)[1] for r in oos])
    held_out = list(np.asarray(getattr(router, "cv_scores", []), dtype=float))
    if len(in_scores) >= MIN_TRAFFIC or (in_scores and not held_out):
        pool, basis = in_scores, f"{len(in_scores)} labelled in-scope requests"
    elif in_scores:
        pool = in_scores + held_out
        basis = f"{len(in_scores)} labelled requests + {len(held_out)} held-out training scores"
    elif held_out:
        pool, basis = held_out, "held-out training scores only (no labelled in-scope traffic)"
    else:
        pool, basis = [router.calibrate(target_retention)], "router calibration (no traffic)"
    proposed = threshold_for_retention(pool, target_retention)
    current = getattr(router, "threshold", None)

    def recall(th: float | None) -> float | None:
        if th is None or not len(oos_scores):
            return None
        return round(float((oos_scores < th).mean()), 4)

    new: dict[str, list[str]] = {}
    for r in in_scope:
        route = routes.get(r.correct_route)
        if r.route == r.correct_route or route is None or r.text in route.utterances:
            continue
        bucket = new.setdefault(r.correct_route, [])
        if r.text not in bucket and len(bucket) < max_new:
            bucket.append(r.text)
    return RetuneProposal(
        labelled=len(labelled),
        in_scope=len(in_scope),
        oos=len(oos),
        hash_only=len(labelled) - len(with_text),
        method=str(router.method),
        target_retention=target_retention,
        current_threshold=None if current is None else round(float(current), 6),
        proposed_threshold=round(proposed, 6),
        basis=basis,
        oos_recall_current=recall(current),
        oos_recall_proposed=recall(proposed),
        new_utterances=new,
    )


def apply_retune(
    proposal: RetuneProposal,
    routes: RouteSet,
    *,
    routes_file: str | Path | None = None,
    model_dir: str | Path | None = None,
) -> list[str]:
    """Save the proposal; returns what was written.

    The threshold goes into the model dir's manifest (without a model dir there is nowhere
    durable to put it: set COORDINATOR_ROUTER_THRESHOLD). Utterances go into `routes_file`
    (a `.bak` copy is kept) — or, for the built-in file, into `data_dir/routes.yaml`.
    """
    written: list[str] = []
    if model_dir is not None:
        path = write_threshold(model_dir, proposal.proposed_threshold, proposal.target_retention)
        written.append(str(path))
    if proposal.new_utterances:
        builtin = routes_file is None or Path(routes_file).resolve() == DEFAULT_ROUTES_FILE
        if builtin:
            target = get_settings().ensure_data_dir() / "routes.yaml"
        else:
            target = Path(routes_file)
            if target.exists():
                backup = target.with_name(target.name + ".bak")
                backup.write_bytes(target.read_bytes())
                written.append(str(backup))
        data = routes.model_dump(mode="json")
        for entry in data["routes"]:
            entry["utterances"] = [
                *entry["utterances"],
                *proposal.new_utterances.get(entry["name"], []),
            ]
        header = (
            "# Routes retuned by `coordinator routes retune --apply` from labelled traffic.\n"
            "# Use it with COORDINATOR_ROUTES=<this file>; retrain models with `routes train`.\n"
        )
        target.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        written.append(str(target))
    return written
