"""The engine as a library: the public names, and each on agents that are not ours.

Everything here is built from `from coordinator import ...` alone, on small LlmAgents
whose models are local (`offline_model`, `ScriptedLlm`), as a user's tests would be.
"""

from __future__ import annotations

import re
import subprocess
import sys

import anyio
import pytest
from google.adk.agents import LlmAgent

import coordinator
from coordinator import (
    Coordinator,
    FanOutAgent,
    ModelError,
    Route,
    ScriptedLlm,
    UsageError,
    VotingAgent,
    function_call,
    last_user_text,
    offline_model,
    routes_from_agents,
    side_effecting,
    text_response,
    with_routing,
)

pytestmark = pytest.mark.anyio


# --- the names --------------------------------------------------------------------------


def test_every_public_name_resolves_and_is_listed_once():
    exports = coordinator._EXPORTS
    assert sorted(coordinator.__all__) == sorted(exports)  # one name, one home
    for name in coordinator.__all__:
        value = getattr(coordinator, name)
        assert value is not None
        if isinstance(value, type) or (callable(value) and hasattr(value, "__module__")):
            # defined in the module the table names (not a re-export of a re-export)
            assert getattr(value, "__module__", exports[name]) in (exports[name], "typing",
                                                                    "collections.abc")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        coordinator.nope  # noqa: B018


def test_import_coordinator_stays_cheap():
    """`import coordinator` (every CLI command) loads neither ADK nor numpy nor pydantic."""
    code = (
        "import sys, coordinator\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('numpy', 'pydantic')"
        " or m.startswith('google.adk') or m.startswith('google.genai')]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- routing ----------------------------------------------------------------------------


def _answers(name: str):
    """A specialist whose offline model says who answered and what it was asked."""
    return offline_model(lambda req: text_response(f"[{name}] {last_user_text(req)}"), name=name)


def _helpdesk(**routing):
    accounts = LlmAgent(
        name="accounts", model=_answers("accounts"),
        description="Password resets, locked accounts, two-factor authentication codes.",
    )
    printers = LlmAgent(
        name="printers", model=_answers("printers"),
        description="Printers: paper jams, printing fails, toner and print queues.",
    )
    desk = LlmAgent(name="desk", model=_answers("desk"), description="Anything else.")
    root = LlmAgent(name="helpdesk", model=offline_model(), sub_agents=[accounts, printers, desk])
    return with_routing(root, fallback="desk", **routing)


def test_routes_from_descriptions_are_fragments_of_them():
    agents = _helpdesk(decision_log=False).sub_agents
    routes = routes_from_agents(agents, fallback="desk")
    assert routes.fallback == "desk"
    printers = routes.get("printers")
    assert "paper jams" in printers.utterances
    assert printers.utterances[0] == agents[1].description
    with pytest.raises(UsageError, match="fallback 'nobody'"):
        routes_from_agents(agents, fallback="nobody")


def test_with_routing_sends_each_request_to_the_agent_its_description_names(tmp_path):
    log = tmp_path / "decisions.sqlite3"
    c = Coordinator(_helpdesk(decision_log=log), warm_up=False)
    assert c.app_name == "helpdesk"
    reply = c.ask("the printer has a paper jam again", user_id="u1")
    assert (reply.route, reply.method) == ("printers", "embedding")
    assert reply.text.startswith("[printers]")
    reply = c.ask("I forgot my password and my account is locked", user_id="u1")
    assert reply.route == "accounts"
    unsure = c.ask("what's for lunch in the canteen", user_id="u1")
    assert (unsure.route, unsure.method) == ("desk", "fallback")  # offline: no LLM to ask
    from coordinator import DecisionLog

    with DecisionLog(log) as decisions:
        rows = decisions.rows()
    assert sorted((r.route, r.method) for r in rows) == [
        ("accounts", "embedding"), ("desk", "fallback"), ("printers", "embedding")
    ]


def test_with_routing_takes_route_objects_and_refuses_a_missing_fallback():
    routes = [Route(name="printers", description="printers",
                    utterances=("the printer is jammed", "cannot print", "toner is empty"))]
    root = _helpdesk(routes=routes, decision_log=False)
    c = Coordinator(root, warm_up=False)
    assert c.ask("cannot print my file", user_id="u").route == "printers"
    bare = LlmAgent(name="solo", model=offline_model(), sub_agents=[
        LlmAgent(name="a", model=offline_model(), description="alpha")])
    with pytest.raises(UsageError, match="fallback"):
        with_routing(bare, fallback="general")


# --- parallel ---------------------------------------------------------------------------


def _worker(name: str = "worker", *, fail_on: str | None = None, tools=()):
    active = {"now": 0, "max": 0, "calls": 0}

    async def policy(req):
        text = last_user_text(req)
        active["calls"] += 1
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        try:
            await anyio.sleep(0.05)
            if fail_on and fail_on in text:
                raise TimeoutError("model timed out")
            return text_response(text.upper())
        finally:
            active["now"] -= 1

    agent = LlmAgent(name=name, model=offline_model(policy, name=name), tools=list(tools))
    return agent, active


async def _run(agent, text: str):
    c = Coordinator(agent, warm_up=False)
    reply = await c.ask_async(text, user_id="u")
    session = await c.session_service.get_session(
        app_name=c.app_name, user_id="u", session_id=reply.session_id
    )
    return reply, session.state


async def test_fan_out_over_your_own_agent_bounded_merged_and_keyed():
    worker, seen = _worker()
    fan = FanOutAgent(
        name="sections", worker=worker, split=lambda text: text.split("|"),
        merge=lambda answers: " / ".join(answers), max_concurrency=2, output_key="summary",
    )
    reply, state = await _run(fan, "one|two|three|four|five")
    assert state["summary"] == "ONE / TWO / THREE / FOUR / FIVE"
    assert reply.text == state["summary"]
    assert seen["max"] == 2 and seen["calls"] == 5


async def test_fan_out_survives_a_failed_piece_and_says_it_is_missing():
    worker, seen = _worker(fail_on="bad")
    fan = FanOutAgent(name="sections", worker=worker, split=str.split, retries=1,
                      output_key="summary")
    _reply, state = await _run(fan, "good bad fine")
    assert state["summary"] == "GOOD\n\n(part 2 could not be answered)\n\nFINE"
    assert seen["calls"] == 4  # the failing piece was retried once
    assert [f["branch_id"] for f in state["sections:_meta"]["failed_branches"]] == ["part2"]


def test_side_effecting_tools_are_refused_in_branches_and_judges():
    @side_effecting
    def refund(order: str) -> dict:
        """Refund an order."""
        return {"refunded": order}

    worker, _ = _worker(tools=[refund])
    with pytest.raises(UsageError, match="refund"):
        FanOutAgent(name="fan", worker=worker)
    judge, _ = _worker("judge", tools=[refund])
    with pytest.raises(UsageError, match=r"judge 'judge'.*refund"):
        VotingAgent(name="vote", sub_agents=[judge], labels=["no", "yes"])


def _judge(name: str, answer: str) -> LlmAgent:
    return LlmAgent(name=name, model=ScriptedLlm([f"My verdict: {answer}."] * 3))


@pytest.mark.parametrize(
    ("answers", "options", "label"),
    [
        (["yes", "yes", "no"], {}, "yes"),
        (["yes", "no"], {}, "no"),  # a tie goes to the more cautious label (listed first)
        (["yes", "yes", "no"], {"strategy": "unanimity"}, "no"),
        (["yes", "no", "no"], {"strategy": "weighted", "weights": {"j0": 3.0}}, "yes"),
        (["yes", "no", "maybe"], {"strategy": "quorum", "quorum": 2}, "no"),
    ],
)
async def test_voting_agent_strategies_and_the_tie_rule(answers, options, label):
    judges = [_judge(f"j{i}", a) for i, a in enumerate(answers)]
    vote = VotingAgent(name="vote", sub_agents=judges, labels=["no", "yes"],
                       output_key="verdict", **options)
    reply, state = await _run(vote, "Is the claim supported?")
    assert state["verdict"]["label"] == label
    assert reply.text.startswith(label)
    if "maybe" in answers:
        assert state["verdict"]["abstained"] == ["j2"]  # named no label


async def test_lazy_voting_stops_once_the_outcome_is_settled():
    judges = [_judge(f"j{i}", "yes") for i in range(5)]
    vote = VotingAgent(name="vote", sub_agents=judges, labels=["no", "yes"], lazy=True,
                       output_key="verdict")
    _reply, state = await _run(vote, "Is it?")
    assert state["verdict"]["label"] == "yes"
    assert state["verdict"]["calls_made"] == 3 and state["verdict"]["calls_saved"] == 2
    asked = [len(j.model.requests) for j in judges]
    assert asked == [1, 1, 1, 0, 0]


# --- models -----------------------------------------------------------------------------


async def test_scripted_llm_replays_records_and_refuses_to_improvise():
    def lookup(topic: str) -> dict:
        """Look a topic up."""
        return {"topic": topic, "article": "Restart the VPN client."}

    llm = ScriptedLlm([function_call("lookup", {"topic": "vpn"}), "Restart the VPN client."])
    agent = LlmAgent(name="helper", model=llm, tools=[lookup])
    reply, _ = await _run(agent, "my vpn is down")
    assert reply.text == "Restart the VPN client."
    assert len(llm.requests) == 2
    responses = [p.function_response for c in llm.requests[1].contents for p in c.parts or []
                 if p.function_response]
    assert responses[0].response["article"] == "Restart the VPN client."
    with pytest.raises(ModelError, match="only 2 replies"):
        await _run(agent, "again")


async def test_offline_model_without_a_policy_answers_extractively():
    agent = LlmAgent(name="summariser", model=offline_model())
    reply, _ = await _run(agent, "First sentence here. Second one. Third is dropped.")
    assert reply.text == "First sentence here. Second one."
    assert reply.usage.offline


def test_coordinator_over_a_foreign_agent_adds_none_of_the_apps_plugins():
    agent = LlmAgent(name="mine", model=offline_model())
    c = Coordinator(agent, warm_up=False)
    assert c.app_name == "mine"
    assert [type(p).__name__ for p in c.app.plugins] == ["RequestGuardPlugin"]
    with pytest.raises(UsageError, match="an ADK agent"):
        Coordinator("not an agent")
    assert re.fullmatch(r"\w+", c.app_name)
