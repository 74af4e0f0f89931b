"""COORDINATOR_MAX_SECTIONS: a contract review of an over-long document reviews the first
N sections and says so in the answer, instead of planning thousands of branches."""

from __future__ import annotations

import pytest
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.genai import types

from agents.contract_review.agent import build_agent
from coordinator.settings import reset_settings

pytestmark = pytest.mark.anyio

SECTION = "{n}. Term. This Agreement shall remain in force for {n} years unless terminated. " * 3


async def _answer(text: str) -> tuple[str, dict]:
    sessions = InMemorySessionService()
    runner = Runner(app_name="contract_review", agent=build_agent(), session_service=sessions)
    session = await sessions.create_session(app_name="contract_review", user_id="u")
    message = types.Content(role="user", parts=[types.Part(text=text)])
    texts = []
    async for event in runner.run_async(user_id="u", session_id=session.id, new_message=message):
        for part in (event.content.parts if event.content else None) or []:
            if part.text:
                texts.append(part.text)
    final = await sessions.get_session(
        app_name="contract_review", user_id="u", session_id=session.id
    )
    return "\n".join(texts), dict(final.state)


async def test_a_document_over_the_section_cap_is_reviewed_up_to_it_and_says_so(monkeypatch):
    document = "\n\n".join(SECTION.format(n=i) * 20 for i in range(1, 13))
    monkeypatch.setenv("COORDINATOR_MAX_SECTIONS", "1000")
    reset_settings()
    text, state = await _answer(document)
    total = state["contract_review:report"]["sections"]
    assert total > 3 and "not_reviewed" not in str(state) and "only the first" not in text

    monkeypatch.setenv("COORDINATOR_MAX_SECTIONS", "3")
    reset_settings()
    text, state = await _answer(document)
    assert f"has {total} sections; only the first 3 were reviewed" in text
    assert "COORDINATOR_MAX_SECTIONS" in state["contract_review:sections_not_reviewed"]
    assert state["contract_review:report"]["sections"] == 3
