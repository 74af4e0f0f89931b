"""The fan-out engine: partial failure, timeouts, retries, limits, one final state event."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anyio
import pytest
from google.adk.agents import LlmAgent, SequentialAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.tools import FunctionTool
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import PrivateAttr

from coordinator import _warnings  # noqa: F401
from coordinator.errors import UsageError
from coordinator.models.offline import OfflineLlm, last_user_text, text_response
from coordinator.parallel.fanout import (
    AgentBranch,
    Branch,
    FanOutAgent,
    RetryPolicy,
    Step,
    branch_request,
    build_parallel_agent,
    check_independent,
    fan_out,
    is_retryable,
    retry_after_s,
    run_config_for,
    side_effecting,
    specialized_request,
)


async def no_sleep(_: float) -> None:
    await anyio.sleep(0)


class FlakyLlm(BaseLlm):
    """Fails with 503 `failures` times, then answers; records the backoff it was given."""

    failures: int = 0
    _calls: int = PrivateAttr(default=0)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self._calls += 1
        if self._calls <= self.failures:
            raise genai_errors.ServerError(503, {"error": {"message": "overloaded"}})
        yield text_response("ok after retries")


async def _run_agent(agent, text: str, run_config=None) -> tuple[list, dict]:
    """One Runner request of `agent` in a fresh in-memory session: (events, final state)."""
    service = InMemorySessionService()
    runner = Runner(app_name="t", agent=agent, session_service=service)
    session = await service.create_session(app_name="t", user_id="u")
    events = [
        e
        async for e in runner.run_async(
            user_id="u",
            session_id=session.id,
            new_message=types.Content(role="user", parts=[types.Part(text=text)]),
            run_config=run_config,
        )
    ]
    stored = await service.get_session(app_name="t", user_id="u", session_id=session.id)
    return events, stored.state


def echo_llm() -> OfflineLlm:
    return OfflineLlm(
        model="offline/echo", policy=lambda req: text_response("seen: " + last_user_text(req))
    )


@pytest.mark.anyio
async def test_one_failing_branch_does_not_cancel_siblings():
    finished = []

    async def good(i: int):
        await anyio.sleep(0.01)
        finished.append(i)
        return i * 10

    async def bad():
        raise ValueError("clause parser exploded")

    tasks = [Branch(id=f"b{i}", call=lambda i=i: good(i)) for i in range(4)]
    tasks.insert(2, Branch(id="broken", call=bad))
    result = await fan_out(tasks, retries=2, sleep=no_sleep)

    assert sorted(finished) == [0, 1, 2, 3]
    assert result.outputs == {"b0": 0, "b1": 10, "b2": 20, "b3": 30}
    assert [f.branch_id for f in result.failed_branches] == ["broken"]
    assert "ValueError: clause parser exploded" in result.failed_branches[0].reason
    # Not retryable: attempted once.
    assert next(r for r in result.results if r.branch_id == "broken").attempts == 1
    assert result.order == ["b0", "b1", "broken", "b2", "b3"]


@pytest.mark.anyio
async def test_branch_timeout_is_reported_and_retried():
    async def hangs():
        await anyio.sleep(30)

    async def quick():
        return "fine"

    result = await fan_out(
        [Branch(id="slow", call=hangs), Branch(id="fast", call=quick)],
        timeout=0.05,
        retries=1,
        sleep=no_sleep,
    )
    assert result.outputs == {"fast": "fine"}
    (failed,) = result.failed_branches
    assert failed.branch_id == "slow" and failed.reason.startswith("TimeoutError")
    assert result.results[0].attempts == 2  # timeouts are retryable


@pytest.mark.anyio
async def test_retry_succeeds_after_503s_with_growing_backoff():
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    llm = FlakyLlm(model="flaky", failures=3)
    policy = RetryPolicy(retries=3, base_delay_s=0.1, jitter=0.0)
    result = await fan_out(
        [Branch(id="only", model=llm, request=branch_request("hi"))],
        retry_policy=policy,
        sleep=record,
    )
    (only,) = result.results
    assert only.ok and only.output == "ok after retries"
    assert only.attempts == 4 and only.usage.llm_calls == 4
    assert waits == pytest.approx([0.1, 0.2, 0.4])


@pytest.mark.anyio
async def test_retries_exhausted_marks_branch_failed():
    llm = FlakyLlm(model="flaky", failures=10)
    result = await fan_out(
        [Branch(id="x", model=llm, request=branch_request("hi"))], retries=2, sleep=no_sleep
    )
    assert result.failed_branches[0].reason.startswith("ServerError: 503")
    assert result.results[0].attempts == 3


@pytest.mark.anyio
async def test_a_call_budget_below_the_plan_stops_attempts_across_branches():
    """max_llm_calls below N x (1 + retries) is shared by all branches: once spent, the
    remaining attempts are refused and reported; a budget at the plan never binds."""
    llm = FlakyLlm(model="flaky", failures=10)
    branches = [Branch(id=f"b{i}", model=llm, request=branch_request("hi")) for i in range(3)]
    result = await fan_out(branches, retries=2, max_llm_calls=4, sleep=no_sleep)
    assert llm._calls == 4 and sum(r.attempts for r in result.results) == 4
    assert any("call budget of 4 exhausted" in f.reason for f in result.failed_branches)
    llm2 = FlakyLlm(model="flaky", failures=10)
    branches = [Branch(id=f"b{i}", model=llm2, request=branch_request("hi")) for i in range(3)]
    result = await fan_out(branches, retries=2, max_llm_calls=9, sleep=no_sleep)
    assert llm2._calls == 9 and all(r.attempts == 3 for r in result.results)


def test_branch_calls_are_priced_by_the_longest_known_model_prefix():
    """Prices are looked up once per model name (cached): the lookup must still pick the
    longest prefix, price offline models at 0 and unknown ones as None."""
    from coordinator.models.usage import estimate_cost_usd

    assert estimate_cost_usd("gemini-2.5-flash-lite-001", 1_000_000, 0) == pytest.approx(0.10)
    assert estimate_cost_usd("models/gemini-2.5-flash", 1_000_000, 1_000_000) == pytest.approx(2.80)
    assert estimate_cost_usd("gemini-2.5-flash-lite-001", 0, 1_000_000) == pytest.approx(0.40)
    assert estimate_cost_usd("offline/echo", 500, 500) == 0.0
    assert estimate_cost_usd("simulated", 24, 10) == 0.0
    assert estimate_cost_usd("some-other-model", 1, 1) is None
    assert estimate_cost_usd(None, 1, 1) is None and estimate_cost_usd("", 1, 1) is None


def test_retryable_errors_and_retry_after():
    assert is_retryable(genai_errors.ClientError(429, {"error": {"message": "slow down"}}))
    assert is_retryable(genai_errors.ServerError(500, {"error": {}}))
    assert is_retryable(TimeoutError())
    assert not is_retryable(genai_errors.ClientError(400, {"error": {"message": "bad"}}))
    assert not is_retryable(ValueError("nope"))
    exc = genai_errors.ClientError(
        429,
        {
            "error": {
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}
                ]
            }
        },
    )
    assert retry_after_s(exc) == 7.0
    assert RetryPolicy(max_retry_after_s=5).delay(0, exc) == 5.0


@pytest.mark.anyio
async def test_max_concurrency_is_respected():
    active = peak = 0

    async def work():
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await anyio.sleep(0.005)
        active -= 1
        return True

    result = await fan_out([work] * 40, limit=3)
    assert len(result.outputs) == 40
    assert peak == 3


@pytest.mark.anyio
async def test_progress_callback_sees_every_branch():
    seen = []

    async def work():
        return 1

    await fan_out([work] * 5, on_progress=lambda done, total, r: seen.append((done, total)))
    assert seen == [(i, 5) for i in range(1, 6)]


@pytest.mark.anyio
async def test_call_budget_sized_to_fanout_and_hard_cap():
    async def work():
        return 1

    result = await fan_out([work] * 10, retries=2)
    assert result.planned_llm_calls == 30
    with pytest.raises(UsageError, match="above the cap"):
        await fan_out([work] * 10, retries=2, max_llm_calls_cap=25)
    assert run_config_for(1000, retries=1).max_llm_calls == 2000


@pytest.mark.anyio
async def test_duplicate_branch_ids_refused():
    async def work():
        return 1

    with pytest.raises(UsageError, match="duplicate branch ids"):
        await fan_out([Branch(id="a", call=work), Branch(id="a", call=work)])


@pytest.mark.anyio
async def test_side_effecting_tools_refused_in_branches():
    @side_effecting
    def issue_refund(order_id: str) -> dict:
        return {"status": "refunded"}

    request = branch_request("refund it")
    request.tools_dict["issue_refund"] = FunctionTool(issue_refund)
    with pytest.raises(UsageError, match="issue_refund"):
        await fan_out([Branch(id="a", model=echo_llm(), request=request)])

    def lookup(order_id: str) -> dict:
        return {}

    request2 = branch_request("x")
    request2.tools_dict["lookup"] = FunctionTool(lookup)
    ok = await fan_out([Branch(id="b", model=echo_llm(), request=request2)])
    assert ok.outputs == {"b": "seen: x"}  # read-only tools are fine ...
    with pytest.raises(UsageError, match="lookup"):  # ... unless denied by name
        await fan_out([Branch(id="b", model=echo_llm(), request=request2)], deny_tools=["lookup"])
    with pytest.raises(UsageError, match="issue_refund"):
        build_parallel_agent([AgentBranch(id="a", model=echo_llm(), tools=[issue_refund])])


@pytest.mark.anyio
async def test_the_engine_marks_each_branch_and_a_side_effecting_tool_refuses_there():
    """A callable branch that runs an agent (as multi-intent parts do) reaches a
    side-effecting tool the request check never saw: the engine's own mark makes it refuse,
    while the same agent run outside a branch does act. Only the branch is marked."""
    from coordinator.models.offline import function_call, function_responses
    from coordinator.parallel.fanout import PARALLEL_REFUSAL, in_parallel_branch

    done: list[str] = []

    @side_effecting
    def issue_refund(order_id: str) -> dict:
        done.append(order_id)
        return {"status": "refunded"}

    def policy(req: LlmRequest) -> LlmResponse:
        results = function_responses(req)
        if "issue_refund" in results:
            return text_response(str(results["issue_refund"]))
        return function_call("issue_refund", {"order_id": "1001"})

    async def run_agent() -> str:
        agent = LlmAgent(
            name="refunder",
            model=OfflineLlm(model="offline/r", policy=policy),
            tools=[issue_refund],
        )
        runner = Runner(app_name="t", agent=agent, session_service=InMemorySessionService())
        session = await runner.session_service.create_session(app_name="t", user_id="u")
        said = ""
        message = types.Content(role="user", parts=[types.Part(text="refund 1001")])
        async for event in runner.run_async(
            user_id="u", session_id=session.id, new_message=message
        ):
            if event.is_final_response() and event.content:
                said = "".join(p.text or "" for p in event.content.parts or [])
        return said

    seen: list[bool] = []

    async def probe() -> bool:
        seen.append(in_parallel_branch())
        return seen[-1]

    result = await fan_out([Branch(id="agent", call=run_agent), Branch(id="probe", call=probe)])
    assert result.outputs["probe"] is True and seen == [True]
    assert PARALLEL_REFUSAL in result.outputs["agent"] and done == []
    assert not in_parallel_branch()  # the caller's context is not marked
    assert "refunded" in await run_agent() and done == ["1001"]


def test_check_independent_refuses_dependent_steps():
    split = Step(name="split", writes=["sections"])
    check = Step(name="check", reads=["sections"], writes=["checks:*"])
    vote = Step(name="vote", depends_on=["check"], writes=["votes"])
    with pytest.raises(UsageError) as info:
        check_independent([split, check])
    assert "'check' reads sections written by 'split'" in str(info.value)
    with pytest.raises(UsageError, match="'vote' depends on 'check'"):
        check_independent([check, vote])
    with pytest.raises(UsageError, match="both write"):
        check_independent([Step(name="a", writes=["checks:1"]), check])
    # Truly independent sections are fine.
    check_independent([Step(name=f"s{i}", reads=["doc"], writes=[f"checks:{i}"]) for i in range(3)])


@pytest.mark.anyio
async def test_fanout_agent_writes_300_distinct_keys_in_one_final_event():
    llm = echo_llm()
    n = 300

    def plan(ctx):
        return [
            Branch(id=f"s{i}", model=llm, request=branch_request(f"section {i}")) for i in range(n)
        ]

    agent = FanOutAgent(name="checks", plan=plan, max_concurrency=50)
    events, stored = await _run_agent(agent, "review")
    with_state = [e for e in events if e.actions and e.actions.state_delta]
    assert len(with_state) == 1
    delta = with_state[0].actions.state_delta
    keys = [k for k in delta if k != "checks:_meta"]
    assert len(keys) == len(set(keys)) == n
    assert all(stored[f"checks:s{i}"] == f"seen: section {i}" for i in range(n))
    meta = stored["checks:_meta"]
    assert meta["failed_branches"] == [] and len(meta["order"]) == n
    assert meta["usage"]["llm_calls"] == n and meta["usage"]["prompt_tokens"] > 0


@pytest.mark.anyio
async def test_fanout_agent_state_matches_what_fan_out_reports():
    """The agent writes from the engine's per-branch records (no BranchResult per branch):
    outputs, failures, order and usage must be what `fan_out` reports for the same work,
    and a progress callback still gets a BranchResult per branch."""
    from coordinator.models.usage import Usage
    from coordinator.parallel.fanout import BranchResult, Metered

    def make_branches():
        async def table():
            return {"rows": [1, 2]}

        async def broken():
            raise ValueError("bad clause")

        async def metered():
            return Metered(value="m", usage=Usage(llm_calls=2, prompt_tokens=5))

        return [
            Branch(id="model", model=echo_llm(), request=branch_request("clause 1")),
            Branch(id="table", call=table),
            Branch(id="broken", call=broken),
            Branch(id="metered", call=metered, calls_per_attempt=2),
        ]

    reference = await fan_out(make_branches(), retries=0)
    progress: list[tuple[int, int, Any]] = []
    agent = FanOutAgent(
        name="mix",
        plan=lambda ctx: make_branches(),
        retries=0,
        on_progress=lambda done, total, r: progress.append((done, total, r)),
    )
    events, stored = await _run_agent(agent, "go")
    assert stored["mix:model"] == reference.outputs["model"] == "seen: clause 1"
    assert stored["mix:table"] == {"rows": [1, 2]} and stored["mix:metered"] == "m"
    assert "mix:broken" not in stored
    meta = stored["mix:_meta"]
    assert meta["order"] == ["model", "table", "broken", "metered"] == reference.order
    assert meta["failed_branches"] == [f.model_dump() for f in reference.failed_branches]
    assert meta["failed_branches"][0]["reason"] == "ValueError: bad clause"
    ref_usage = reference.usage.model_dump(mode="json")
    for key in ("llm_calls", "prompt_tokens", "completion_tokens", "cost_estimate_usd"):
        assert meta["usage"][key] == ref_usage[key], key
    assert meta["usage"]["llm_calls"] == 1 + 2  # the model call and the metered two
    assert meta["planned_llm_calls"] == 4
    assert "3/4 branches completed; missing: broken" in events[-1].content.parts[0].text
    assert [(d, t) for d, t, _ in progress] == [(i, 4) for i in range(1, 5)]
    assert all(isinstance(r, BranchResult) for _, _, r in progress)
    assert {r.branch_id: r.ok for _, _, r in progress} == {
        "model": True,
        "table": True,
        "broken": False,
        "metered": True,
    }


@pytest.mark.anyio
async def test_build_parallel_agent_uses_distinct_output_keys():
    agent = build_parallel_agent(
        [AgentBranch(id=f"c{i}", model=echo_llm(), instruction="check") for i in range(3)],
        name="clauses",
    )
    pipeline = SequentialAgent(name="pipe", sub_agents=[agent])
    _, state = await _run_agent(pipeline, "the contract", run_config_for(3))
    assert {k: v for k, v in state.items() if k.startswith("clauses:")} == {
        f"clauses:c{i}": "seen: the contract" for i in range(3)
    }


class MutatingLlm(BaseLlm):
    """Records what each call's request held, then changes that request the way models and
    flows do (contents, config, tools, ADK's private instruction list)."""

    _seen: list[tuple[str, int, list[str], list[str]]] = PrivateAttr(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        await anyio.sleep(0.001)  # let the other branches start before this one mutates
        self._seen.append(
            (
                str(llm_request.config.system_instruction),
                len(llm_request.contents),
                sorted(llm_request.tools_dict),
                list(llm_request._dynamic_instructions),
            )
        )
        instruction = str(llm_request.config.system_instruction)
        llm_request.contents.append(types.Content(role="model", parts=[types.Part(text="x")]))
        llm_request.config.system_instruction = "overwritten"
        llm_request.config.temperature = 1.5
        llm_request.tools_dict["leaked"] = FunctionTool(lambda: None)
        llm_request._dynamic_instructions.append("leaked")
        yield text_response("done: " + instruction.rsplit("\n", 1)[-1])


@pytest.mark.anyio
async def test_branches_sharing_a_template_stay_independent():
    """One shared request, six instructions: each branch calls its own copy, so what one
    branch's model does to its request reaches neither its siblings nor the template."""
    template = branch_request("review this", system_instruction="You check clauses.")
    llm = MutatingLlm(model="offline/mutating")
    branches = [
        Branch(id=f"t{i}", model=llm, request=template, instruction=f"Check clause {i}.")
        for i in range(6)
    ]
    result = await fan_out(branches, limit=3)
    assert result.outputs == {f"t{i}": f"done: Check clause {i}." for i in range(6)}
    seen = llm._seen
    assert sorted(s[0] for s in seen) == [
        f"You check clauses.\n\nCheck clause {i}." for i in range(6)
    ]
    assert all(s[1:] == (1, [], []) for s in seen), seen  # nothing accumulated
    assert template.config.system_instruction == "You check clauses."
    assert template.config.temperature is None
    assert len(template.contents) == 1 and template.tools_dict == {}
    assert template._dynamic_instructions == []
    # A second fan-out on the same template sees it as it was.
    again = await fan_out([Branch(id="a", model=llm, request=template, instruction="Again.")])
    assert again.outputs == {"a": "done: Again."} and llm._seen[-1][1:] == (1, [], [])


def test_branch_requests_do_not_share_mutable_state():
    a, b = branch_request("one"), branch_request("two", system_instruction="sys")
    a.contents.append(types.Content(role="model", parts=[types.Part(text="x")]))
    a.tools_dict["t"] = FunctionTool(lambda: None)
    a._dynamic_instructions.append("d")
    a.config.temperature = 0.3
    assert len(b.contents) == 1 and b.tools_dict == {} and b._dynamic_instructions == []
    assert b.config.temperature is None and b.config.system_instruction == "sys"
    assert branch_request("three")._dynamic_instructions == []


def test_a_specialized_request_is_the_model_copy_pydantic_would_make():
    """The branch copy is hand-made for speed: it must stay what `model_copy` makes (same
    values, same fields-set, so `exclude_unset` dumps agree), only with its own containers."""
    template = branch_request("review", system_instruction="You check.")
    template.config.temperature = 0.2
    template._dynamic_instructions.append("dyn")
    copy = specialized_request(template, "Clause 3.")
    expected = template.model_copy(
        update={
            "contents": list(template.contents),
            "config": template.config.model_copy(
                update={"system_instruction": "You check.\n\nClause 3."}
            ),
            "tools_dict": dict(template.tools_dict),
        }
    )
    assert type(copy) is LlmRequest and copy == expected
    assert copy.model_fields_set == expected.model_fields_set
    assert copy.config.model_fields_set == expected.config.model_fields_set
    assert copy.model_dump(exclude_unset=True) == expected.model_dump(exclude_unset=True)
    assert copy.config.model_dump(exclude_unset=True) == expected.config.model_dump(
        exclude_unset=True
    )
    assert copy.__pydantic_private__ == template.__pydantic_private__
    # its own containers: changing the copy leaves the template as it was
    copy.contents.append(types.Content(role="model", parts=[types.Part(text="x")]))
    copy.config.temperature = 0.9
    copy._dynamic_instructions.append("more")
    copy.tools_dict["t"] = FunctionTool(lambda: None)
    copy.config.seed = 7
    assert len(template.contents) == 1 and template.config.temperature == 0.2
    assert template._dynamic_instructions == ["dyn"] and template.tools_dict == {}
    assert template.config.seed is None and "seed" not in template.config.model_fields_set
    assert template.config.system_instruction == "You check."


def test_instruction_needs_a_model_branch():
    async def work():
        return 1

    with pytest.raises(ValueError, match="instruction needs model"):
        Branch(id="a", call=work, instruction="x")


@pytest.mark.anyio
async def test_a_shared_template_with_a_side_effecting_tool_is_refused():
    @side_effecting
    def issue_refund(order_id: str) -> dict:
        return {"status": "refunded"}

    template = branch_request("refund it")
    template.tools_dict["issue_refund"] = FunctionTool(issue_refund)
    branches = [
        Branch(id=f"b{i}", model=echo_llm(), request=template, instruction="x") for i in range(3)
    ]
    with pytest.raises(UsageError, match="issue_refund"):
        await fan_out(branches)


@pytest.mark.anyio
async def test_deadlines_time_out_only_slow_attempts_and_retries_get_a_fresh_one():
    """One timer serves every deadline: slow attempts among fast ones time out, a retry
    gets its own deadline, and a timeout larger than the run leaves nothing behind."""
    tries: dict[str, int] = {}

    def work(name: str, delays: list[float]):
        async def call() -> str:
            k = tries.get(name, 0)
            tries[name] = k + 1
            await anyio.sleep(delays[min(k, len(delays) - 1)])
            return name

        return call

    plan = {
        "fast": [0.0],
        "slow": [5.0],
        "slow_then_fast": [5.0, 0.0],
        "fast2": [0.01],
    }
    result = await fan_out(
        [Branch(id=k, call=work(k, v)) for k, v in plan.items()],
        timeout=0.1,
        retries=1,
        sleep=no_sleep,
    )
    assert result.outputs == {"fast": "fast", "slow_then_fast": "slow_then_fast", "fast2": "fast2"}
    by_id = {r.branch_id: r for r in result.results}
    assert by_id["slow"].error.startswith("TimeoutError") and by_id["slow"].attempts == 2
    assert by_id["slow_then_fast"].attempts == 2 and by_id["fast"].attempts == 1
    # nothing cancels this task later: a deadline of a finished fan-out is gone
    await fan_out([Branch(id="q", call=work("q", [0.0]))], timeout=0.05)
    await anyio.sleep(0.1)


@pytest.mark.anyio
async def test_the_callers_cancellation_is_not_reported_as_a_timeout():
    """Cancelling the fan-out from outside cancels it (no TimeoutError results come back),
    even when some deadlines have already fired."""
    finished: list[str] = []

    async def hangs():
        await anyio.sleep(30)
        finished.append("hangs")

    async def short_deadline_victim():
        await anyio.sleep(30)

    async def short_backoff(_: float) -> None:
        await anyio.sleep(0.03)

    outcome = None
    with anyio.move_on_after(0.2) as scope:
        outcome = await fan_out(
            [Branch(id="a", call=hangs), Branch(id="b", call=short_deadline_victim)],
            timeout=10,
            retries=0,
        )
    assert scope.cancelled_caught and outcome is None and finished == []

    with anyio.move_on_after(0.2) as scope:
        outcome = await fan_out(
            [Branch(id="a", call=hangs)], timeout=0.05, retries=5, sleep=short_backoff
        )
    assert scope.cancelled_caught and outcome is None


@pytest.mark.parametrize("bad", ["", "_meta", "a b", "tab\there", "line\n"])
def test_branch_ids_that_would_make_bad_state_keys_are_refused(bad):
    async def work():
        return 1

    with pytest.raises(ValueError, match="must be non-empty, no spaces"):
        Branch(id=bad, call=work)
    assert Branch(id="s1-f2", call=work).id == "s1-f2"
