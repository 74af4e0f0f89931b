"""Billing's own side effects (refund a duplicate charge, cancel a subscription) go through
the same propose -> yes gate as refunds: audited, idempotent, never from a model alone,
and reported after a crash."""

from __future__ import annotations

import sqlite3

import pytest
from google.adk.agents import LlmAgent

from tests.fakes import FakeChat, ScriptedLlm, tool_call
from tools import billing
from tools.store import get_store


def _actions() -> list[tuple]:
    with get_store().connect() as conn:
        rows = conn.execute("SELECT kind, target, user_id, amount_cents FROM actions").fetchall()
    return [tuple(r) for r in rows]


def _invoice_status(invoice_id: str) -> str:
    with get_store().connect() as conn:
        return conn.execute("SELECT status FROM invoices WHERE id=?", (invoice_id,)).fetchone()[0]


async def _chat(coordinator, user: str, *texts: str) -> list[str]:
    sid, out = None, []
    for text in texts:
        reply = await coordinator.ask_async(text, user_id=user, session_id=sid)
        sid = reply.session_id
        out.append(reply.text)
    return out


@pytest.mark.anyio
async def test_duplicate_charge_is_proposed_then_refunded_once(coordinator):
    texts = await _chat(coordinator, "alice", "I was charged twice this month", "yes", "yes")
    assert 'Reply "yes" to refund INV-' in texts[0] and _invoice_status("INV-10005") == "refunded"
    assert "Done: the duplicate charge INV-10005 ($29.00) is refunded" in texts[1]
    assert "Done" not in texts[2]
    assert _actions() == [("charge_refund", "INV-10005", "alice", 2900)]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", ["no", "wait", "yes?", "yeah right", "not now, thanks"])
async def test_duplicate_charge_without_a_clear_yes_changes_nothing(coordinator, answer):
    texts = await _chat(coordinator, "alice", "I was charged twice this month", answer)
    assert "Done" not in texts[1]
    assert _actions() == [] and _invoice_status("INV-10005") == "paid"


@pytest.mark.anyio
async def test_subscription_cancel_needs_the_yes(coordinator):
    texts = await _chat(
        coordinator,
        "user",
        "please cancel my subscription",
        "no",
        "Don't cancel my subscription",
        "cancel my subscription",
        "yes, cancel it",
    )
    assert 'Reply "yes" to cancel it' in texts[0] and "nothing was changed" in texts[1]
    assert "won't cancel" in texts[2] and 'Reply "yes"' in texts[3]
    assert "Done: your Pro (monthly) subscription is cancelled" in texts[4]
    assert _actions() == [("cancel_subscription", "user", "user", 0)]
    assert get_store().customer("user").plan == "Cancelled (was Pro (monthly))"


def test_billing_tools_refuse_without_a_proposal_or_outside_billing():
    chat = FakeChat(agent="billing")
    direct = billing.refund_duplicate_charge("INV-10005", chat.say("refund INV-10005"))
    assert direct["needs_confirmation"] is True
    assert billing.cancel_subscription(chat.say("yes"))["needs_confirmation"] is True
    voter = FakeChat(agent="billing", branch="vote.billing")
    billing.find_duplicate_charges(voter.say("charged twice"))
    assert not voter.state.get("confirm:proposal")  # no proposal from a parallel branch
    assert billing.refund_duplicate_charge("INV-10005", voter.say("yes"))["message"].startswith(
        "Refused"
    )
    other = FakeChat(agent="refund")
    assert billing.cancel_subscription(other.say("yes"))["message"].startswith("Refused")
    assert _actions() == []


def test_a_non_duplicate_invoice_is_never_refunded_even_if_proposed():
    chat = FakeChat(agent="billing")
    ctx = chat.say("charged twice")
    billing.find_duplicate_charges(ctx)
    chat.state["confirm:proposal"]["target"] = "INV-10003"  # tamper: an ordinary invoice
    result = billing.refund_duplicate_charge("INV-10003", chat.say("yes"))
    assert result["refused"] is True and "not a duplicate" in result["message"]
    assert _actions() == []


@pytest.mark.anyio
async def test_a_scripted_model_cannot_cancel_on_its_own():
    from tests.test_refund_security import _run, _tool_results

    model = ScriptedLlm(script=[tool_call("cancel_subscription"), "done"])
    agent = LlmAgent(name="billing", model=model, tools=list(billing.BILLING_TOOLS))
    events = await _run(agent, "cancel my subscription", user="alice")
    assert _tool_results(events)["cancel_subscription"]["needs_confirmation"] is True
    assert _actions() == [] and get_store().customer("alice").plan == "Pro (monthly)"


@pytest.mark.anyio
async def test_an_action_the_session_never_heard_about_is_reported_next_turn(coordinator):
    """As after a crash between the audit commit and the answer: the next turn tells."""
    first = await coordinator.ask_async("hello", user_id="alice")
    sid = first.session_id
    store = get_store()
    store.cancel_subscription("alice", session_id=sid, nonce="lost-answer")
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "INSERT INTO refunds (order_id, user_id, amount_cents, currency, status, reason,"
            " created_at, session_id, nonce) VALUES (1001,'alice',7999,'USD','approved','x',"
            "'2026-01-01T00:00:00+00:00',?,'n2')",
            (sid,),
        )
    nxt = await coordinator.ask_async("what are my invoices?", user_id="alice", session_id=sid)
    assert nxt.text.startswith("Before we go on:")
    assert "subscription was cancelled" in nxt.text and "refund #1 of $79.99" in nxt.text
    again = await coordinator.ask_async("what are my invoices?", user_id="alice", session_id=sid)
    assert "Before we go on" not in again.text  # told once
