"""Two `coordinator serve` replicas on one database behave like one server.

Each test starts two real `coordinator serve` processes (random loopback ports, one
API-keys file) on one shared database and drives them over HTTP:

- a session whose turns alternate A/B/A/B has one history, read identically from both;
- 20 confirmed refunds of one order, the "yes" turns racing across both replicas, leave
  exactly one audit row; a customer's daily cap holds across replicas (rows counted in
  the database, not in the answers);
- kill -9 of one replica mid-turn (right after the refund's audit commit): the other
  replica serves the next turn, no stored event is lost or duplicated, and the
  audited<=>told rule reports the refund on that turn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests._servers import AdkServer, run_coordinator_serve

pytestmark = pytest.mark.anyio

USERS = ("alice", "bob", "carol")


def _key(user: str) -> str:
    return f"{user}-replica-key-0123456789"


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_key(user)}"}


@dataclass
class Database:
    """One database both replicas use: the settings that select it, and where to count rows
    (read straight from the database, not through the code under test)."""

    backend: str
    env: dict[str, str]
    url: str

    def _connect(self) -> Any:
        if self.backend == "sqlite":
            return contextlib.closing(sqlite3.connect(self.url))
        import sqlalchemy as sa  # the postgres backend's dependency

        return contextlib.closing(
            sa.create_engine(self.url, poolclass=sa.pool.NullPool).raw_connection()
        )

    def rows(self, sql: str) -> list[tuple]:
        with self._connect() as conn:
            cur = conn.cursor()
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()]

    def insert(self, sql: str, rows: list[tuple]) -> None:
        """`sql` with `?` placeholders (rewritten to `%s` for PostgreSQL)."""
        with self._connect() as conn:
            cur = conn.cursor()
            cur.executemany(sql if self.backend == "sqlite" else sql.replace("?", "%s"), rows)
            conn.commit()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path) -> Database:
    """sqlite: both replicas on one data dir (store, audit and session files side by side).
    postgres: one fresh database for everything; each replica keeps its own data dir, so
    nothing can be shared through files."""
    if request.param == "sqlite":
        data = tmp_path / "shared-data"
        return Database("sqlite", {"COORDINATOR_DATA_DIR": str(data)}, str(data / "store.sqlite3"))
    url = request.getfixturevalue("fresh_database_url")
    return Database("postgres", {"COORDINATOR_DATABASE_URL": url}, url)


@contextmanager
def replicas(
    tmp_path: Path, database: Database, *per_replica: dict[str, str]
) -> Iterator[list[AdkServer]]:
    """Start one `coordinator serve` per `per_replica` env, all on `database`."""
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"{u} {hashlib.sha256(_key(u).encode()).hexdigest()}\n" for u in USERS))
    common = {
        **database.env,
        "COORDINATOR_API_KEYS_FILE": str(keys),
        "COORDINATOR_RATE_BURST": "1000",
        "COORDINATOR_RATE_PER_MINUTE": "6000",
        "COORDINATOR_USER_CONCURRENCY": "64",
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                run_coordinator_serve(
                    tmp_path / f"replica-{'ab'[i]}",
                    env={**common, **extra},
                    log_name=f"replica-{'ab'[i]}.log",
                )
            )
            for i, extra in enumerate(per_replica)
        ]
        yield servers


def _body(user: str, session: str, text: str) -> dict[str, Any]:
    return {
        "appName": "support",
        "userId": user,
        "sessionId": session,
        "newMessage": {"role": "user", "parts": [{"text": text}]},
    }


def _texts(events: list[dict[str, Any]]) -> str:
    return "\n".join(
        p.get("text") or ""
        for e in events
        if e.get("author") != "user"
        for p in (e.get("content") or {}).get("parts") or []
        if not p.get("thought")
    )


async def _create(client: httpx.AsyncClient, server: AdkServer, user: str, session: str) -> None:
    r = await client.post(
        f"{server.base_url}/apps/support/users/{user}/sessions/{session}",
        json={},
        headers=auth(user),
    )
    assert r.status_code == 200, r.text


async def _run(
    client: httpx.AsyncClient, server: AdkServer, user: str, session: str, text: str
) -> list[dict[str, Any]]:
    r = await client.post(
        f"{server.base_url}/run", json=_body(user, session, text), headers=auth(user)
    )
    assert r.status_code == 200, f"{server.base_url}: {r.status_code} {r.text[:300]}"
    return r.json()


async def _history(
    client: httpx.AsyncClient, server: AdkServer, user: str, session: str
) -> dict[str, Any]:
    r = await client.get(
        f"{server.base_url}/apps/support/users/{user}/sessions/{session}", headers=auth(user)
    )
    assert r.status_code == 200, r.text
    return r.json()


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=300.0, trust_env=False)


def _assert_history(
    stored: list[dict[str, Any]], said: list[str], returned: list[list[dict[str, Any]]]
) -> None:
    """One user event per turn in order, followed by exactly what that turn returned."""
    ids = [e["id"] for e in stored]
    assert len(ids) == len(set(ids)), "duplicated event ids"
    user_events = [e for e in stored if e["author"] == "user"]
    assert [e["content"]["parts"][0]["text"] for e in user_events] == said
    turns: list[list[str]] = []
    for e in stored:
        if e["author"] == "user":
            turns.append([])
        else:
            turns[-1].append(e["id"])
    assert turns == [[e["id"] for e in r] for r in returned]


async def test_a_session_alternating_between_replicas_has_one_history(tmp_path, database):
    turns = [
        "I want a refund for order 1001",
        "yes",
        "Can you show me my invoices?",
        "The app crashes when I upload a file",
        "What is your refund policy?",
        "hello",
    ]
    with replicas(tmp_path, database, {}, {}) as (a, b):
        async with _client() as client:
            await _create(client, a, "alice", "alt")
            returned = []
            for i, text in enumerate(turns):
                returned.append(await _run(client, (a, b)[i % 2], "alice", "alt", text))
            from_a = await _history(client, a, "alice", "alt")
            from_b = await _history(client, b, "alice", "alt")

    assert 'Reply "yes"' in _texts(returned[0]) or 'reply "yes"' in _texts(returned[0]).lower()
    assert "refund #" in _texts(returned[1])  # B confirmed what A proposed
    assert [e["id"] for e in from_a["events"]] == [e["id"] for e in from_b["events"]]
    assert from_a["events"] == from_b["events"]
    assert from_a["state"] == from_b["state"]
    _assert_history(from_a["events"], turns, returned)
    refunds = database.rows("SELECT order_id, session_id FROM refunds WHERE user_id='alice'")
    assert refunds == [(1001, "alt")]


async def test_racing_confirmations_across_replicas_refund_once_and_keep_the_daily_cap(
    tmp_path, database
):
    racers = 20
    with replicas(tmp_path, database, {}, {}) as servers:
        async with _client() as client:
            # One order, 20 sessions each holding a proposal for it (made on both replicas).
            for i in range(racers):
                await _create(client, servers[i % 2], "alice", f"once-{i}")
            async with anyio.create_task_group() as tg:
                for i in range(racers):
                    tg.start_soon(
                        _run, client, servers[i % 2], "alice", f"once-{i}", "refund order 1001"
                    )
            # bob: three more eligible orders than the daily cap (2) lets through.
            orders = [1003, 9501, 9502, 9503, 9504]
            await _create(client, servers[0], "bob", "cap-0")
            await _run(client, servers[0], "bob", "cap-0", "refund order 1003")  # store exists
            day = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
            database.insert(
                "INSERT INTO orders (id, user_id, item, amount_cents, currency, ordered, status)"
                " VALUES (?, 'bob', ?, 1500, 'USD', ?, 'delivered')",
                [(o, f"Item {o}", day) for o in orders[1:]],
            )
            for i, order in enumerate(orders[1:], start=1):
                await _create(client, servers[i % 2], "bob", f"cap-{i}")
                await _run(client, servers[i % 2], "bob", f"cap-{i}", f"refund order {order}")

            answers: dict[str, str] = {}

            async def yes(server: AdkServer, user: str, session: str) -> None:
                answers[session] = _texts(await _run(client, server, user, session, "yes"))

            async with anyio.create_task_group() as tg:  # all 25 "yes" at once
                for i in range(racers):
                    tg.start_soon(yes, servers[i % 2], "alice", f"once-{i}")
                for i in range(len(orders)):
                    tg.start_soon(yes, servers[(i + 1) % 2], "bob", f"cap-{i}")

    once = database.rows("SELECT id, session_id FROM refunds WHERE order_id=1001")
    assert len(once) == 1, once
    # Exactly one session was told it got the refund; the other 19 that it already happened.
    winner = once[0][1]
    assert f"Done: refund #{once[0][0]}" in answers[winner]
    for session, text in answers.items():
        if session.startswith("once-") and session != winner:
            assert "Done:" not in text and "No second refund was made" in text, text
    bob = database.rows("SELECT order_id FROM refunds WHERE user_id='bob'")
    assert len(bob) == 2, bob  # max_refunds_per_day: 2, across both replicas
    cap = [answers[f"cap-{i}"] for i in range(len(orders))]
    assert sum("Done: refund #" in t for t in cap) == 2, cap
    assert sum("can't be refunded today" in t for t in cap) == len(orders) - 2, cap


async def _stream_turn(
    server: AdkServer, user: str, session: str, text: str, received: list[dict[str, Any]]
) -> None:
    """POST /run_sse and collect every event as it arrives (until the server dies)."""
    body = {**_body(user, session, text), "streaming": False}
    async with _client() as client:
        try:
            async with client.stream(
                "POST", f"{server.base_url}/run_sse", json=body, headers=auth(user)
            ) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
        except httpx.HTTPError:
            pass  # the replica was killed mid-answer


async def test_kill_9_of_one_replica_mid_turn_the_other_carries_the_session_on(tmp_path, database):
    mark = tmp_path / "at-after-audit"
    fault = {  # replica A sleeps right after the audit commit until it is killed
        "COORDINATOR_FAULT_REFUND": "after_audit:120",
        "COORDINATOR_FAULT_REFUND_MARK": str(mark),
    }
    with replicas(tmp_path, database, fault, {}) as (a, b):
        async with _client() as client:
            await _create(client, b, "carol", "crash")
            first = await _run(client, b, "carol", "crash", "I want a refund for order 1009")
            received: list[dict[str, Any]] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(_stream_turn, a, "carol", "crash", "yes", received)
                deadline = time.monotonic() + 120
                while not mark.exists() and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                assert mark.exists(), a.log_tail()
                await anyio.sleep(0.3)  # let A flush what it streamed before the tool ran
                os.killpg(a.proc.pid, signal.SIGKILL)
            a.proc.wait(timeout=30)
            audited = database.rows("SELECT id, session_id FROM refunds WHERE user_id='carol'")
            after = await _run(client, b, "carol", "crash", "hello")
            stored = await _history(client, b, "carol", "crash")

    assert a.proc.returncode == -signal.SIGKILL
    assert len(audited) == 1 and audited[0][1] == "crash", audited
    refund_id = audited[0][0]
    # A died before it answered: the refund was never told on A ...
    assert f"refund #{refund_id}" not in _texts(received)
    # ... so B tells it on the next turn, and marks it told with that answer.
    assert f"Before we go on: your refund #{refund_id}" in _texts(after)
    assert stored["state"].get(f"confirm:told:{refund_id}") is True
    events = stored["events"]
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    assert [e["content"]["parts"][0]["text"] for e in events if e["author"] == "user"] == [
        "I want a refund for order 1009",
        "yes",
        "hello",
    ]
    # Nothing A streamed before dying is missing; every event of the other turns is there.
    streamed = [e["id"] for e in received]
    assert streamed and all(i in ids for i in streamed)
    assert ids[: len(first) + 1][1:] == [e["id"] for e in first]
    assert ids[-len(after) :] == [e["id"] for e in after]
    assert database.rows("SELECT count(*) FROM refunds WHERE user_id='carol'") == [(1,)]


async def test_a_second_turn_on_the_other_replica_while_one_runs_is_409_and_nothing_is_lost(
    tmp_path, database
):
    """The guards' busy-session check lives in each process; the turn lease
    (coordinator/serving/turn_lease.py) makes it hold across replicas. Without it B would start the
    turn and one of the two would lose its answer at ADK's stale-session check."""
    mark = tmp_path / "in-refund"
    slow = {  # replica A pauses 3 s inside the confirmed refund
        "COORDINATOR_FAULT_REFUND": "after_audit:3",
        "COORDINATOR_FAULT_REFUND_MARK": str(mark),
    }
    with replicas(tmp_path, database, slow, {}) as (a, b):
        async with _client() as client:
            await _create(client, a, "alice", "busy")
            first = await _run(client, a, "alice", "busy", "I want a refund for order 1001")
            results: dict[str, Any] = {}

            async def confirm() -> None:
                results["yes"] = await _run(client, a, "alice", "busy", "yes")

            async with anyio.create_task_group() as tg:
                tg.start_soon(confirm)
                deadline = time.monotonic() + 120
                while not mark.exists() and time.monotonic() < deadline:
                    await anyio.sleep(0.05)
                assert mark.exists(), a.log_tail()
                second = await client.post(
                    f"{b.base_url}/run",
                    json=_body("alice", "busy", "show my last invoice"),
                    headers=auth("alice"),
                )
            # Once A's turn is over, B takes the session's next turn.
            after = await _run(client, b, "alice", "busy", "show my last invoice")
            stored = await _history(client, b, "alice", "busy")

    assert second.status_code == 409, second.text
    assert "busy" in second.json()["detail"]
    _assert_history(
        stored["events"],
        ["I want a refund for order 1001", "yes", "show my last invoice"],
        [first, results["yes"], after],
    )
    assert "Done" in _texts(results["yes"])
    assert database.rows("SELECT count(*) FROM refunds WHERE user_id='alice'") == [(1,)]
