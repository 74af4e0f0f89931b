"""Offline behaviour of the contract review models (deterministic, from the rulebook).

Each policy reads the same request a Gemini model would get and answers in the same JSON
protocol (`protocol.py`), so the stages cannot tell them apart and the parsing is shared.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse

from coordinator import last_user_text, text_response, user_text

from .clauses import ClauseJudge, JudgeQuestion, RuleJudge, check_section
from .protocol import parse_judge_message, parse_section_message
from .rulebook import Rulebook

__all__ = ["clause_check_policy", "judge_policy"]


def clause_check_policy(
    rulebook: Rulebook, rule_judge: RuleJudge | None = None
) -> Callable[[LlmRequest], LlmResponse]:
    """Cue candidates of the section, kept when the rule judge (cues + co-cues - vetoes) agrees.

    The section is data: it is matched against regexes, never followed.
    """
    judge = rule_judge or RuleJudge(rulebook)

    def policy(req: LlmRequest) -> LlmResponse:
        section = parse_section_message(last_user_text_raw(req))
        findings = []
        for f in check_section(section, rulebook):
            vote = judge(JudgeQuestion(category=f.category, clause=f.text))
            if vote.present:
                findings.append({"category": f.category, "quote": f.text, "reason": vote.reason})
        return text_response(json.dumps({"findings": findings}))

    return policy


def last_user_text_raw(req: LlmRequest) -> str:
    """The latest user message exactly as sent (sections keep their leading whitespace)."""
    for content in reversed(req.contents):
        if content.role == "user" and (text := user_text(content, raw=True)):
            return text
    return last_user_text(req)


def judge_policy(get_judge: Callable[[], ClauseJudge]) -> Callable[[LlmRequest], LlmResponse]:
    """One offline judge answering the judge protocol."""

    def policy(req: LlmRequest) -> LlmResponse:
        category, clause = parse_judge_message(last_user_text(req))
        vote = get_judge()(JudgeQuestion(category=category, clause=clause))
        return text_response(
            json.dumps(
                {
                    "label": "present" if vote.present else "absent",
                    "confidence": round(vote.confidence, 3),
                    "reason": vote.reason,
                }
            )
        )

    return policy
