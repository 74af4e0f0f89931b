"""Measure the offline security voters against a labelled set (``security_eval.yaml`` here).

For each split (``dev``: the voters and the rulebook may be tuned on it; ``heldout``: never
looked at while tuning, the number to quote): accuracy, precision and recall (positive =
``vulnerable``) of every voter, of the agent's ensembles (majority of the first 3 and of all
N, ties to ``vulnerable`` exactly as the agent decides) and of a naive baseline (any keyword
from a list of dangerous functions). Two checks of the voting premise:

- the binomial prediction: the ensemble accuracy that voters with the measured accuracies
  would reach if their errors were independent (Poisson binomial; a tie is right only when
  the snippet is vulnerable), next to the measured one;
- the pairwise error correlation (phi of the 0/1 "voter got it wrong" indicators): 0 means
  independent errors, 1 means the same mistakes.

    python -m agents.security_review.eval            # table
    python -m agents.security_review.eval --json     # machine-readable
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agents.security_review.rules import SecurityRules, load_security_rules
from agents.security_review.voters import VOTER_SPECS, build_voters
from coordinator import ConfigError, Vote, VoteAggregator, VoteConfig, load_yaml_model

__all__ = [
    "DEFAULT_EVAL_FILE",
    "EvalItem",
    "Scores",
    "SecurityEvalReport",
    "SplitReport",
    "binomial_prediction",
    "error_correlation",
    "evaluate",
    "load_eval_set",
    "main",
    "naive_baseline",
    "score",
]

DEFAULT_EVAL_FILE = Path(__file__).resolve().parent / "security_eval.yaml"

Label = Literal["vulnerable", "safe"]
Split = Literal["dev", "heldout"]

# The agent's own vote rule: majority, a tie goes to the cautious label.
_VOTE = VoteAggregator(VoteConfig(strategy="majority", risk_order=["vulnerable", "safe"]))

_DANGEROUS = re.compile(
    r"(?i)\b(?:execute|system|popen|subprocess|eval|exec|pickle|marshal|yaml\.load|password|"
    r"secret|api_?key|token|md5|sha1|verify|ssl|open|send_file|innerhtml|document\.write|"
    r"requests\.get|urlopen|debug|access-control-allow-origin|chmod|root|privileged|safe)\b"
)


class EvalItem(BaseModel):
    """One labelled snippet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="Stable id, e.g. 'dev-sqli-concat'.")
    split: Split = Field(description="dev (tunable) or heldout (never tuned on).")
    label: Label = Field(description="The truth: vulnerable or safe.")
    lang: str = Field(description="python, javascript, sql, shell, yaml, nginx, ...")
    category: str = Field(description="Kind of flaw, e.g. 'sql-injection'.")
    code: str = Field(min_length=1, description="The snippet or config.")


class _EvalFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    items: tuple[EvalItem, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique_ids(self) -> _EvalFile:
        ids = [i.id for i in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("items: duplicate item ids")
        return self


def load_eval_set(path: str | Path | None = None) -> list[EvalItem]:
    """The labelled items; `ConfigError` names the file, line and field."""
    path = Path(path) if path is not None else DEFAULT_EVAL_FILE
    return list(load_yaml_model(path, _EvalFile, expect="a mapping with `items:`").items)


def naive_baseline(code: str) -> Label:
    """Vulnerable when any keyword of a dangerous-functions list appears."""
    return "vulnerable" if _DANGEROUS.search(code) else "safe"


class Scores(BaseModel):
    """Binary scores; positive = vulnerable."""

    n: int
    accuracy: float
    precision: float | None = Field(description="None when nothing was flagged.")
    recall: float | None = Field(description="None when nothing is vulnerable.")
    wrong: list[str] = Field(default_factory=list, description="Ids of the misjudged items.")


def score(truth: Sequence[str], pred: Sequence[str], ids: Sequence[str]) -> Scores:
    tp = sum(t == p == "vulnerable" for t, p in zip(truth, pred, strict=True))
    flagged = sum(p == "vulnerable" for p in pred)
    positives = sum(t == "vulnerable" for t in truth)
    right = sum(t == p for t, p in zip(truth, pred, strict=True))
    return Scores(
        n=len(truth),
        accuracy=round(right / len(truth), 3) if truth else 0.0,
        precision=round(tp / flagged, 3) if flagged else None,
        recall=round(tp / positives, 3) if positives else None,
        wrong=[i for i, t, p in zip(ids, truth, pred, strict=True) if t != p],
    )


def binomial_prediction(accuracies: Sequence[float], share_vulnerable: float) -> float:
    """Ensemble accuracy if the voters erred independently (Poisson binomial).

    With n voters, more than n/2 right votes wins; exactly n/2 is a tie, which goes to
    `vulnerable`, so it is right only on vulnerable items (`share_vulnerable` of them).
    """
    dist = [1.0]  # dist[k] = P(k voters right)
    for p in accuracies:
        dist = [
            (dist[k] if k < len(dist) else 0.0) * (1 - p) + (dist[k - 1] * p if k else 0.0)
            for k in range(len(dist) + 1)
        ]
    n = len(accuracies)
    win = sum(q for k, q in enumerate(dist) if 2 * k > n)
    tie = dist[n // 2] if n % 2 == 0 else 0.0
    return round(win + tie * share_vulnerable, 3)


def error_correlation(errors_a: Sequence[bool], errors_b: Sequence[bool]) -> float | None:
    """Phi coefficient of two voters' error indicators; None if either never (or always) errs."""
    n = len(errors_a)
    pa, pb = sum(errors_a) / n, sum(errors_b) / n
    both = sum(a and b for a, b in zip(errors_a, errors_b, strict=True)) / n
    denom = math.sqrt(pa * (1 - pa) * pb * (1 - pb))
    return round((both - pa * pb) / denom, 3) if denom else None


class SplitReport(BaseModel):
    """Everything measured on one split."""

    split: str
    n: int
    vulnerable: int
    voters: dict[str, Scores] = Field(description="voter name -> scores")
    ensembles: dict[str, Scores] = Field(description="'majority of 3' / 'majority of N'")
    baseline: Scores = Field(description="Any dangerous keyword -> vulnerable.")
    binomial: dict[str, float] = Field(description="ensemble -> predicted if independent")
    error_correlation: dict[str, float | None] = Field(description="'a~b' -> phi of errors")


class SecurityEvalReport(BaseModel):
    voters: list[str]
    splits: dict[str, SplitReport]


def _majority(labels: Sequence[str]) -> str:
    return _VOTE.decide([Vote(label=lab) for lab in labels]).label


def evaluate(
    items: Sequence[EvalItem],
    voters: Sequence[Callable[[str], object]] | None = None,
    rules: SecurityRules | None = None,
) -> SecurityEvalReport:
    """Run every voter on every item once, then score each split."""
    if voters is None:
        voters = build_voters(rules or load_security_rules(), len(VOTER_SPECS))
    names = [getattr(v, "name", f"voter{i}") for i, v in enumerate(voters)]
    votes = {item.id: [v(item.code).label for v in voters] for item in items}  # type: ignore[attr-defined]
    splits: dict[str, SplitReport] = {}
    for split in ("dev", "heldout", "all"):
        part = [i for i in items if split in ("all", i.split)]
        if not part:
            continue
        ids = [i.id for i in part]
        truth = [i.label for i in part]
        per = {name: score(truth, [votes[i][k] for i in ids], ids) for k, name in enumerate(names)}
        ensembles: dict[str, Scores] = {}
        binomial: dict[str, float] = {}
        share = sum(t == "vulnerable" for t in truth) / len(truth)
        for size in sorted({min(3, len(names)), len(names)}):
            key = f"majority of {size}"
            ensembles[key] = score(truth, [_majority(votes[i][:size]) for i in ids], ids)
            binomial[key] = binomial_prediction([per[n].accuracy for n in names[:size]], share)
        errors = {
            name: [votes[i][k] != t for i, t in zip(ids, truth, strict=True)]
            for k, name in enumerate(names)
        }
        corr = {
            f"{a}~{b}": error_correlation(errors[a], errors[b])
            for a, b in itertools.combinations(names, 2)
        }
        splits[split] = SplitReport(
            split=split,
            n=len(part),
            vulnerable=sum(t == "vulnerable" for t in truth),
            voters=per,
            ensembles=ensembles,
            baseline=score(truth, [naive_baseline(i.code) for i in part], ids),
            binomial=binomial,
            error_correlation=corr,
        )
    return SecurityEvalReport(voters=names, splits=splits)


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:5.2f}"


def _table(report: SecurityEvalReport) -> str:
    out: list[str] = []
    for split, r in report.splits.items():
        note = {"dev": "tuned on", "heldout": "never tuned on", "all": "both"}[split]
        out.append(f"\n== {split} ({note}): {r.n} snippets, {r.vulnerable} vulnerable ==")
        out.append(f"{'':22} {'acc':>5} {'prec':>5} {'rec':>5}  wrong")
        rows = [*r.voters.items(), *r.ensembles.items(), ("baseline (keywords)", r.baseline)]
        for name, s in rows:
            wrong = ", ".join(s.wrong[:6]) + (" ..." if len(s.wrong) > 6 else "")
            out.append(
                f"{name:22} {_fmt(s.accuracy)} {_fmt(s.precision)} {_fmt(s.recall)}  {wrong}"
            )
        for key, predicted in r.binomial.items():
            out.append(
                f"{key}: measured {r.ensembles[key].accuracy:.2f}, "
                f"binomial (independent errors) {predicted:.2f}"
            )
        corr = "  ".join(f"{k} {_fmt(v).strip()}" for k, v in r.error_correlation.items())
        out.append(f"error correlation (phi): {corr}")
    return "\n".join(out).lstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agents.security_review.eval", description=__doc__
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--file", type=Path, default=None, help="labelled set (YAML)")
    args = parser.parse_args(argv)
    try:
        report = evaluate(load_eval_set(args.file))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.model_dump(), indent=2) if args.json else _table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
