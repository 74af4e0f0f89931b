"""The Python API end to end on the real tree: Reply fields, streaming, sessions."""

from __future__ import annotations

import pytest


@pytest.mark.anyio
async def test_reply_fields_and_streamed_progress(coordinator):
    seen = []
    reply = await coordinator.ask_async(
        "I was charged twice for my subscription this month",
        user_id="alice",
        on_event=seen.append,
    )
    assert (reply.route, reply.method) == ("billing", "classifier")
    assert 0.5 < reply.confidence <= 1.0
    assert "overcharged" in reply.text and reply.offline and reply.latency_ms > 0
    assert reply.usage.llm_calls == 2  # billing: tool call, then answer; routing used none
    kinds = [e.kind for e in seen]
    assert kinds[0] == "session" and kinds[-1] == "final"
    assert kinds.index("route") < kinds.index("tool_call") < kinds.index("tool_result")
    route = next(e for e in seen if e.kind == "route")
    assert route.data["route"] == "billing" and route.data["method"] == "classifier"


@pytest.mark.anyio
async def test_a_session_continues_and_is_routed_again(coordinator):
    first = await coordinator.ask_async("show my last invoice", user_id="alice")
    second = await coordinator.ask_async(
        "I want my money back for order 1001", user_id="alice", session_id=first.session_id
    )
    assert second.session_id == first.session_id
    assert (first.route, second.route) == ("billing", "refund")
    session = await coordinator.session_service.get_session(
        app_name=coordinator.app_name, user_id="alice", session_id=first.session_id
    )
    assert [e.author for e in session.events].count("user") == 2


CONTRACT = (
    "review this contract: 1. Term. This Agreement lasts one year. 2. Governing law. "
    "The laws of New York govern. 3. Non-compete. The Supplier shall not compete."
)


@pytest.mark.anyio
@pytest.mark.parametrize("text", ["I was charged twice this month", CONTRACT])
async def test_stream_ends_with_the_final_answer(coordinator, text):
    kinds = [ev.kind async for ev in coordinator.stream(text, user_id="alice")]
    assert kinds[-1] == "final"
    first_final = kinds.index("final")
    assert set(kinds[first_final:]) == {"final"}, kinds  # nothing after the answer
    if text is CONTRACT:
        assert "partial" in kinds  # the pipeline's progress came before the answer


@pytest.mark.anyio
async def test_coordinator_is_built_and_used_inside_a_running_loop(_root):
    from coordinator.api import Coordinator
    from coordinator.errors import UsageError

    c = Coordinator(agent=_root)  # warm-up on: must not call anyio.run on this loop
    reply = await c.ask_async("show my last invoice", user_id="alice")
    assert reply.route == "billing"
    with pytest.raises(UsageError, match=r"await coordinator\.ask_async"):
        c.ask("show my last invoice", user_id="alice")


@pytest.mark.anyio
async def test_concurrent_turns_in_one_session_run_one_after_another(coordinator):
    """Three turns at once in one (new) session: each is answered, none is lost, and the
    history holds them in turn (before: two AlreadyExistsError / stale-session failures)."""
    import asyncio

    texts = ["I was charged twice", "the app crashes on login", "show my last invoice"]
    replies = await asyncio.gather(
        *[coordinator.ask_async(t, user_id="alice", session_id="same") for t in texts]
    )
    assert [r.route for r in replies] == ["billing", "technical_support", "billing"]
    session = await coordinator.session_service.get_session(
        app_name=coordinator.app_name, user_id="alice", session_id="same"
    )
    users = [e.content.parts[0].text for e in session.events if e.author == "user"]
    assert users == texts
    assert len({e.id for e in session.events}) == len(session.events)
