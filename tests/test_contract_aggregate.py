"""The contract review's aggregate stage as a pure function: state in, report + events out."""

from __future__ import annotations

from agents.contract_review.presence import PresenceResult
from agents.contract_review.render import render_report
from agents.contract_review.rulebook import load_rulebook
from agents.contract_review.splitter import Section
from agents.contract_review.stages import (
    CLAUSE_PREFIX,
    REPORT_KEY,
    TIMING_KEY,
    VOTE_PREFIX,
    aggregate,
)
from coordinator.parallel.progress import PROGRESS_KEY

DOC = "1. Law. Texas law governs.  2. Assignment. No party may assign this Agreement."


def _sections() -> dict[int, Section]:
    cut = DOC.index("2. Assignment")
    return {
        0: Section(index=0, start=0, end=cut, title="Law", number="1", text=DOC[:cut]),
        1: Section(
            index=1, start=cut, end=len(DOC), title="Assignment", number="2", text=DOC[cut:]
        ),
    }


def _finding(category: str, section: int, text: str, risk: str) -> dict:
    start = DOC.index(text)
    return {
        "category": category,
        "section": section,
        "text": text,
        "start": start,
        "end": start + len(text),
        "risk": risk,
        "reason": "cue",
    }


def _outcome(labels: list[str], decided_by: str = "winner") -> dict:
    return {
        "label": labels[0],
        "strategy": "unanimity",
        "decided_by": decided_by,
        "tally": {},
        "votes": [
            {"label": lab, "confidence": 0.9, "reason": "r", "judge": f"j{i}"}
            for i, lab in enumerate(labels)
        ],
    }


def _state(*, vote_outcome: dict | None, failed: list[dict] | None = None) -> dict:
    law = _finding("Governing Law", 0, "Texas law governs.", "medium")
    assign = _finding("Anti-Assignment", 1, "No party may assign this Agreement.", "high")
    state = {
        TIMING_KEY: {"t0": 100.0, "split_ms": 2.0, "chars": len(DOC)},
        f"{CLAUSE_PREFIX}:s0": [law],
        f"{CLAUSE_PREFIX}:s1": [assign],
        f"{CLAUSE_PREFIX}:_meta": {
            "order": ["s0", "s1"],
            "failed_branches": [],
            "wall_ms": 5.0,
            "usage": {"llm_calls": 2, "critical_path_ms": 3.0},
        },
    }
    if vote_outcome is not None or failed:
        state[f"{VOTE_PREFIX}:_meta"] = {
            "order": ["s1-f0"],
            "failed_branches": failed or [],
            "wall_ms": 7.0,
            "usage": {"llm_calls": 3, "critical_path_ms": 4.0},
        }
        if vote_outcome is not None:
            state[f"{VOTE_PREFIX}:s1-f0"] = vote_outcome
    return state


def _run(state: dict, judged: dict | None = None, **kw):
    args = {"offline": True, "rulebook": load_rulebook(), "aggregate_ms": 1.5, "now": 100.25}
    return aggregate(state, _sections(), judged or {}, **(args | kw))


def test_a_unanimous_vote_confirms_and_the_output_is_the_report_and_its_events():
    out = _run(_state(vote_outcome=_outcome(["present"] * 3)))
    report = out.report
    assert [(f.category, f.decision) for f in report.findings] == [
        ("Governing Law", "present"),
        ("Anti-Assignment", "confirmed"),
    ]
    assert report.categories_found == ["Anti-Assignment", "Governing Law"]
    assert report.high_risk == ["Anti-Assignment"]
    assert report.findings[1].vote_split == {"present": 3}
    assert report.usage.llm_calls == 5 and report.usage.offline
    # timing comes only from the inputs: no clock is read inside
    assert report.latency_ms == 250.0
    assert report.critical_path_ms == 2.0 + 3.0 + 4.0 + 1.5
    assert report.stages_ms == {
        "split": 2.0,
        "clause_checks": 5.0,
        "risk_vote": 7.0,
        "aggregate": 1.5,
    }
    assert out.delta[REPORT_KEY] == report.to_state()
    assert out.delta[PROGRESS_KEY] == {"done": 1, "total": 1, "stage": "aggregate"}
    assert out.text == render_report(report, "markdown")


def test_the_same_inputs_give_the_same_output():
    state = _state(vote_outcome=_outcome(["present", "absent", "present"], "no-unanimity->safer"))
    assert _run(state).delta == _run(state).delta
    assert _run(state).report.findings[1].decision == "escalated"


def test_a_dismissed_finding_is_no_row_and_a_failed_vote_is_reported():
    dismissed = _run(_state(vote_outcome=_outcome(["absent"] * 3)))
    assert dismissed.report.categories_found == ["Governing Law"]
    assert [f.category for f in dismissed.report.findings if f.retained] == ["Governing Law"]

    failed = _run(_state(vote_outcome=None, failed=[{"branch_id": "s1-f0", "reason": "429"}]))
    assert [(f.branch, f.stage) for f in failed.report.failed_branches] == [
        (f"{VOTE_PREFIX}:s1-f0", "risk_vote")
    ]
    assert failed.report.findings[1].decision == "unvoted"  # still flagged for a human
    assert "Anti-Assignment" in failed.report.categories_found


def test_the_presence_model_decides_presence_categories_and_adds_rows():
    judged = {
        "Governing Law": PresenceResult(
            category="Governing Law", present=False, probability=0.1, threshold=0.5
        ),
        "Non-Compete": PresenceResult(
            category="Non-Compete",
            present=True,
            probability=0.9,
            threshold=0.5,
            evidence_section=1,
            evidence_text="No party may assign this Agreement.",
        ),
    }
    out = _run(_state(vote_outcome=_outcome(["present"] * 3)), judged)
    assert out.report.categories_found == ["Anti-Assignment", "Non-Compete"]
    row = next(f for f in out.report.findings if f.category == "Non-Compete")
    assert row.source == "presence_model" and row.section == 1
    assert row.start == DOC.index("No party")
    assert set(out.report.presence) == {"Non-Compete"}


def test_no_sections_no_findings():
    out = aggregate(
        {TIMING_KEY: {"t0": 5.0, "split_ms": 0.0, "chars": 0}},
        {},
        {},
        offline=False,
        rulebook=None,
        aggregate_ms=0.0,
        now=5.0,
    )
    assert out.report.sections == 0 and out.report.findings == []
    assert out.report.failed_branches == [] and not out.report.usage.offline
