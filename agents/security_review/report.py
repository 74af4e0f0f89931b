"""The typed security review report (what `security_review:report` holds in state)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["SecurityReport", "VoterFailure", "VoterResult"]


class VoterResult(BaseModel):
    """One voter's vote and its evidence."""

    voter: str = Field(description="Voter name, e.g. 'taint'.")
    label: Literal["vulnerable", "safe"]
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list)


class VoterFailure(BaseModel):
    """A voter that failed: it abstained."""

    voter: str
    reason: str


class SecurityReport(BaseModel):
    """The decision, how the vote split, and every voter's reasons."""

    decision: Literal["vulnerable", "safe"] = Field(description="The aggregated verdict.")
    decided_by: str = Field(description="winner | tie->safer | no-votes->safer")
    strategy: str = Field("majority", description="Vote strategy.")
    vote_split: dict[str, int] = Field(description="label -> number of votes.")
    votes: list[VoterResult] = Field(default_factory=list)
    failed_voters: list[VoterFailure] = Field(default_factory=list)
    voters: int = Field(description="Voters asked.")
    chars: int = Field(0, description="Snippet length.")
    llm_calls: int = 0
    tokens: int = 0
    offline: bool = True
    latency_ms: float = 0.0
    critical_path_ms: float = 0.0
