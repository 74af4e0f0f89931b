"""Fault injection: seeded model failures against the fan-out engine and the coordinator.

Each scenario checks three things: the result still arrives (or a clear error does), it
says what failed, and the session history is neither lost nor duplicated.
"""

from __future__ import annotations

import collections
import contextlib

import pytest
from google.adk.models.llm_response import LlmResponse
from google.genai import errors

from coordinator.models.faults import ALL_FAULTS, FaultyLlm, inject_faults
from coordinator.models.offline import OfflineLlm, last_user_text, text_response
from coordinator.parallel.fanout import Branch, branch_request, fan_out, is_retryable, retry_after_s

pytestmark = pytest.mark.anyio


def _echo() -> OfflineLlm:
    return OfflineLlm(model="offline/echo", policy=lambda req: text_response(last_user_text(req)))


async def _call(llm, text: str) -> LlmResponse:
    async for response in llm.generate_content_async(branch_request(text)):
        return response
    raise AssertionError("no response")


async def _no_sleep(_seconds: float) -> None:
    return None


# --- the wrapper itself ----------------------------------------------------------------------


async def test_rate_zero_passes_through_and_rate_one_always_fails():
    ok = FaultyLlm(inner=_echo(), rate=0.0)
    assert (await _call(ok, "hello")).content.parts[0].text == "hello"
    down = FaultyLlm(inner=_echo(), rate=1.0, kinds=("unavailable",))
    for _ in range(3):
        with pytest.raises(errors.ServerError) as info:
            await _call(down, "hello")
        assert info.value.code == 503
    assert [f.kind for f in down.injected] == ["unavailable"] * 3
    assert ok.model == "faulty/offline/echo"


async def test_faults_are_seeded_and_independent_of_call_order():
    texts = [f"question {i}" for i in range(60)]

    async def run(order):
        llm = FaultyLlm(inner=_echo(), rate=0.3, seed=11, kinds=("exception",))
        failed = set()
        for t in order:
            try:
                await _call(llm, t)
            except RuntimeError:
                failed.add(t)
        return failed

    forward = await run(texts)
    assert forward == await run(list(reversed(texts)))
    assert 8 <= len(forward) <= 30  # ~30% of 60, seeded
    other_seed = FaultyLlm(inner=_echo(), rate=0.3, seed=12, kinds=("exception",))
    assert other_seed.draw(branch_request("question 0")) in (None, "exception")


async def test_each_kind_looks_like_the_real_failure():
    rate_limited = FaultyLlm(inner=_echo(), rate=1, kinds=("rate_limit",), retry_after_s=1.5)
    with pytest.raises(errors.ClientError) as info:
        await _call(rate_limited, "x")
    assert info.value.code == 429 and is_retryable(info.value)
    assert retry_after_s(info.value) == 1.5  # google.rpc.RetryInfo, as Gemini sends it

    overloaded = FaultyLlm(inner=_echo(), rate=1, kinds=("unavailable",), retry_after_s=2)
    with pytest.raises(errors.APIError) as info:
        await _call(overloaded, "x")
    assert is_retryable(info.value) and retry_after_s(info.value) == 2

    crash = FaultyLlm(inner=_echo(), rate=1, kinds=("exception",))
    with pytest.raises(RuntimeError) as info:
        await _call(crash, "x")
    assert not is_retryable(info.value)

    bogus = FaultyLlm(inner=_echo(), rate=1, kinds=("unknown_tool",))
    call = (await _call(bogus, "x")).content.parts[0].function_call
    assert call.name == "admin_override"


async def test_timeout_fault_outlives_the_branch_deadline():
    hung = FaultyLlm(inner=_echo(), rate=1, kinds=("timeout",), hang_s=30)
    result = await fan_out(
        [Branch(id="b", model=hung, request=branch_request("x"))],
        timeout=0.05,
        retries=1,
        sleep=_no_sleep,
    )
    assert result.results[0].ok is False and result.results[0].attempts == 2
    assert result.failed_branches[0].reason.startswith("TimeoutError")


# --- 30% branch failure in a fan-out ---------------------------------------------------------


async def test_thirty_percent_branch_failure_still_delivers_and_lists_the_missing():
    flaky = FaultyLlm(
        inner=_echo(),
        rate=0.3,
        seed=3,
        kinds=("rate_limit", "unavailable", "timeout", "exception"),
        hang_s=30,
    )
    branches = [
        Branch(id=f"s{i}", model=flaky, request=branch_request(f"section {i}")) for i in range(40)
    ]
    result = await fan_out(branches, limit=8, timeout=0.05, retries=3, sleep=_no_sleep)

    assert [r.branch_id for r in result.results] == [b.id for b in branches]
    ok = {r.branch_id: r for r in result.results if r.ok}
    failed = {f.branch_id: f.reason for f in result.failed_branches}
    assert set(ok) | set(failed) == {b.id for b in branches} and not set(ok) & set(failed)
    assert all(ok[b].output == f"section {b[1:]}" for b in ok)  # each answer is its own
    retried_ok = [r for r in ok.values() if r.attempts > 1]
    assert retried_ok, "some branches should have recovered on retry"
    # Transient faults are retried up to the budget; a crash ends the branch at once.
    for r in result.results:
        if not r.ok and not r.error.startswith("RuntimeError"):
            assert r.attempts == 4, r
    assert any(r.attempts == 1 for r in result.results if not r.ok)
    assert failed, "with seed 3, at least one branch fails for good"
    assert len(ok) >= 30
    assert result.usage.llm_calls == flaky.calls


# --- the coordinator with its specialists' model down -----------------------------------------


@pytest.fixture(scope="module")
def _faulty_tree_factory():
    from agents.coordinator.agent import build_root_agent

    return build_root_agent


@pytest.fixture
def coordinator_with(_faulty_tree_factory):
    from coordinator.api import Coordinator

    def make(**faults):
        root = _faulty_tree_factory()
        wrapped = inject_faults(root, **faults)
        return Coordinator(agent=root, warm_up=False), wrapped

    return make


async def _events(c, user: str, session_id: str):
    session = await c.session_service.get_session(
        app_name=c.app_name, user_id=user, session_id=session_id
    )
    return session.events


def _assert_no_duplicates(events) -> None:
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), "an event was stored twice"


async def test_specialist_down_answers_honestly_and_history_survives(coordinator_with):
    c, wrapped = coordinator_with(rate=1.0, kinds=("unavailable",))
    down = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id="down"
    )
    assert down.route == "billing" and "503" in down.text and "try again" in down.text
    events = await _events(c, "alice", "down")
    # The user's turn, the routing and the honest answer are kept, nothing else.
    assert [e.author for e in events] == ["user", "coordinator", "coordinator", "billing"]
    assert wrapped["coordinator"].calls == 0  # routing needed no model: the cascade decided
    assert wrapped["billing"].calls == 1
    before = len(events)

    wrapped["billing"].rate = 0.0  # the backend recovers; the user asks again
    reply = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id="down"
    )
    assert reply.route == "billing" and "INV-" in reply.text
    after = await _events(c, "alice", "down")
    assert after[:before] == events  # nothing lost or rewritten
    assert [e.author for e in after].count("user") == 2
    _assert_no_duplicates(after)


async def test_whole_model_down_still_routes_without_a_model(coordinator_with):
    c, wrapped = coordinator_with(rate=1.0, kinds=("unavailable",))
    reply = await c.ask_async("switch to the admin_override agent", user_id="alice", session_id="s")
    assert reply.route == "general" and "unavailable right now" in reply.text
    events = await _events(c, "alice", "s")
    transfers = [
        p.function_call.args["agent_name"]
        for e in events
        for p in (e.content.parts if e.content else [])
        if p.function_call and p.function_call.name == "transfer_to_agent"
    ]
    assert transfers == ["general"]  # the fallback route, decided with zero model calls
    assert wrapped["coordinator"].calls == 0 and wrapped["general"].calls == 1


async def test_malformed_function_calls_are_answered_and_the_turn_completes(coordinator_with):
    c, wrapped = coordinator_with(
        rate=0.5, seed=5, kinds=("unknown_tool", "bad_args"), only={"billing"}
    )
    reply = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id="m"
    )
    assert reply.route == "billing" and "INV-" in reply.text
    assert wrapped["billing"].injected, "seed 5 injects at least one malformed call"
    events = await _events(c, "alice", "m")
    _assert_no_duplicates(events)
    errors_seen = [
        p.function_response.response
        for e in events
        for p in (e.content.parts if e.content else [])
        if p.function_response and p.function_response.name in ("admin_override",)
    ]
    assert len(errors_seen) == sum(f.kind == "unknown_tool" for f in wrapped["billing"].injected)
    assert collections.Counter(e.author for e in events)["user"] == 1


async def test_a_model_stuck_in_malformed_calls_is_stopped_with_an_honest_answer(
    coordinator_with,
):
    from coordinator.api import MAX_LLM_CALLS_PER_TURN

    c, wrapped = coordinator_with(rate=1.0, kinds=("unknown_tool",), only={"billing"})
    reply = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id="loop"
    )
    assert reply.route == "billing"
    assert "stopped working on this request" in reply.text
    assert wrapped["billing"].calls <= MAX_LLM_CALLS_PER_TURN
    events = await _events(c, "alice", "loop")
    _assert_no_duplicates(events)
    assert events[-1].content.parts[0].text == reply.text  # the answer is in the history
    # Still usable ("hello" would now get a clarifying question from the coordinator).
    again = await c.ask_async("do you ship to Canada?", user_id="alice", session_id="loop")
    assert again.route == "general"


async def test_every_fault_kind_is_drawn_by_default():
    llm = FaultyLlm(inner=_echo(), rate=1.0, seed=1, hang_s=0)
    for i in range(200):
        with contextlib.suppress(Exception):
            await _call(llm, f"q{i}")
    seen = {f.kind for f in llm.injected}
    assert seen == set(ALL_FAULTS)


async def test_specialist_down_gives_an_honest_reply(coordinator_with):
    c, _ = coordinator_with(rate=1.0, kinds=("unavailable",))
    reply = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id="honest"
    )
    assert "unavailable" in reply.text.lower() and "try again" in reply.text.lower()


@pytest.mark.parametrize("seed", range(12))
async def test_malformed_calls_never_replace_real_tool_results(coordinator_with, seed):
    """The answer comes from the real tool result whatever the fault draw (the draw hashes the
    request, which holds today's invoice dates, so a fixed seed alone cannot pin it)."""
    c, _ = coordinator_with(
        rate=0.5, seed=seed, kinds=("unknown_tool", "bad_args"), only={"billing"}
    )
    reply = await c.ask_async(
        "I was charged twice for my subscription", user_id="alice", session_id=f"s{seed}"
    )
    assert "INV-" in reply.text and "couldn't complete" not in reply.text


def test_a_policy_answers_only_from_the_calls_it_made():
    from google.adk.models.llm_request import LlmRequest
    from google.genai import types

    from coordinator.models.offline import function_call, function_responses

    own = function_call("list_invoices").content.parts[0].function_call

    def response(name: str, payload: dict, call_id: str | None) -> types.Content:
        fr = types.FunctionResponse(name=name, response=payload, id=call_id)
        return types.Content(role="user", parts=[types.Part(function_response=fr)])

    req = LlmRequest(
        contents=[
            types.Content(role="user", parts=[types.Part(text="charged twice")]),
            response("list_invoices", {"status": "ok"}, own.id),
            # a glitch the policy never made: an invented tool, a real tool with bad args
            response("admin_override", {"error": "no tool"}, None),
            response("cancel_subscription", {"status": "error"}, None),
        ]
    )
    assert function_responses(req) == {"list_invoices": {"status": "ok"}}
