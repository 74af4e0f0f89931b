"""The typed contract review report (what `contract_review:report` holds in state)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

__all__ = [
    "Decision",
    "FindingVote",
    "PresenceEvidence",
    "ReviewContradiction",
    "ReviewFailure",
    "ReviewFinding",
    "ReviewReport",
    "ReviewUsage",
]

Decision = Literal["present", "confirmed", "escalated", "dismissed", "unvoted"]
"""present: rule-checked, not high risk (no vote needed); confirmed: 3 judges agreed it is
an instance; dismissed: they agreed it is not; escalated: they disagreed, so the safer label
(keep it flagged for a human) wins; unvoted: the vote failed, kept flagged for the same reason."""


class FindingVote(BaseModel):
    """One judge's vote on a high-risk finding."""

    judge: str = Field(description="Judge name.")
    label: Literal["present", "absent"] = Field(description="Is the clause an instance?")
    confidence: float = Field(ge=0, le=1, description="The judge's confidence.")
    reason: str = Field("", description="The judge's justification.")


class ReviewFinding(BaseModel):
    """A clause of a rulebook category found in one section."""

    category: str = Field(description="CUAD category name.")
    section: int = Field(description="0-based index of the section the clause is in.")
    section_title: str | None = Field(None, description="Heading of that section, if any.")
    text: str = Field(description="The clause text (whitespace collapsed).")
    start: int = Field(description="Document offset where the clause starts.")
    end: int = Field(description="Document offset one past the clause end.")
    risk: Literal["low", "medium", "high"] = Field(description="Category risk (rulebook).")
    reason: str = Field("", description="Why the clause check flagged it.")
    votes: list[FindingVote] = Field(default_factory=list, description="Judges' votes (high risk).")
    decision: Decision = Field(description="What the review concluded about this finding.")
    vote_split: dict[str, int] = Field(default_factory=dict, description="label -> votes.")
    source: Literal["clause_check", "presence_model"] = Field(
        "clause_check",
        description="clause_check: a section's clause check flagged it; presence_model: the "
        "document-level presence model judged the category present and this is its best sentence.",
    )
    retained: bool = Field(
        True,
        description="True: a row of the report (its category is in categories_found). False: "
        "kept for audit only (the judges dismissed it, or the presence model outweighed it).",
    )


class ReviewContradiction(BaseModel):
    """Two sections (or two clauses) that say incompatible things."""

    topic: str = Field(description="What disagrees, e.g. 'Governing Law'.")
    values: dict[str, str] = Field(description="'section N' -> what that section says.")
    detail: str = Field(description="One-line explanation for the reviewer.")


class ReviewFailure(BaseModel):
    """A branch that produced nothing; its part of the document is unreviewed."""

    branch: str = Field(description="State key of the branch, e.g. 'contract_review:clause:s3'.")
    stage: Literal["clause_checks", "risk_vote"] = Field(description="Which fan-out it was in.")
    reason: str = Field(description="'<ExceptionType>: message' of the last attempt.")


class ReviewUsage(BaseModel):
    """Model usage of the whole review."""

    llm_calls: int = Field(0, description="Model calls (clause checks + judge calls).")
    tokens: int = Field(0, description="Prompt + completion tokens (estimated offline).")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    offline: bool = Field(True, description="True when local offline models answered.")


class PresenceEvidence(BaseModel):
    """Why the presence model judged a category present."""

    probability: float = Field(description="Model probability that the category is present.")
    section: int | None = Field(None, description="Section of the strongest sentence.")
    text: str | None = Field(None, description="The strongest sentence.")


class ReviewReport(BaseModel):
    """Everything the review found, what is missing, and what it cost."""

    sections: int = Field(description="How many sections the document was split into.")
    chars: int = Field(0, description="Document length in characters.")
    findings: list[ReviewFinding] = Field(default_factory=list)
    categories_found: list[str] = Field(
        default_factory=list,
        description="CUAD categories judged present (decision present/confirmed/escalated).",
    )
    presence: dict[str, PresenceEvidence] = Field(
        default_factory=dict,
        description="Categories the document-level presence model judged present, with the "
        "sentence that weighed most (offline mode).",
    )
    high_risk: list[str] = Field(
        default_factory=list, description="High-risk categories still flagged after the vote."
    )
    contradictions: list[ReviewContradiction] = Field(default_factory=list)
    failed_branches: list[ReviewFailure] = Field(default_factory=list)
    usage: ReviewUsage = Field(default_factory=ReviewUsage)
    latency_ms: float = Field(0.0, description="Wall time from split to report.")
    critical_path_ms: float = Field(
        0.0, description="split + slowest clause branch + slowest vote + aggregate."
    )
    stages_ms: dict[str, float] = Field(default_factory=dict, description="Wall time per stage.")

    @property
    def complete(self) -> bool:
        return not self.failed_branches

    @property
    def rows(self) -> list[ReviewFinding]:
        """The findings the report shows (one category each in `categories_found`)."""
        return [f for f in self.findings if f.retained]

    @computed_field(description="Categories found, by risk: {'high': n, 'medium': n, 'low': n}.")
    @property
    def risk_counts(self) -> dict[str, int]:
        risk = {f.category: f.risk for f in self.rows}
        return {r: sum(1 for v in risk.values() if v == r) for r in ("high", "medium", "low")}

    @computed_field(description="One-line conclusion: not reviewed, incomplete, or what to do.")
    @property
    def verdict(self) -> str:
        unchecked = sum(1 for f in self.failed_branches if f.stage == "clause_checks")
        if not self.sections:
            return "not reviewed: no document text"
        if unchecked == self.sections:
            return "NOT REVIEWED: no section could be checked; nothing here means it is clean"
        parts = []
        if self.high_risk:
            n = len(self.high_risk)
            parts.append(f"needs a lawyer's look: {n} high-risk categor{'y' if n == 1 else 'ies'}")
        else:
            parts.append("no high-risk clause found")
        if self.contradictions:
            parts.append(f"{len(self.contradictions)} contradiction(s)")
        if self.failed_branches:
            parts.append(f"INCOMPLETE: {len(self.failed_branches)} branch(es) not reviewed")
        return "; ".join(parts)

    def to_state(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
