"""The CUAD sample shipped with the agent: 10 contracts joined to CUAD's expert labels.

The labelled clauses are the similarity judge's exemplars at run time (`judges.judges_from`)
and the ground truth when measuring (`agents.contract_review.eval.clauses`). Contracts and
labels: CUAD v1, The Atticus Project, CC BY 4.0 (``data/cuad/ATTRIBUTION.md``).
"""

from __future__ import annotations

import ast
import csv
from pathlib import Path

from pydantic import BaseModel, Field

from .rulebook import Rulebook, load_rulebook

__all__ = ["CUAD_DIR", "CuadContract", "load_cuad"]

CUAD_DIR = Path(__file__).resolve().parent / "data" / "cuad"


class CuadContract(BaseModel):
    """One CUAD contract with its expert labels."""

    stem: str = Field(description="File stem shared by the .txt file and the label row.")
    text: str = Field(description="Full contract text.")
    labels: dict[str, bool] = Field(description="Yes/No presence answers by category.")
    clauses: dict[str, list[str]] = Field(description="Labelled clause excerpts by category.")


def load_cuad(
    directory: str | Path = CUAD_DIR, rulebook: Rulebook | None = None
) -> list[CuadContract]:
    """The contracts in ``directory/contracts`` joined to ``master_clauses.csv`` by file stem."""
    directory = Path(directory)
    rulebook = rulebook or load_rulebook()
    with (directory / "master_clauses.csv").open(encoding="utf-8", newline="") as fh:
        rows = {Path(r["Filename"]).stem: r for r in csv.DictReader(fh)}
    out = []
    for path in sorted((directory / "contracts").glob("*.txt")):
        row = rows.get(path.stem)
        if row is None:
            continue
        labels: dict[str, bool] = {}
        clauses: dict[str, list[str]] = {}
        for rule in rulebook.categories:
            raw = row.get(rule.name, "") or "[]"
            clauses[rule.name] = [str(c) for c in ast.literal_eval(raw)]
            answer = row.get(f"{rule.name}-Answer")
            if rule.kind == "presence" and answer in ("Yes", "No"):
                labels[rule.name] = answer == "Yes"
        out.append(
            CuadContract(
                stem=path.stem,
                text=path.read_text(encoding="utf-8"),
                labels=labels,
                clauses=clauses,
            )
        )
    return out
