"""DeferredAgent: a specialist built on its first request, and never a way around a check."""

from __future__ import annotations

import logging

import pytest
from google.adk.agents import BaseAgent, LlmAgent, SequentialAgent
from google.adk.events import Event
from google.adk.sessions import InMemorySessionService
from google.genai import types

from coordinator import (
    Coordinator,
    DeferredAgent,
    UsageError,
    VotingAgent,
    offline_model,
    side_effecting,
    with_routing,
)
from coordinator.deferred import build_deferred, walk


class Echo(BaseAgent):
    """A non-LLM stage that answers with its name and the request."""

    async def _run_async_impl(self, ctx):
        text = ctx.user_content.parts[0].text if ctx.user_content else ""
        yield Event(
            author=self.name,
            invocation_id=ctx.invocation_id,
            content=types.Content(role="model", parts=[types.Part(text=f"{self.name}: {text}")]),
        )


def _pipeline(builds: list[str]) -> SequentialAgent:
    builds.append("built")
    return SequentialAgent(name="review", sub_agents=[Echo(name="first"), Echo(name="last")])


def _tree(builds: list[str], inner_names=("review", "first", "last")):
    desk = LlmAgent(name="desk", description="General questions about the office, anything "
                    "else, opening hours and holidays.", model=offline_model())
    review = DeferredAgent(
        name="review",
        description="Review a contract document: clauses, risks, obligations, termination.",
        build=lambda: _pipeline(builds),
        inner_names=inner_names,
    )
    root = LlmAgent(name="helpdesk", model=offline_model(), sub_agents=[review, desk])
    return with_routing(root, fallback="desk", decision_log=False), review


@pytest.mark.anyio
async def test_built_only_when_routed_to_and_then_once():
    builds: list[str] = []
    root, review = _tree(builds)
    coordinator = Coordinator(root, warm_up=False)
    other = await coordinator.ask_async("what are the office opening hours", user_id="u")
    assert other.route == "desk" and builds == [] and not review.built
    first = await coordinator.ask_async(
        "please review this contract's termination clauses", user_id="u"
    )
    second = await coordinator.ask_async("review the contract obligations and risks", user_id="u")
    assert builds == ["built"] and review.built
    # the inner stages' replies are attributed to the routed specialist
    assert (first.route, second.route) == ("review", "review")
    assert "last: please review" in first.text


@pytest.mark.anyio
async def test_a_resumed_session_finds_the_inner_authors_without_warnings(caplog):
    """A new process (a fresh, unbuilt tree) continues a session whose last reply came from
    inside the deferred agent: ADK looks that author up, finds it, and warns of nothing."""
    sessions = InMemorySessionService()
    builds: list[str] = []
    root, _ = _tree(builds)
    reply = await Coordinator(root, warm_up=False, session_service=sessions).ask_async(
        "please review this contract's termination clauses", user_id="u"
    )
    again, review = _tree(builds)
    with caplog.at_level(logging.WARNING):
        follow = await Coordinator(again, warm_up=False, session_service=sessions).ask_async(
            "what are the office opening hours", user_id="u", session_id=reply.session_id
        )
    assert follow.route == "desk" and follow.session_id == reply.session_id
    assert review.built  # ADK looked the inner author up: built to answer, not warned about
    assert not [r for r in caplog.records if "unknown agent" in r.getMessage()]


def test_declared_names_must_match_the_built_tree():
    builds: list[str] = []
    _, review = _tree(builds, inner_names=("review", "first"))
    with pytest.raises(UsageError, match=r"built, not declared: \['last'\]"):
        review.materialize()


def test_an_llm_agent_cannot_be_deferred():
    lazy = DeferredAgent(name="x", build=lambda: LlmAgent(name="x", model=offline_model()))
    with pytest.raises(UsageError, match="LlmAgent"):
        lazy.materialize()


def test_without_names_any_search_builds_it_and_finds_the_inside():
    builds: list[str] = []
    _, review = _tree(builds, inner_names=())
    assert review.find_agent("review") is review and builds == []
    assert review.find_agent("last").name == "last" and builds == ["built"]


def test_with_names_a_search_for_a_stranger_builds_nothing():
    builds: list[str] = []
    _, review = _tree(builds)
    assert review.find_agent("desk") is None and builds == []
    assert review.find_agent("first").name == "first" and builds == ["built"]


@side_effecting
def issue_refund(order_id: str) -> dict:
    """Refund an order."""
    return {"refunded": order_id}


def test_a_side_effect_inside_a_deferred_judge_is_still_refused():
    """The voting check walks into deferred agents (building them): laziness hides nothing."""
    refunder = LlmAgent(name="refunder", model=offline_model(), tools=[issue_refund])
    lazy = DeferredAgent(
        name="judge", build=lambda: SequentialAgent(name="judge", sub_agents=[refunder])
    )
    plain = LlmAgent(name="plain", model=offline_model())
    with pytest.raises(UsageError, match="refunder"):
        VotingAgent(name="verdict", sub_agents=[lazy, plain], labels=["yes", "no"])


def test_warm_up_builds_every_deferred_agent():
    builds: list[str] = []
    root, review = _tree(builds)
    assert build_deferred(root) == 1 and review.built and builds == ["built"]
    assert build_deferred(root) == 0
    assert {a.name for a in walk(root, build=False)} >= {"review", "first", "last"}


def test_the_support_app_defers_its_review_pipelines_and_declares_them_right():
    from agents.coordinator.agent import build_root_agent

    root = build_root_agent()
    deferred = [a for a in root.sub_agents if isinstance(a, DeferredAgent)]
    assert {a.name for a in deferred} == {"contract_review", "security_review"}
    assert not any(a.built for a in deferred)
    for agent in deferred:
        agent.materialize()  # raises if the declared inner names drifted from the pipeline
        assert agent.built
