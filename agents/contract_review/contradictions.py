"""Contradictions between sections: facts that two clauses state incompatibly.

- Governing Law: every governing-law clause names a jurisdiction; two different ones
  ("laws of the State of New York" here, "Delaware law" there) contradict.
- Liability: a clause that caps liability and one that leaves it uncapped pull against each
  other (often a carve-out; a reviewer must check which prevails).

Only findings that survived the review (not dismissed) count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .report import ReviewContradiction, ReviewFinding

__all__ = ["find_contradictions", "jurisdiction"]

_PLACE = r"([A-Z][A-Za-z.]+(?:\s+(?:of\s+)?[A-Z][A-Za-z.]+){0,3})"
_JURISDICTION = (
    re.compile(
        r"\blaws?\s+of\s+(?:the\s+)?(?:State|Commonwealth|Province|Republic|Kingdom)\s+of\s+"
        + _PLACE
    ),
    re.compile(r"\blaws?\s+of\s+(?:the\s+)?" + _PLACE),
    re.compile(_PLACE + r"\s+law\b"),
)
_NOT_PLACES = {"the", "this", "such", "any", "all", "applicable", "united states", "federal"}


def jurisdiction(clause: str) -> str | None:
    """The state/country a governing-law clause names, normalised ('New York'); else None."""
    for rx in _JURISDICTION:
        for m in rx.finditer(clause):
            place = re.sub(r"\s+", " ", m.group(1)).strip(" .")
            place = re.sub(r"^(?:State|Commonwealth) of ", "", place)
            place = re.split(r"\s+(?:without|and|excluding|applicable|as|in|to)\b", place)[0]
            if place.lower() not in _NOT_PLACES and not place.lower().startswith("the "):
                return place.title() if place.isupper() else place
    return None


def find_contradictions(findings: Sequence[ReviewFinding]) -> list[ReviewContradiction]:
    """Incompatible facts across the surviving findings."""
    live = [f for f in findings if f.decision != "dismissed"]
    out: list[ReviewContradiction] = []

    places: dict[str, str] = {}
    for f in live:
        if f.category != "Governing Law":
            continue
        place = jurisdiction(f.text)
        if place is not None:
            places.setdefault(f"section {f.section} (chars {f.start}-{f.end})", place)
    if len({p.casefold() for p in places.values()}) > 1:
        out.append(
            ReviewContradiction(
                topic="Governing Law",
                values=places,
                detail="sections name different governing laws: "
                + " vs ".join(sorted(set(places.values()))),
            )
        )

    capped = {
        f"section {f.section}": "caps liability" for f in live if f.category == "Cap On Liability"
    }
    uncapped = {
        f"section {f.section}": "leaves liability uncapped"
        for f in live
        if f.category == "Uncapped Liability"
    }
    if capped and uncapped:
        values = {**capped}
        for key, text in uncapped.items():
            values[key] = "caps and uncaps liability" if key in values else text
        out.append(
            ReviewContradiction(
                topic="Liability",
                values=values,
                detail="liability is both capped and uncapped; check which clause prevails",
            )
        )
    return out
