"""Run one review agent (contract or security) on a document, outside the coordinator.

The review agents are ordinary ADK agents; this runner gives them an in-memory session,
sends the document as the user message, and returns the typed report the agent left in
state. The CLI (`coordinator review FILE`) and benchmarks use it; the coordinator reaches
the same agents by routing instead.

    report = run_review_sync("contract", text)
    report.categories_found, report.failed_branches
"""

from __future__ import annotations

import importlib
import re
import time
import uuid
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel

from coordinator.errors import ModelError, UsageError

__all__ = [
    "KINDS",
    "ProgressFn",
    "ReviewKind",
    "ReviewRun",
    "detect_kind",
    "run_review",
    "run_review_sync",
    "split_request",
]

ReviewKind = Literal["contract", "security"]
ProgressFn = Callable[[str, int, int], Any]
"""`(stage, done, total)`, called as branches finish."""

# kind -> (agent module exposing build_agent + REPORT_KEY, report class attribute)
KINDS: dict[str, str] = {
    "contract": "agents.contract_review.agent",
    "security": "agents.security_review.agent",
}

_REQUEST_VERBS = re.compile(
    r"^\s*(?:please\s+)?(?:review|check|analy[sz]e|audit|scan|look at|find|go through|"
    r"can you|could you|is|are|does|do|what|which|tell me|flag|summari[sz]e|judge)\b",
    re.I,
)


def split_request(message: str) -> tuple[str | None, str]:
    """(request line, document) of a user message.

    A short first line that reads like a request ("review this contract:", "is this
    vulnerable?") followed by more text is the request; the rest is the document. Anything
    else is all document. The document is data either way: it is never interpreted.
    """
    head, sep, rest = message.partition("\n")
    if sep and rest.strip() and len(head) <= 200:
        stripped = head.strip()
        looks_like_request = stripped.endswith(("?", ":")) or _REQUEST_VERBS.match(stripped)
        if looks_like_request and not re.search(r"[;{}=]|\bdef\b|\bimport\b", stripped):
            return stripped, rest
    return None, message


_CODE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|function |const |let |var |#include|"
    r"public |package |SELECT |<\?php|#!/|[\w.]+\s*=\s*\S|[}{]\s*$)|\w\(.*\)\s*;?\s*$",
    re.M,
)
_LEGAL = re.compile(
    r"\b(?:agreement|shall|party|parties|hereto|hereby|hereinafter|whereas|licensor|"
    r"licensee|indemnif\w*|termination|governing law|warrant\w*)\b",
    re.I,
)


def detect_kind(text: str) -> ReviewKind:
    """Contract (legal prose) or security (code/config), from line shapes and legal words."""
    sample = text[:20_000]
    lines = max(1, sum(1 for line in sample.splitlines() if line.strip()))
    code = len(_CODE.findall(sample)) / lines
    legal = len(_LEGAL.findall(sample)) / max(1, len(sample.split())) * 100
    return "security" if code > 0.3 and legal < 2.0 else "contract"


class ReviewRun(BaseModel):
    """What one review produced: the report, the answer text, and the raw state keys."""

    kind: str
    report: Any
    text: str
    state_keys: list[str]
    wall_ms: float


def _module(kind: str):
    if kind not in KINDS:
        raise UsageError(f"unknown review kind {kind!r}; use one of {', '.join(KINDS)}")
    return importlib.import_module(KINDS[kind])


async def run_review(
    kind: ReviewKind,
    text: str,
    *,
    agent: Any = None,
    on_progress: ProgressFn | None = None,
    **build_options: Any,
) -> ReviewRun:
    """Run the `kind` review agent on `text` in a fresh in-memory session."""
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.genai import types

    from coordinator import _warnings  # noqa: F401

    module = _module(kind)
    if not isinstance(text, str) or not text.strip():
        raise UsageError("nothing to review: the document is empty")
    if agent is None:
        agent = module.build_agent(on_progress=on_progress, **build_options)
    t0 = time.perf_counter()
    sessions = InMemorySessionService()
    runner = Runner(app_name=f"{kind}_review", agent=agent, session_service=sessions)
    session = await sessions.create_session(
        app_name=f"{kind}_review", user_id="reviewer", session_id=uuid.uuid4().hex
    )
    answer: list[str] = []
    message = types.Content(role="user", parts=[types.Part(text=text)])
    try:
        async for event in runner.run_async(
            user_id="reviewer", session_id=session.id, new_message=message
        ):
            for part in (event.content.parts if event.content else None) or []:
                if part.text and not part.thought and event.is_final_response():
                    answer.append(part.text)
    except UsageError:
        raise
    except Exception as exc:  # a crash inside ADK or a model: one clear line
        raise ModelError(f"{kind} review failed: {type(exc).__name__}: {exc}") from exc
    final = await sessions.get_session(
        app_name=f"{kind}_review", user_id="reviewer", session_id=session.id
    )
    state = dict(final.state) if final is not None else {}
    raw = state.get(module.REPORT_KEY)
    if raw is None:
        raise ModelError(f"{kind} review produced no report")
    return ReviewRun(
        kind=kind,
        report=module.REPORT_TYPE.model_validate(raw),
        text="\n".join(answer),
        state_keys=sorted(state),
        wall_ms=(time.perf_counter() - t0) * 1000,
    )


def run_review_sync(kind: ReviewKind, text: str, **options: Any) -> ReviewRun:
    """`run_review` from synchronous code."""
    import anyio

    return anyio.run(lambda: run_review(kind, text, **options))
