"""Run one document review agent on a document, outside the coordinator.

The review agents are ordinary ADK agents, offered by the app as review kinds
(`AppSpec.review_kinds`, see `coordinator.app_spec`); this runner gives one an in-memory
session, sends the document as the user message, and returns the typed report the agent
left in state. The CLI (`coordinator review FILE`) and benchmarks use it; the coordinator
reaches the same agents by routing instead.

    report = run_review_sync("contract", text)
    report.categories_found, report.failed_branches

`split_request` and `detect_kind` live in their own modules and are re-exported here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types
from pydantic import BaseModel, Field

from coordinator import _warnings  # noqa: F401  (precise ADK deprecation filter)
from coordinator.app_spec import ReviewKindSpec, load_app
from coordinator.errors import ModelError, UsageError
from coordinator.inputs.document_kind import DocumentKind, detect_kind
from coordinator.inputs.request_split import split_request

__all__ = [
    "ProgressFn",
    "ReviewKind",
    "ReviewRun",
    "detect_kind",
    "review_kind",
    "run_review",
    "run_review_sync",
    "split_request",
]

ReviewKind = DocumentKind
ProgressFn = Callable[[str, int, int], Any]
"""`(stage, done, total)`, called as branches finish."""


class ReviewRun(BaseModel):
    """What one review produced: the report, the answer text, and the raw state keys."""

    kind: str
    report: Any
    text: str
    state_keys: list[str]
    wall_ms: float
    render: Any = Field(None, exclude=True, description="`(report, fmt) -> str`, if any.")


def review_kind(kind: str) -> ReviewKindSpec:
    """The app's review `kind`, or `UsageError` naming the kinds it offers."""
    kinds = load_app().review_kinds
    if kind not in kinds:
        raise UsageError(f"unknown review kind {kind!r}; use one of {', '.join(kinds)}")
    return kinds[kind]


async def run_review(
    kind: str,
    text: str,
    *,
    agent: Any = None,
    on_progress: ProgressFn | None = None,
    **build_options: Any,
) -> ReviewRun:
    """Run the `kind` review agent on `text` in a fresh in-memory session."""
    spec = review_kind(kind)
    if not isinstance(text, str) or not text.strip():
        raise UsageError("nothing to review: the document is empty")
    if agent is None:
        agent = spec.build_agent(on_progress=on_progress, **build_options)
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
    raw = state.get(spec.report_key)
    if raw is None:
        raise ModelError(f"{kind} review produced no report")
    return ReviewRun(
        kind=kind,
        report=spec.report_type.model_validate(raw),
        text="\n".join(answer),
        state_keys=sorted(state),
        wall_ms=(time.perf_counter() - t0) * 1000,
        render=spec.render,
    )


def run_review_sync(kind: str, text: str, **options: Any) -> ReviewRun:
    """`run_review` from synchronous code."""
    return anyio.run(lambda: run_review(kind, text, **options))
