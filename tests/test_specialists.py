"""The four support specialists run as ADK agents (InMemoryRunner, offline models): they
really call their tools and answer with data from the store and the knowledge base."""

from __future__ import annotations

from typing import Any

import pytest
from google.adk.agents import LlmAgent, ParallelAgent
from google.adk.runners import InMemoryRunner
from google.genai import types

from agents import billing, general, refund, technical_support
from coordinator.models.offline import OfflineLlm, function_call
from coordinator.routing.routes import load_routes
from tools.confirmation import PROPOSAL_KEY
from tools.refunds import PENDING_KEY
from tools.store import get_store

SPECIALISTS = {
    "billing": billing,
    "technical_support": technical_support,
    "refund": refund,
    "general": general,
}


class Chat:
    """One session with one agent as root; keeps the transcript of the last turn."""

    def __init__(self, agent, user: str = "alice") -> None:
        self.runner = InMemoryRunner(agent=agent, app_name="test")
        self.user = user
        self.session_id: str | None = None
        self.events: list[Any] = []

    async def say(self, text: str) -> str:
        if self.session_id is None:
            s = await self.runner.session_service.create_session(app_name="test", user_id=self.user)
            self.session_id = s.id
        msg = types.Content(role="user", parts=[types.Part(text=text)])
        self.events = [
            e
            async for e in self.runner.run_async(
                user_id=self.user, session_id=self.session_id, new_message=msg
            )
        ]
        return "\n".join(p.text for e in self.events for p in e.content.parts or [] if p.text)

    @property
    def calls(self) -> list[tuple[str, dict]]:
        return [
            (p.function_call.name, dict(p.function_call.args or {}))
            for e in self.events
            for p in (e.content.parts if e.content else None) or []
            if p.function_call is not None
        ]

    @property
    def results(self) -> dict[str, dict]:
        return {
            p.function_response.name: dict(p.function_response.response or {})
            for e in self.events
            for p in (e.content.parts if e.content else None) or []
            if p.function_response is not None
        }

    async def state(self) -> dict:
        s = await self.runner.session_service.get_session(
            app_name="test", user_id=self.user, session_id=self.session_id
        )
        return dict(s.state)


def _audit() -> list[tuple]:
    with get_store().connect() as conn:
        return [tuple(r) for r in conn.execute("SELECT order_id, user_id FROM refunds")]


@pytest.mark.parametrize("name", list(SPECIALISTS))
def test_build_agent_wiring(name):
    agent = SPECIALISTS[name].build_agent()
    assert isinstance(agent, LlmAgent)
    assert agent.name == name
    assert agent.description == load_routes().description(name)
    assert agent.disallow_transfer_to_parent and agent.disallow_transfer_to_peers
    assert isinstance(agent.model, OfflineLlm)
    assert agent.tools
    assert "{" not in agent.instruction  # ADK would treat braces as state placeholders


# --- billing ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_billing_finds_the_duplicate_charge():
    chat = Chat(billing.build_agent())
    text = await chat.say("I was charged twice for my subscription this month")
    assert ("find_duplicate_charges", {}) in chat.calls
    newest, second = get_store().invoices_for("alice", limit=2)
    assert newest.id in text and second.id in text
    assert "charged twice" in text and "overcharged $29.00" in text
    assert newest.issued.isoformat() in text


@pytest.mark.anyio
async def test_billing_shows_the_last_invoice_and_not_another_users():
    chat = Chat(billing.build_agent())
    text = await chat.say("show my last invoice")
    latest = get_store().invoices_for("alice", limit=1)[0]
    assert chat.calls == [("list_invoices", {"limit": 1})]
    assert latest.id in text and latest.amount in text
    bobs = get_store().invoices_for("bob", limit=1)[0]
    text = await chat.say(f"what is on invoice {bobs.id}")
    assert chat.results["get_invoice"]["status"] == "error"
    assert "not found" in text and bobs.amount not in text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("Which payment methods do you accept?", "Payment methods"),
        ("how much is the early termination fee", "Cancel or change your subscription"),
    ],
)
async def test_billing_general_questions_answer_from_help_articles(question, article):
    chat = Chat(billing.build_agent())
    text = await chat.say(question)
    assert chat.calls[0][0] == "search_knowledge_base"
    assert article in text
    assert "INV-" not in text  # not a dump of the user's invoices


@pytest.mark.anyio
async def test_billing_without_duplicates_says_so():
    chat = Chat(billing.build_agent(), user="bob")
    text = await chat.say("was I billed twice?")
    assert chat.calls[0][0] == "find_duplicate_charges"
    assert "no duplicate charge" in text
    assert get_store().invoices_for("bob", limit=1)[0].id in text


# --- technical support ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_technical_support_answers_with_kb_steps():
    chat = Chat(technical_support.build_agent())
    text = await chat.say("the app crashes every time I log in")
    assert chat.calls[0][0] == "search_knowledge_base"
    assert '"The app crashes when I log in"' in text
    assert "1. Update the app to the latest version" in text


@pytest.mark.anyio
async def test_technical_support_admits_when_no_article_fits():
    chat = Chat(technical_support.build_agent())
    text = await chat.say("what is the capital of France")
    assert chat.calls[0][0] == "search_knowledge_base"
    assert "couldn't find a help article" in text


# --- refund ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_refund_checks_then_issues_and_audits():
    chat = Chat(refund.build_agent())
    text = await chat.say("I want my money back for order 1001")
    assert [c[0] for c in chat.calls] == ["check_refund_eligibility"]  # a proposal only
    assert "$79.99" in text and "Wireless headphones" in text and 'Reply "yes"' in text
    assert _audit() == []
    text = await chat.say("yes")
    assert [c[0] for c in chat.calls] == ["request_refund"]
    assert chat.calls[0][1]["order_id"] == 1001
    assert "$79.99" in text and "order 1001" in text and "Done: refund #" in text
    assert _audit() == [(1001, "alice")]
    text = await chat.say("please refund order 1001 again")
    assert "already refunded" in text
    assert _audit() == [(1001, "alice")]


@pytest.mark.anyio
async def test_refund_without_order_asks_and_stays_pending_until_done():
    chat = Chat(refund.build_agent())
    text = await chat.say("I want a refund")
    assert [c[0] for c in chat.calls] == ["list_orders"]
    assert all(f"Order {oid}" in text for oid in (1001, 1002, 1004))
    assert (await chat.state())[PENDING_KEY] == "refund"
    text = await chat.say("order 1002")
    assert chat.calls[0] == ("check_refund_eligibility", {"order_id": 1002})
    assert "30 days" in text and '"Time window"' in text  # the rule, quoted from the policy
    assert (await chat.state())[PENDING_KEY] is None
    assert _audit() == []


@pytest.mark.anyio
async def test_refund_follow_up_by_item_name_then_yes():
    chat = Chat(refund.build_agent(), user="bob")
    text = await chat.say("I want a refund")
    assert "Order 1003: USB-C docking station" in text and "eligible for a refund" in text
    text = await chat.say("the docking station")
    assert chat.calls == [("check_refund_eligibility", {"order_id": 1003})]
    assert 'Reply "yes" to refund order 1003' in text and _audit() == []
    text = await chat.say("yes")
    assert "Done: refund #1 of $59.90 for order 1003" in text
    assert _audit() == [(1003, "bob")]


@pytest.mark.anyio
async def test_refund_of_another_users_order_is_not_found():
    chat = Chat(refund.build_agent(), user="bob")
    text = await chat.say("refund order 1001")
    assert "Order 1001 was not found on your account" in text
    assert "Wireless headphones" not in text  # nothing about alice's order leaks
    assert "Order 1003" in text  # bob's own orders are offered instead
    assert _audit() == []


@pytest.mark.anyio
async def test_refund_policy_question_quotes_the_written_policy():
    chat = Chat(refund.build_agent())
    text = await chat.say("what is your refund policy")
    assert chat.calls == [("get_refund_policy", {})]
    assert "within 30 days of its order date" in text


@pytest.mark.anyio
async def test_refund_after_a_transfer_is_allowed():
    """Reached by transfer_to_agent the refund agent keeps the root branch and may act."""
    root = LlmAgent(
        name="coordinator",
        model=OfflineLlm(
            model="offline/root",
            policy=lambda req: function_call("transfer_to_agent", {"agent_name": "refund"}),
        ),
        sub_agents=[refund.build_agent()],
    )
    chat = Chat(root)
    await chat.say("refund order 1001")
    await chat.say("yes")
    assert chat.results["request_refund"]["status"] == "ok"
    assert all(e.branch is None for e in chat.events)
    assert _audit() == [(1001, "alice")]


@pytest.mark.anyio
async def test_refund_inside_a_parallel_branch_is_refused():
    voters = ParallelAgent(name="voters", sub_agents=[refund.build_agent()])
    chat = Chat(voters)
    await chat.say("refund order 1001")
    assert any(e.branch == "voters.refund" for e in chat.events)
    assert "proposal" not in chat.results["check_refund_eligibility"]  # nothing to say yes to
    assert not (await chat.state()).get(PROPOSAL_KEY)
    text = await chat.say("yes")
    assert "request_refund" not in chat.results and "no refund waiting" in text
    assert _audit() == []


# --- general ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_general_is_honest_and_lists_the_specialists():
    chat = Chat(general.build_agent())
    text = await chat.say("what is the capital of France")
    assert "offline support assistant" in text
    for route in load_routes().scored:
        assert " ".join(route.description.split()) in text


@pytest.mark.anyio
async def test_general_answers_from_the_kb_when_relevant():
    chat = Chat(general.build_agent())
    text = await chat.say("how do I clear my browser cache")
    assert chat.calls[0][0] == "search_knowledge_base"
    assert '"How to clear the cache and cookies"' in text


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "opening"),
    [("hi there", "Hello!"), ("Thanks, that is all for today", "You're welcome!")],
)
async def test_general_answers_small_talk_kindly(text, opening):
    chat = Chat(general.build_agent())
    answer = await chat.say(text)
    assert answer.startswith(opening)
    assert "don't have an answer" not in answer
    assert chat.calls == []


@pytest.mark.anyio
async def test_general_never_fails_on_empty_text():
    chat = Chat(general.build_agent())
    text = await chat.say("   ")
    assert "offline support assistant" in text
