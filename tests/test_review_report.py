"""The contract review report people read: consistent rows, high risk first, no noise."""

from __future__ import annotations

import json
import re

import pytest

from agents.contract_review.cuad import CUAD_DIR, load_cuad
from agents.contract_review.presence import PresenceResult
from agents.contract_review.render import DOCUMENT_DETAILS, render_report
from agents.contract_review.report import ReviewFinding, ReviewReport, ReviewUsage
from agents.contract_review.stages import _categories_found, _rows
from coordinator.cli import main
from coordinator.parallel.review import run_review

# Two long contracts with many Document Name / Parties hits.
CONTRACTS = (
    "MERITLIFEINSURANCECO_06_19_2020-EX-10.(XIV)-MASTER SERVICES AGREEMENT",
    "SANDRIDGEENERGYINC_08_06_2009-EX-10.6-OPERATIONS AND MAINTENANCE AGREEMENT",
)


@pytest.fixture(scope="module")
def cuad():
    return {c.stem: c for c in load_cuad()}


def _category_lines(text: str) -> list[str]:
    """Categories named at the start of a bullet ('- **X**, ...', '- X (risk)...', '- X: ...'),
    outside the contradictions and not-reviewed blocks."""
    out = []
    skip = False
    for line in text.splitlines():
        if line and not line.startswith(("-", " ")) and line.lstrip("#").strip():
            heading = line.lower()
            skip = "contradiction" in heading or "not reviewed" in heading
        if skip:
            continue
        m = re.match(r"^- (?:\*\*)?([A-Z][\w/ ,'-]*?)(?:\*\*)?(?:,| \(|:)", line)
        if m:
            out.append(m.group(1))
    return out


def _assert_readable(report: ReviewReport, text: str) -> None:
    rows = {f.category for f in report.rows}
    assert rows == set(report.categories_found)  # every row listed, every listed has a row
    assert set(report.high_risk) == {f.category for f in report.rows if f.risk == "high"}
    lines = _category_lines(text)
    assert sorted(lines) == sorted(report.categories_found)  # each category exactly once
    # headline first: verdict and counts by risk
    head = text.splitlines()[:3]
    assert head[0].startswith("Contract review") and "Verdict" in head[1]
    counts = report.risk_counts
    assert f"high risk {counts['high']}, medium {counts['medium']}, low {counts['low']}" in head[2]
    # high-risk findings come before everything else, quoted, with the rule that fired
    body = text.split("\n")
    headings = [i for i, line in enumerate(body) if re.match(r"^(### .+|[A-Z][A-Z ,()-]+)$", line)]
    if report.high_risk:
        first = body[headings[0]]
        assert "high-risk" in first.lower()
        assert any(line.strip().startswith('> "') for line in body)
    # document details collapse into one block, after the clauses
    details = [
        c for c in report.categories_found if c in DOCUMENT_DETAILS and c not in report.high_risk
    ]
    if details:
        assert text.lower().count("document details") == 1
        block = text[text.lower().index("document details") :]
        for c in details:
            assert f"- {c}:" in block
    # no heading without content right after it
    for i in headings:
        nxt = body[i + 1] if i + 1 < len(body) else ""
        assert nxt.startswith("- "), (body[i], nxt)


@pytest.mark.anyio
@pytest.mark.parametrize("stem", CONTRACTS)
async def test_rows_and_categories_found_agree_and_read_top_down(cuad, stem):
    run = await run_review("contract", cuad[stem].text)
    report = run.report
    for fmt in ("text", "markdown"):
        _assert_readable(report, render_report(report, fmt))
    _assert_readable(report, run.text)  # the chat answer has the same structure
    # one line per category, however many sections repeat it
    text = render_report(report, "text")
    assert len(text.splitlines()) < 15 + len(report.categories_found) * 3
    assert sum(1 for f in report.rows if f.category == "Parties") <= 1 or "more: section" in text


def _finding(category: str, decision: str, risk: str = "high", start: int = 0) -> ReviewFinding:
    return ReviewFinding(
        category=category,
        section=1,
        text=f"{category} clause text.",
        start=start,
        end=start + 10,
        risk=risk,  # type: ignore[arg-type]
        reason="cue matched",
        decision=decision,  # type: ignore[arg-type]
    )


def _judged(category: str, present: bool, text: str | None = None) -> PresenceResult:
    return PresenceResult(
        category=category,
        present=present,
        probability=0.9 if present else 0.1,
        threshold=0.5,
        evidence_section=0 if text else None,
        evidence_text=text,
    )


def test_an_escalated_finding_is_listed_even_when_the_presence_model_disagrees():
    findings = [
        _finding("Change Of Control", "escalated"),
        _finding("Anti-Assignment", "present", risk="medium", start=5),
        _finding("Exclusivity", "dismissed", start=9),
    ]
    judged = {
        "Change Of Control": _judged("Change Of Control", False),
        "Anti-Assignment": _judged("Anti-Assignment", False),
        "Exclusivity": _judged("Exclusivity", True, "The exclusive right."),
        "Audit Rights": _judged("Audit Rights", True, None),
    }
    found = _categories_found(findings, judged)
    assert "Change Of Control" in found  # the judges kept it flagged: never hidden
    assert "Anti-Assignment" not in found  # the document model outweighs a lone cue hit
    assert "Exclusivity" not in found  # unanimously dismissed: the judges read that clause
    assert "Audit Rights" in found
    rows = _rows(findings, found, judged, {}, None)
    assert {f.category for f in rows if f.retained} == set(found)
    audit = next(f for f in rows if f.category == "Audit Rights")
    assert audit.source == "presence_model" and audit.decision == "present"
    assert not next(f for f in rows if f.category == "Anti-Assignment").retained
    report = ReviewReport(
        sections=2,
        findings=rows,
        categories_found=found,
        high_risk=["Change Of Control"],
        usage=ReviewUsage(),
    )
    text = render_report(report, "text")
    assert text.index("Change Of Control") < text.index("Audit Rights")
    assert "2 candidate clause(s) set aside" in text and text.endswith(" ms.")
    assert "OTHER CLAUSES" in text and "DOCUMENT DETAILS" not in text  # no empty heading


def test_cli_formats(capsys):
    path = next((CUAD_DIR / "contracts").glob("SOLUTIONSVENDING*.txt"))
    assert main(["review", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"verdict", "risk_counts", "categories_found", "findings"} <= set(data)
    assert {f["category"] for f in data["findings"] if f["retained"]} == set(
        data["categories_found"]
    )
    assert main(["review", str(path), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("Contract review") and "**Verdict**" in md and "### " in md
    assert main(["review", str(path)]) == 0
    text = capsys.readouterr().out
    assert "Verdict:" in text and "###" not in text and "**" not in text


def test_cli_subprocess_markdown_and_json_agree(tmp_path):
    """The command a person types: same categories in the Markdown report and the JSON."""
    import os
    import subprocess
    import sys

    path = next((CUAD_DIR / "contracts").glob("SOLUTIONSVENDING*.txt"))
    env = {**os.environ, "COORDINATOR_MODE": "offline", "COORDINATOR_DATA_DIR": str(tmp_path)}
    runs = {
        fmt: subprocess.run(
            [sys.executable, "-m", "coordinator", "review", str(path), "--format", fmt],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        for fmt in ("json", "markdown")
    }
    assert all(r.returncode == 0 for r in runs.values()), {f: r.stderr for f, r in runs.items()}
    found = json.loads(runs["json"].stdout)["categories_found"]
    assert sorted(_category_lines(runs["markdown"].stdout)) == sorted(found)
