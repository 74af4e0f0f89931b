"""Refund policy limits and the refund tools' guarantees: authorised, bounded,
idempotent, audited, and never run from a parallel branch."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from coordinator.errors import ConfigError
from tests.fakes import FakeChat, confirm_refund
from tools import refunds
from tools.confirmation import PROPOSAL_KEY
from tools.refund_policy import RefundPolicy, evaluate, load_policy, policy_text
from tools.store import Order, Refund, get_store

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def _order(**kw) -> Order:
    base = dict(
        id=4711,
        user_id="u",
        item="thing",
        amount_cents=5000,
        currency="USD",
        ordered=NOW.date() - timedelta(days=3),
        status="delivered",
    )
    return Order(**(base | kw))


def _refund(order_id: int, hours_ago: float) -> Refund:
    return Refund(
        id=order_id,
        order_id=order_id,
        user_id="u",
        amount_cents=100,
        currency="USD",
        status="approved",
        reason="r",
        created_at=NOW - timedelta(hours=hours_ago),
    )


# --- the policy as data ------------------------------------------------------------------


def test_policy_file_matches_the_written_policy():
    policy = load_policy()
    text = policy_text()
    assert f"{policy.max_order_age_days} days" in text
    assert f"{policy.max_refund_amount:.2f}" in text
    assert f"{policy.max_refunds_per_day} refunds per customer" in text
    assert policy.processing_time in text


def test_invalid_policy_file_names_the_field(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("max_refund_amount: -1\nmax_order_age_days: 30\nrefundable_statuses: []\n")
    with pytest.raises(ConfigError, match=r"p\.yaml.*max_refund_amount"):
        load_policy(bad)


@pytest.mark.parametrize(
    ("order", "prior", "rule"),
    [
        (_order(), [], "ok"),
        (_order(ordered=NOW.date() - timedelta(days=30)), [], "ok"),  # last day of the window
        (_order(ordered=NOW.date() - timedelta(days=31)), [], "max_order_age_days"),
        (_order(amount_cents=50000), [], "ok"),  # exactly the limit
        (_order(amount_cents=50001), [], "max_refund_amount"),
        (_order(status="shipped"), [], "refundable_statuses"),
        (_order(status="cancelled"), [], "ok"),
        (_order(), [_refund(4711, 24 * 40)], "once_per_order"),
        (_order(), [_refund(7, 2), _refund(8, 5)], "max_refunds_per_day"),
        (_order(), [_refund(7, 2), _refund(8, 30)], "ok"),  # one of them is older than 24 h
    ],
)
def test_policy_rules(order, prior, rule):
    decision = evaluate(order, prior, NOW)
    assert decision.rule == rule
    assert decision.allowed is (rule == "ok")
    assert decision.amount_cents == (order.amount_cents if rule == "ok" else 0)
    assert str(order.id) in decision.reason


def test_policy_limits_come_from_the_policy_object():
    strict = RefundPolicy(
        max_refund_amount=10, max_order_age_days=1, refundable_statuses=("delivered",)
    )
    assert evaluate(_order(amount_cents=999, ordered=NOW.date()), [], NOW, strict).allowed
    assert evaluate(_order(amount_cents=1001, ordered=NOW.date()), [], NOW, strict).rule == (
        "max_refund_amount"
    )
    assert evaluate(_order(status="cancelled", ordered=NOW.date()), [], NOW, strict).rule == (
        "refundable_statuses"
    )


# --- the tools, with a minimal ToolContext -------------------------------------------------


def ctx(user: str = "alice", agent: str = "refund", branch: str | None = None, **state):
    """A ToolContext-like object for one user turn of a fresh session."""
    return FakeChat(user=user, agent=agent, branch=branch, **state).say("refund order 1001")


def _audit_rows() -> list[tuple]:
    with get_store().connect() as conn:
        rows = conn.execute("SELECT order_id, user_id, amount_cents FROM refunds").fetchall()
    return [tuple(r) for r in rows]


def test_request_refund_issues_once_and_audits():
    chat = FakeChat()
    proposal = refunds.check_refund_eligibility(1001, chat.say("refund order 1001"))["proposal"]
    assert proposal["amount"] == "$79.99" and "1001" in proposal["summary"]
    nonce = chat.state[PROPOSAL_KEY]["nonce"]
    first = refunds.request_refund(1001, "arrived broken", chat.say("yes"))
    second = refunds.request_refund(1001, "asking again", chat.say("yes"))  # a repeated yes
    assert first["status"] == second["status"] == "ok"
    assert first["already_refunded"] is False and second["already_refunded"] is True
    assert first["refund"]["amount"] == "$79.99"
    assert second["refund"]["refund_id"] == first["refund"]["refund_id"]
    assert _audit_rows() == [(1001, "alice", 7999)]
    with get_store().connect() as conn:
        row = tuple(conn.execute("SELECT session_id, nonce FROM refunds").fetchone())
    assert row == (chat.id, nonce)  # the row names what it executed
    assert chat.state[PROPOSAL_KEY] is None  # consumed: nothing left to confirm


def test_request_refund_without_a_confirmed_proposal_writes_nothing():
    chat = FakeChat()
    direct = refunds.request_refund(1001, "model decided", chat.say("refund order 1001"))
    assert direct["status"] == "error" and direct["needs_confirmation"] is True
    refunds.check_refund_eligibility(1001, chat.ctx())
    same_turn = refunds.request_refund(1001, "model decided", chat.ctx())
    assert same_turn["needs_confirmation"] is True  # proposed and executed in one turn
    other = refunds.request_refund(1001, "x", FakeChat().say("yes"))  # yes in another session
    assert other["needs_confirmation"] is True
    assert _audit_rows() == []


def test_a_yes_two_turns_later_or_for_another_order_does_not_refund():
    chat = FakeChat()
    refunds.check_refund_eligibility(1001, chat.say("can I get a refund for 1001?"))
    wrong = refunds.request_refund(1002, "x", chat.say("yes"))
    assert wrong["needs_confirmation"] is True
    chat2 = FakeChat()
    refunds.check_refund_eligibility(1001, chat2.say("refund order 1001"))
    chat2.say("what is your refund policy?")
    late = refunds.request_refund(1001, "x", chat2.say("yes"))
    assert late["needs_confirmation"] is True and "expired" in late["message"]
    assert _audit_rows() == []


def test_another_users_order_is_not_found_and_writes_nothing():
    attack = refunds.request_refund(1001, "mine now", ctx(user="bob"))
    missing = refunds.request_refund(999999, "nope", ctx(user="bob"))
    assert attack["status"] == "error" and "not found" in attack["message"]
    # Indistinguishable from an order that does not exist (apart from the number).
    assert attack["message"].replace("1001", "N") == missing["message"].replace("999999", "N")
    assert refunds.check_refund_eligibility(1001, ctx(user="bob"))["status"] == "error"
    assert refunds.refund_status(1001, ctx(user="bob"))["status"] == "error"
    assert all(o["order_id"] != 1001 for o in refunds.list_orders(ctx(user="bob"))["orders"])
    assert _audit_rows() == []


@pytest.mark.parametrize(
    ("order_id", "rule"),
    [(1002, "max_order_age_days"), (1004, "refundable_statuses")],
)
def test_policy_refusal_names_the_rule_and_proposes_nothing(order_id, rule):
    chat = FakeChat()
    check = refunds.check_refund_eligibility(order_id, chat.say(f"refund order {order_id}"))
    assert check["eligible"] is False and check["rule"] == rule and "proposal" not in check
    result = refunds.request_refund(order_id, "please", chat.say("yes"))
    assert result["status"] == "error" and result["needs_confirmation"] is True
    assert _audit_rows() == []


def test_amount_limit_applies_to_carol():
    check = refunds.check_refund_eligibility(1005, ctx(user="carol"))
    assert check["rule"] == "max_refund_amount"
    assert "€500.00" in check["explanation"]


def test_the_policy_is_applied_again_when_the_yes_arrives():
    """A cap reached between proposal and yes (another session) refuses, naming the rule."""
    _add_orders("alice", 9301, 9302)
    chat = FakeChat()
    refunds.check_refund_eligibility(1001, chat.say("refund order 1001"))
    confirm_refund(9301)
    confirm_refund(9302)  # the daily cap (2) is now used up
    late = refunds.request_refund(1001, "x", chat.say("yes"))
    assert late["refused"] is True and late["rule"] == "max_refunds_per_day"
    assert [r[0] for r in _audit_rows()] == [9301, 9302]


def _add_orders(user: str, *order_ids: int, cents: int = 1500) -> None:
    ordered = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with get_store().connect() as conn:
        conn.executemany(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?)",
            [(o, user, f"Item {o}", cents, "USD", ordered, "delivered") for o in order_ids],
        )


@pytest.mark.parametrize(
    "context",
    [
        ctx(**{refunds.IN_PARALLEL_KEY: True}),
        ctx(branch="risk_vote.judge_1"),
        ctx(branch="coordinator.parallel.fanout.refund"),
        ctx(agent="billing"),
        ctx(user=""),
    ],
)
def test_request_refund_refuses_outside_the_refund_agent_turn(context):
    result = refunds.request_refund(1001, "from a voter", context)
    assert result["status"] == "error" and result["message"].startswith("Refused")
    assert _audit_rows() == []


def test_pending_is_set_while_waiting_for_an_order_and_cleared_when_done():
    chat = FakeChat()
    c = chat.say("I want a refund")
    listing = refunds.list_orders(c)
    assert {o["order_id"] for o in listing["orders"]} == {1001, 1002, 1004}
    assert chat.state[refunds.PENDING_KEY] == "refund"
    refunds.check_refund_eligibility(1002, chat.say("1002"))  # refused: the task is over
    assert chat.state[refunds.PENDING_KEY] is None
    refunds.check_refund_eligibility(4242, chat.say("4242"))  # not found: still waiting
    assert chat.state[refunds.PENDING_KEY] == "refund"
    refunds.check_refund_eligibility("order #1001", chat.say("order #1001"))  # ids as text
    assert chat.state[refunds.PENDING_KEY] == "refund"  # waiting for the yes
    assert refunds.request_refund(1001, "ok", chat.say("yes"))["status"] == "ok"
    assert chat.state[refunds.PENDING_KEY] is None


def test_declining_drops_the_proposal():
    chat = FakeChat()
    refunds.check_refund_eligibility(1001, chat.say("refund order 1001"))
    assert refunds.decline_refund(chat.say("no, wait"))["cancelled"] is True
    assert chat.state[refunds.PENDING_KEY] is None
    assert refunds.request_refund(1001, "x", chat.say("yes"))["needs_confirmation"] is True
    assert _audit_rows() == []


def test_pending_key_is_the_one_the_cascade_reads():
    from coordinator.routing.cascade import PENDING_KEY

    assert refunds.PENDING_KEY == PENDING_KEY


def test_eligibility_and_status_report_store_data():
    c = ctx()
    check = refunds.check_refund_eligibility(1001, c)
    assert check["eligible"] is True and check["order"]["amount"] == "$79.99"
    assert refunds.refund_status(1001, c)["refund"] is None
    assert confirm_refund(1001)["status"] == "ok"
    status = refunds.refund_status(1001, c)
    assert status["refund"]["amount"] == "$79.99"
    again = refunds.check_refund_eligibility(1001, c)
    assert again["eligible"] is False and again["rule"] == "once_per_order"
    assert again["existing_refund"]["refund_id"] == status["refund"]["refund_id"]


def test_orders_seeded_relative_to_today_keep_their_eligibility():
    today = datetime.now(UTC).date()
    orders = {o["order_id"]: o for o in refunds.list_orders(ctx())["orders"]}
    assert orders[1001]["refund_eligible"] is True
    assert orders[1002]["refund_rule"] == "max_order_age_days"
    assert date.fromisoformat(orders[1001]["ordered"]) == today - timedelta(days=10)


def test_a_model_that_checks_again_before_executing_keeps_the_customers_yes():
    chat = FakeChat()
    refunds.check_refund_eligibility(1001, chat.say("refund order 1001"))
    nonce = chat.state[PROPOSAL_KEY]["nonce"]
    yes = chat.say("yes")
    refunds.check_refund_eligibility(1001, yes)  # e.g. Gemini re-checks in the yes turn
    assert chat.state[PROPOSAL_KEY]["nonce"] == nonce
    assert refunds.request_refund(1001, "ok", yes)["status"] == "ok"
    assert _audit_rows() == [(1001, "alice", 7999)]
