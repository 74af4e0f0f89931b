"""The wire protocol between the review stages and their models (Gemini or offline).

Clause check: the request carries one section as ``<<<SECTION index=I start=S chars=N>>>``
+ exactly N characters + ``<<<END SECTION>>>``; the reply is ``{"findings": [{category,
quote, reason}]}``. The header carries the length, so text inside the section can never
forge the end marker. A reply is trusted only as far as it can be checked: categories must
be in the rulebook (risk always comes from the rulebook, never from the model) and quotes
must occur in the section (hallucinated quotes are dropped).

Judging: the request is ``{"category", "definition", "clause"}`` as JSON; the reply is
``{"label": "present"|"absent", "confidence", "reason"}``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from coordinator import ModelError

from .rulebook import Rulebook
from .splitter import Section

__all__ = [
    "CheckedFinding",
    "JudgeReply",
    "ModelFinding",
    "judge_message",
    "locate",
    "parse_findings",
    "parse_judge_message",
    "parse_judge_reply",
    "parse_section_message",
    "section_message",
]

_HEADER = re.compile(r"<<<SECTION index=(\d+) start=(\d+) chars=(\d+)(?: title=(.*?))?>>>\n")
_END = "\n<<<END SECTION>>>"
_FENCE = re.compile(r"^\s*```(?:json)?\s*|\s*```\s*$", re.I)
_WS = re.compile(r"\s+")


def section_message(section: Section) -> str:
    """The user message of a clause-check request for one section."""
    title = f" title={_WS.sub(' ', section.title)[:80]}" if section.title else ""
    return (
        f"<<<SECTION index={section.index} start={section.start} chars={len(section.text)}"
        f"{title}>>>\n{section.text}{_END}"
    )


def parse_section_message(message: str) -> Section:
    """Inverse of `section_message` (what the offline clause-check model reads)."""
    m = _HEADER.search(message)
    if m is None:
        raise ModelError("clause-check request carries no <<<SECTION ...>>> header")
    index, start, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
    text = message[m.end() : m.end() + n]
    if len(text) != n:
        raise ModelError("clause-check request section is truncated")
    return Section(
        index=index, number=None, title=m.group(4), text=text, start=start, end=start + n
    )


class ModelFinding(BaseModel):
    """One finding as a model reports it (unchecked)."""

    category: str = Field(description="Category name as the model wrote it.")
    quote: str = Field(description="Clause text the model claims is in the section.")
    reason: str = Field("", description="The model's one-line reason.")


class _FindingsReply(BaseModel):
    findings: list[ModelFinding] = Field(default_factory=list)


class CheckedFinding(BaseModel):
    """A model finding that passed the checks, anchored in the document."""

    category: str = Field(description="Rulebook category name (canonical spelling).")
    section: int = Field(description="Section index.")
    text: str = Field(description="The clause, whitespace collapsed.")
    start: int = Field(description="Document offset of the clause start.")
    end: int = Field(description="Document offset one past the clause end.")
    risk: Literal["low", "medium", "high"] = Field(description="From the rulebook.")
    reason: str = Field("", description="Why it was flagged.")


def _json_object(text: str) -> Any:
    body = _FENCE.sub("", text.strip())
    try:
        return json.loads(body)
    except json.JSONDecodeError:
        # Tolerate prose around one JSON object (models do that).
        lo, hi = body.find("{"), body.rfind("}")
        if lo == -1 or hi <= lo:
            raise ModelError(f"reply is not JSON: {text[:80]!r}") from None
        try:
            return json.loads(body[lo : hi + 1])
        except json.JSONDecodeError as exc:
            raise ModelError(f"reply is not valid JSON: {exc.msg} at {exc.pos}") from None


def locate(quote: str, text: str) -> tuple[int, int] | None:
    """(start, end) of `quote` in `text`, ignoring whitespace differences; None if absent."""
    words = quote.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, text)
    return (m.start(), m.end()) if m else None


def parse_findings(reply: str, section: Section, rulebook: Rulebook) -> list[CheckedFinding]:
    """Checked findings from a clause-check reply; `ModelError` if the reply is unusable.

    Unknown categories and quotes that are not in the section are dropped: a model cannot
    invent a clause or a category, and cannot change a category's risk.
    """
    try:
        parsed = _FindingsReply.model_validate(_json_object(reply))
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"]
        raise ModelError(f"clause-check reply has the wrong shape: {msg}") from None
    out: list[CheckedFinding] = []
    seen: set[tuple[str, int]] = set()
    for f in parsed.findings:
        try:
            rule = rulebook.get(f.category.strip())
        except KeyError:
            continue
        span = locate(f.quote, section.text)
        if span is None:
            continue
        key = (rule.name, span[0])
        if key in seen:
            continue
        seen.add(key)
        out.append(
            CheckedFinding(
                category=rule.name,
                section=section.index,
                text=_WS.sub(" ", f.quote).strip(),
                start=section.start + span[0],
                end=section.start + span[1],
                risk=rule.risk,
                reason=f.reason,
            )
        )
    return out


def judge_message(category: str, definition: str, clause: str) -> str:
    """The user message of a judge request."""
    return json.dumps({"category": category, "definition": definition, "clause": clause})


def parse_judge_message(message: str) -> tuple[str, str]:
    """(category, clause) from a judge request (what the offline judges read)."""
    data = _json_object(message)
    if not isinstance(data, dict) or "category" not in data or "clause" not in data:
        raise ModelError("judge request needs 'category' and 'clause'")
    return str(data["category"]), str(data["clause"])


class JudgeReply(BaseModel):
    """A judge's answer."""

    label: Literal["present", "absent"]
    confidence: float = Field(0.5, ge=0, le=1)
    reason: str = ""


def parse_judge_reply(reply: str) -> JudgeReply:
    """A judge's reply; `ModelError` if it is not the expected JSON."""
    data = _json_object(reply)
    if isinstance(data, dict) and isinstance(data.get("label"), str):
        data["label"] = data["label"].strip().lower()
    try:
        return JudgeReply.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"judge reply has the wrong shape: {exc.errors()[0]['msg']}") from None
