"""The contract review report for people: what to look at first, and nothing twice.

Order: headline (verdict, categories by risk), high-risk findings with the clause quoted and
the rule that fired, contradictions, the other categories (one line each, highest risk first),
document details (names, parties, dates, governing law) collapsed into one block, and what
could not be reviewed. Only retained findings are rows, so every category shown is in
`categories_found` and every category there is shown. A heading appears only with content.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from .report import ReviewFinding, ReviewReport

__all__ = ["DOCUMENT_DETAILS", "render_report"]

DOCUMENT_DETAILS = (
    "Document Name",
    "Parties",
    "Agreement Date",
    "Effective Date",
    "Expiration Date",
    "Governing Law",
)
"""Categories that describe the document rather than a term to negotiate: one block."""

_RISK_ORDER = {"high": 0, "medium": 1, "low": 2}
_DECISION_ORDER = {"confirmed": 0, "escalated": 1, "unvoted": 2, "present": 3, "dismissed": 4}


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3].rstrip() + "..."


def _where(f: ReviewFinding) -> str:
    return (
        f'section {f.section} "{_clip(f.section_title, 40)}"'
        if f.section_title
        else (f"section {f.section}")
    )


def _by_category(rows: list[ReviewFinding]) -> dict[str, list[ReviewFinding]]:
    groups: dict[str, list[ReviewFinding]] = defaultdict(list)
    for f in rows:
        groups[f.category].append(f)
    for fs in groups.values():  # the strongest evidence first, then document order
        fs.sort(
            key=lambda f: (
                _DECISION_ORDER[f.decision],
                f.source != "clause_check",
                len(f.text) < 40,  # a bare heading quotes nothing useful
                f.start,
            )
        )
    return groups


def _more(fs: list[ReviewFinding]) -> str:
    if len(fs) < 2:
        return ""
    secs = sorted({f.section for f in fs[1:]})
    shown = ", ".join(str(s) for s in secs[:6]) + (", ..." if len(secs) > 6 else "")
    return f" (+{len(fs) - 1} more: section{'s' if len(secs) > 1 else ''} {shown})"


def render_report(report: ReviewReport, fmt: Literal["text", "markdown"] = "text") -> str:
    md = fmt == "markdown"

    def heading(title: str) -> str:
        return f"\n### {title}" if md else f"\n{title.upper()}"

    def strong(s: str) -> str:
        return f"**{s}**" if md else s

    mode = "offline models" if report.usage.offline else "remote models"
    lines = [f"Contract review ({mode}): {report.sections} sections, {report.chars} characters."]
    unchecked = [f for f in report.failed_branches if f.stage == "clause_checks"]
    if report.sections and len(unchecked) == report.sections:
        lines[0] = (
            f"Contract review ({mode}): NOT REVIEWED - none of the {report.sections} sections "
            f"could be checked ({unchecked[0].reason}). Nothing below means the contract is clean."
        )
    lines.append(f"{strong('Verdict')}: {report.verdict}.")
    counts = report.risk_counts
    lines.append(
        f"Clause categories found: {len(report.categories_found)} "
        f"(high risk {counts['high']}, medium {counts['medium']}, low {counts['low']})."
    )
    groups = _by_category(report.rows)

    high = sorted(
        (c for c, fs in groups.items() if fs[0].risk == "high"),
        key=lambda c: (_DECISION_ORDER[groups[c][0].decision], groups[c][0].start),
    )
    if high:
        lines.append(heading("High-risk findings"))
        for c in high:
            f = groups[c][0]
            split = ", ".join(f"{n} {label}" for label, n in sorted(f.vote_split.items()))
            decision = f.decision.upper() + (f" ({split})" if split else "")
            lines.append(f"- {strong(c)}, {_where(f)}: {decision}{_more(groups[c])}")
            lines.append(f'  > "{_clip(f.text, 300)}"')
            if f.reason:
                lines.append(f"  Rule: {_clip(f.reason, 200)}")

    if report.contradictions:
        lines.append(heading("Contradictions"))
        lines += [f"- {strong(c.topic)}: {c.detail}" for c in report.contradictions]

    rest = sorted(
        (c for c in groups if c not in high and c not in DOCUMENT_DETAILS),
        key=lambda c: (_RISK_ORDER[groups[c][0].risk], c),
    )
    if rest:
        lines.append(heading("Other clauses, by category"))
        for c in rest:
            f = groups[c][0]
            lines.append(
                f'- {strong(c)} ({f.risk}), {_where(f)}: "{_clip(f.text, 160)}"{_more(groups[c])}'
            )

    details = [c for c in DOCUMENT_DETAILS if c in groups and c not in high]
    if details:
        lines.append(heading("Document details"))
        for c in details:
            fs = groups[c]
            lines.append(f'- {c}: "{_clip(fs[0].text, 120)}"{_more(fs)}')

    if report.failed_branches:
        lines.append(("\n### " if md else "\n") + "NOT REVIEWED (failed branches)")
        lines += [f"- {f.branch}: {f.reason}" for f in report.failed_branches]

    set_aside = sum(1 for f in report.findings if not f.retained)
    if set_aside:
        lines.append(
            f"\n{set_aside} candidate clause(s) set aside: dismissed by the judges or "
            "outweighed by the document model (listed in the JSON report)."
        )
    lines.append(
        f"\n{report.usage.llm_calls} model calls, {report.usage.tokens} tokens, "
        f"{report.latency_ms:.0f} ms."
    )
    return "\n".join(lines)
