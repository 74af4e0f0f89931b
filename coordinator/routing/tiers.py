"""Complexity tiers: a cheap model for easy requests, a strong one for hard ones.

Why a heuristic score and not a model: it must cost microseconds and be explainable in a
log line. The score adds weighted, capped features (length, clauses, questions, technical
terms, code, lists); `choose_tier` compares it with a configurable threshold and honours a
route's fixed tier (`Route.tier`: cheap|strong|auto)::

    choose_tier("why was I charged twice", route)            # 'cheap'
    complexity("Traceback ... KeyError ... why? and how?").score
    choose_tier(text, route, TierConfig(strong_at=0.3))      # stricter: more 'strong'
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coordinator.routing.routes import Route

__all__ = ["Complexity", "Tier", "TierConfig", "choose_tier", "complexity"]

Tier = Literal["cheap", "strong"]

_TERMS = """
    api sdk http https ssl tls oauth sso token jwt webhook endpoint json xml yaml csv sql
    database query index timeout latency throughput exception traceback stack error crash
    segfault memory cpu thread deadlock race kubernetes docker container deploy deployment
    config configuration proxy dns firewall vpn encryption certificate integration migration
    regression rollback version dependency compile linker kernel driver firmware
    liability indemnification indemnify warranty jurisdiction arbitration termination
    confidentiality assignment governing clause breach remedy damages compliance gdpr hipaa
    vulnerability exploit injection xss csrf cve authentication authorization
"""
TECHNICAL_TERMS = frozenset(_TERMS.split())
_CLAUSE = re.compile(
    r"[,;:]|\b(?:and|but|because|although|unless|whereas|which|while|if|then|so that|"
    r"however|otherwise)\b",
    re.IGNORECASE,
)
_CODE = re.compile(
    r"```|`[^`]+`|\b(?:def|class|import|return|select|from)\b.*[(:=]|[{}<>]=?|=>|"
    r"\w+\(\)|Traceback|Exception:|\bat \w+\.\w+\("
)
_LIST = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_WORD = re.compile(r"[A-Za-zÀ-ÿ0-9_']+")


class TierConfig(BaseModel):
    """Weights, caps and the threshold of the complexity score (all configurable)."""

    model_config = ConfigDict(frozen=True)

    strong_at: float = Field(0.5, description="Score at or above which a request is 'strong'.")
    words_full: int = Field(120, description="Word count that earns the full length weight.")
    w_length: float = Field(0.30, description="Weight of length.")
    w_clauses: float = Field(0.20, description="Weight of clause markers (capped at 8).")
    w_questions: float = Field(0.15, description="Weight of question marks (capped at 3).")
    w_technical: float = Field(0.25, description="Weight of technical terms (capped at 4).")
    w_code: float = Field(0.30, description="Weight of code or stack traces.")
    w_lists: float = Field(0.10, description="Weight of list items / numbered steps (cap 4).")


class Complexity(BaseModel):
    """The score and the features it came from (for logs and reports)."""

    score: float = Field(description="Weighted sum of capped features, ~0 (trivial) to ~1.3.")
    features: dict[str, float] = Field(description="Raw feature values.")


def complexity(text: str, config: TierConfig | None = None) -> Complexity:
    """Score how hard a request looks."""
    c = config or TierConfig()
    words = _WORD.findall(text)
    lowered = [w.lower().strip("'") for w in words]
    technical = sum(1 for w in lowered if w in TECHNICAL_TERMS)
    features = {
        "words": float(len(words)),
        "clauses": float(len(_CLAUSE.findall(text))),
        "questions": float(text.count("?")),
        "technical": float(technical),
        "code": float(bool(_CODE.search(text))),
        "lists": float(len(_LIST.findall(text))),
    }
    score = (
        c.w_length * min(features["words"] / c.words_full, 1.0)
        + c.w_clauses * min(features["clauses"], 8) / 8
        + c.w_questions * min(features["questions"], 3) / 3
        + c.w_technical * min(features["technical"], 4) / 4
        + c.w_code * features["code"]
        + c.w_lists * min(features["lists"], 4) / 4
    )
    return Complexity(score=round(score, 4), features=features)


def choose_tier(text: str, route: Route | None = None, config: TierConfig | None = None) -> Tier:
    """'cheap' or 'strong': the route's fixed tier, else by the complexity score."""
    if route is not None and route.tier != "auto":
        return route.tier
    c = config or TierConfig()
    return "strong" if complexity(text, c).score >= c.strong_at else "cheap"
