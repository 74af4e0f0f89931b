"""Confirmations people actually type, end to end through the support app (issue 18).

After a refund (or billing) proposal, an ordinary yes in any of six languages stays with
the proposing agent and executes once, audited; a hedge, condition, question or retraction
in any of them executes nothing, and the agent asks again instead of "which order?". The
same through the Python API, `coordinator serve` and `adk api_server` over real HTTP, and
with the same yes sent twice at once. The only judge of "executed" is the audit table.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import anyio
import httpx
import pytest
from google.adk.errors import StaleSessionError

from agents.billing.policy import NOT_A_YES as BILLING_NOT_A_YES
from agents.refund.policy import NOT_A_YES
from tests._servers import run_adk_server, run_coordinator_serve
from tests.test_serve import _keys_file, _new_session, _run_body, auth
from tools.store import get_store

USER = "user"  # order 1006: Wireless mouse, $24.99, delivered 3 days ago (eligible)
ASK = "I want a refund for order 1006"

YESES = [
    "vale, hazlo", "d'accord, allez-y", "sounds good", "klar, mach", "pode ser",
    "va bene, procedi", "perfect, do it", "sí, adelante", "ja, gerne", "sim, pode fazer",
]
HEDGES = [  # the hedges in every language, and its decided "sure, whatever you think"
    "yes if it's under $10", "yes?", "just kidding, don't", "ok... actually no", "yes no",
    "sí, pero espera", "oui mais non", "ja, aber nicht jetzt", "sim, se for possível",
    "sì, ma aspetta", "sure, whatever you think", "👍", "not yes",
]


def _refunds(path: Path | None = None) -> list[tuple]:
    if path is None:
        with get_store().connect() as conn:
            rows = conn.execute("SELECT order_id, user_id, session_id FROM refunds").fetchall()
        return [tuple(r) for r in rows]
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT order_id, user_id FROM refunds").fetchall()


def _actions() -> list[tuple]:
    with get_store().connect() as conn:
        return [tuple(r) for r in conn.execute("SELECT kind, target FROM actions").fetchall()]


async def _chat(coordinator, user: str, *texts: str):
    sid, replies = None, []
    for text in texts:
        reply = await coordinator.ask_async(text, user_id=user, session_id=sid)
        sid = reply.session_id
        replies.append(reply)
    return sid, replies


# --- the Python API ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("yes", YESES)
async def test_an_ordinary_yes_in_six_languages_refunds_once(coordinator, yes):
    sid, replies = await _chat(coordinator, USER, ASK, yes, yes)
    assert 'Reply "yes"' in replies[0].text
    assert replies[1].route == "refund", replies[1].text  # kept with the proposing agent
    assert "Done: refund #1 of $24.99 for order 1006" in replies[1].text
    assert "Done" not in replies[2].text  # the repeated yes finds nothing to confirm
    assert _refunds() == [(1006, USER, sid)]


@pytest.mark.anyio
@pytest.mark.parametrize("hedge", HEDGES)
async def test_a_hedge_in_any_language_refunds_nothing_and_stays_with_refund(coordinator, hedge):
    _, replies = await _chat(coordinator, USER, ASK, hedge)
    reply = replies[1]
    assert reply.route == "refund", reply.text
    assert "Done" not in reply.text and "Which order" not in reply.text
    assert "Nothing was refunded" in reply.text or NOT_A_YES in reply.text
    assert _refunds() == []


@pytest.mark.anyio
async def test_after_an_unclear_answer_the_proposal_is_asked_again_and_a_plain_yes_executes(
    coordinator,
):
    sid, replies = await _chat(coordinator, USER, ASK, "sim, se for possível", "sim")
    assert NOT_A_YES in replies[1].text and 'Reply "yes" to refund order 1006' in replies[1].text
    assert "Done: refund #1" in replies[2].text
    assert _refunds() == [(1006, USER, sid)]


@pytest.mark.anyio
async def test_after_a_retraction_a_later_yes_refunds_nothing(coordinator):
    _, replies = await _chat(coordinator, USER, ASK, "sí, pero espera", "sí")
    assert "Nothing was refunded" in replies[1].text
    assert "Done" not in replies[2].text
    assert _refunds() == []


@pytest.mark.anyio
async def test_the_same_yes_sent_twice_at_once_refunds_once(coordinator):
    sid, _ = await _chat(coordinator, USER, ASK)
    outcomes: list[object] = []

    async def say() -> None:
        try:
            reply = await coordinator.ask_async("vale, hazlo", user_id=USER, session_id=sid)
            outcomes.append(reply)
        except StaleSessionError as exc:  # the session was busy with the other one
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(say)
        tg.start_soon(say)
    done = [o for o in outcomes if not isinstance(o, Exception) and "Done: refund #" in o.text]
    assert len(outcomes) == 2 and len(done) == 1, outcomes
    assert _refunds() == [(1006, USER, sid)]


# --- billing's actions use the same gate ---------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("yes", ["vale, adelante", "oui, allez-y", "ja, bitte", "sounds good"])
async def test_a_duplicate_charge_is_refunded_on_an_ordinary_yes(coordinator, yes):
    _, replies = await _chat(coordinator, "alice", "I was charged twice this month", yes)
    assert replies[1].route == "billing", replies[1].text
    assert "Done: the duplicate charge INV-10005" in replies[1].text
    assert _actions() == [("charge_refund", "INV-10005")]


@pytest.mark.anyio
@pytest.mark.parametrize("hedge", ["ja, aber nicht jetzt", "sì, ma aspetta", "yes if it's free"])
async def test_a_hedged_duplicate_charge_refund_changes_nothing(coordinator, hedge):
    _, replies = await _chat(coordinator, "alice", "I was charged twice this month", hedge)
    assert "Done" not in replies[1].text and _actions() == []


@pytest.mark.anyio
async def test_cancel_alone_is_no_yes_but_a_restated_cancel_in_any_language_is(coordinator):
    _, replies = await _chat(
        coordinator, USER, "please cancel my subscription", "cancel", "oui, annulez-le"
    )
    assert BILLING_NOT_A_YES in replies[1].text and 'Reply "yes" to cancel it' in replies[1].text
    assert "Done: your Pro (monthly) subscription is cancelled" in replies[2].text
    assert _actions() == [("cancel_subscription", USER)]


@pytest.mark.anyio
async def test_yes_cancel_it_still_cancels_and_a_refusal_does_not(coordinator):
    _, replies = await _chat(
        coordinator, USER, "please cancel my subscription", "nein, nicht kündigen",
        "cancel my subscription", "yes, cancel it",
    )
    assert "Done" not in replies[1].text
    assert "Done: your Pro (monthly) subscription is cancelled" in replies[3].text
    assert _actions() == [("cancel_subscription", USER)]


# --- over HTTP: coordinator serve (authenticated) and adk api_server -----------------------


def _text(events: list[dict]) -> str:
    return " ".join(
        p.get("text") or "" for e in events for p in (e.get("content") or {}).get("parts") or []
    )


def test_over_coordinator_serve_a_spanish_yes_refunds_once_a_hedge_nothing_and_a_double_once(
    tmp_path,
):
    work = tmp_path / "serve"
    env = {
        "COORDINATOR_API_KEYS_FILE": str(_keys_file(tmp_path / "keys.txt")),
        "COORDINATOR_RATE_BURST": "1000",
        "COORDINATOR_RATE_PER_MINUTE": "6000",
    }
    with (
        run_coordinator_serve(work, env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=120.0, trust_env=False) as c,
    ):

        def turn(user: str, session: str, text: str) -> httpx.Response:
            return c.post("/run", json=_run_body(user, session, text), headers=auth(user))

        _new_session(c, "alice", "yes")
        assert 'Reply "yes"' in _text(turn("alice", "yes", "I want a refund for order 1001").json())
        said = turn("alice", "yes", "vale, hazlo")
        assert said.status_code == 200 and "Done: refund #" in _text(said.json()), said.text

        _new_session(c, "bob", "hedge")
        assert 'Reply "yes"' in _text(turn("bob", "hedge", "I want a refund for order 1003").json())
        hedged = turn("bob", "hedge", "sí, pero espera")
        assert hedged.status_code == 200 and "Done" not in _text(hedged.json())

        _new_session(c, "carol", "twice")
        assert 'Reply "yes"' in _text(turn("carol", "twice", "refund order 1009 please").json())
        answers: list[httpx.Response] = []

        def confirm() -> None:
            answers.append(turn("carol", "twice", "d'accord, allez-y"))

        threads = [threading.Thread(target=confirm) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        statuses = sorted(r.status_code for r in answers)
        assert statuses in ([200, 200], [200, 409]), [r.text for r in answers]
        assert sum("Done: refund #" in r.text for r in answers) == 1
        rows = _refunds(work / "data" / "store.sqlite3")
    assert sorted(rows) == [(1001, "alice"), (1009, "carol")], server.log_tail()


def test_over_adk_api_server_an_italian_yes_refunds_once_and_a_portuguese_hedge_nothing(
    tmp_path,
):
    work = tmp_path / "api"
    db = (tmp_path / "s.db").resolve()
    with (
        run_adk_server("api_server", work, extra_args=["--session_service_uri", f"sqlite:///{db}"])
        as server,
        httpx.Client(base_url=server.base_url, timeout=120.0, trust_env=False) as c,
    ):

        def conversation(user: str, *texts: str) -> list[str]:
            sid = c.post(f"/apps/support/users/{user}/sessions", json={}).json()["id"]
            out = []
            for text in texts:
                body = {
                    "app_name": "support", "user_id": user, "session_id": sid,
                    "new_message": {"role": "user", "parts": [{"text": text}]},
                }
                r = c.post("/run", json=body)
                assert r.status_code == 200, r.text + server.log_tail()
                out.append(_text(r.json()))
            return out

        yes = conversation("alice", "I want a refund for order 1001", "va bene, procedi")
        hedge = conversation("bob", "I want a refund for order 1003", "sim, se for possível")
        rows = _refunds(work / "data" / "store.sqlite3")
    assert "Done: refund #" in yes[1]
    assert NOT_A_YES in hedge[1] and "Done" not in hedge[1]
    assert rows == [(1001, "alice")]
