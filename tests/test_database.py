"""Shared records on both backends: one SQLite file, and a real PostgreSQL (throwaway cluster).

`backend` (tests/conftest.py) is a database URL, once for SQLite and once for a fresh
PostgreSQL database. The limits are checked across processes, because replicas are
processes: the daily refund cap, once per order, once per billing action, one open ticket.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from coordinator.routing.decision_log import DecisionLog
from coordinator.routing.handoff import TicketStore
from coordinator.routing.router import Decision
from coordinator.settings import reset_settings
from coordinator.storage.database import dispose_engines, get_engine, schema_version
from tests._servers import REPO_ROOT
from tools.store import SCHEMA_STEPS, Store, _t

TODAY = date(2025, 3, 31)
RACERS = 6


@pytest.fixture(autouse=True)
def _fresh_engines():
    yield
    dispose_engines()  # a dropped test database must not leave pooled connections behind


def _use(monkeypatch, url: str) -> None:
    monkeypatch.setenv("COORDINATOR_DATABASE_URL", url)
    reset_settings()


def _count(url: str, sql: str, **params) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


# --- reads and the audit ------------------------------------------------------------------


def test_store_reads_the_same_on_both_backends(backend):
    store = Store(backend, seed_today=TODAY)
    assert store.customer("alice").plan == "Pro (monthly)"
    assert [o.id for o in store.orders_for("alice")] == [1004, 1001, 1002]
    assert store.order("alice", 1001).ordered == date(2025, 3, 21)
    assert store.order("bob", 1001) is None  # scoped to the owner
    invoices = store.invoices_for("alice", limit=2)
    assert [i.issued for i in invoices] == [date(2025, 3, 28)] * 2  # the duplicate charge
    assert store.invoice("alice", invoices[0].id.lower()).items
    again = Store(backend, seed_today=TODAY)  # a second "process" opens it: no re-seed
    assert again.orders_for("alice") == store.orders_for("alice")
    assert _count(backend, "SELECT count(*) FROM orders") == 11


@pytest.mark.parametrize("sql", ["UPDATE refunds SET amount_cents = 1",
                                 "DELETE FROM refunds", "UPDATE actions SET detail = 'x'"])
def test_audit_tables_refuse_update_and_delete(backend, sql):
    store = Store(backend, seed_today=TODAY)
    store.record_refund(store.order("alice", 1001), amount_cents=100, reason="r")
    store.cancel_subscription("bob")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), \
            get_engine(backend).begin() as conn:
        conn.execute(sa.text(sql))
    assert len(store.refunds_for("alice")) == 1


def test_schema_version_is_recorded(backend):
    Store(backend, seed_today=TODAY).customer("alice")
    DecisionLog(backend).count()
    TicketStore(backend).list()
    engine = get_engine(backend)
    assert schema_version(engine, "store") == len(SCHEMA_STEPS)
    assert schema_version(engine, "decisions") == 1
    assert schema_version(engine, "tickets") == 1


# The store schema as the code before schema versions created it (tools/store.py at the
# release before COORDINATOR_DATABASE_URL), without the columns added by its own _migrate.
_OLD_STORE = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE customers (user_id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL,
    plan TEXT NOT NULL, currency TEXT NOT NULL, payment_method TEXT NOT NULL);
CREATE TABLE invoices (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES customers(user_id),
    issued TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    status TEXT NOT NULL, description TEXT NOT NULL, items TEXT NOT NULL DEFAULT '[]');
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES customers(user_id),
    item TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    ordered TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE refunds (id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id), user_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0), currency TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE actions (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
    target TEXT NOT NULL, user_id TEXT NOT NULL, amount_cents INTEGER NOT NULL DEFAULT 0,
    currency TEXT NOT NULL DEFAULT '', detail TEXT NOT NULL DEFAULT '', session_id TEXT,
    nonce TEXT UNIQUE, created_at TEXT NOT NULL, UNIQUE (kind, target));
CREATE TABLE handoff_tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL,
    session_id TEXT NOT NULL, reason TEXT NOT NULL, summary TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')), created_at TEXT NOT NULL,
    closed_at TEXT);
CREATE UNIQUE INDEX handoff_one_open_per_session ON handoff_tickets (session_id)
    WHERE status = 'open';
CREATE TABLE handoff_ticket_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id), ts REAL NOT NULL,
    action TEXT NOT NULL, actor TEXT NOT NULL);
INSERT INTO meta VALUES ('seeded', '1'), ('seed_date', '2025-03-31');
INSERT INTO customers VALUES ('alice', 'Alice Martin', 'alice@example.com', 'Pro (monthly)',
    'USD', 'Visa ending 4242');
INSERT INTO orders VALUES (1001, 'alice', 'Wireless headphones', 7999, 'USD', '2025-03-21',
    'delivered');
INSERT INTO refunds VALUES (1, 1001, 'alice', 7999, 'USD', 'approved', 'broken',
    '2025-03-30T10:00:00+00:00');
INSERT INTO handoff_tickets VALUES (1, 'alice', 's1', 'requested', 'hi', 'open',
    '2025-03-30T10:00:00+00:00', NULL);
"""


def test_an_old_sqlite_file_is_upgraded_in_place(tmp_path):
    path = tmp_path / "store.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_OLD_STORE)
    conn.close()
    store = Store(path)
    [refund] = store.refunds_for("alice")  # the history is kept, with the new columns
    assert (refund.order_id, refund.session_id, refund.nonce) == (1001, None, None)
    assert store.customer("bob") is not None  # the newer seed version's rows were added
    assert store.order("alice", 1001).item == "Wireless headphones"  # rows never rewritten
    engine = get_engine(store.url)
    assert schema_version(engine, "store") == len(SCHEMA_STEPS)
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as c:
        c.execute(sa.text("DELETE FROM refunds"))  # the triggers the old file lacked
    tickets = TicketStore(path)
    # the old per-session index is replaced by one per (user, session)
    _, created = tickets.open(user_id="bob", session_id="s1", reason="r", summary="x")
    assert created and schema_version(engine, "tickets") == 1
    assert tickets.open(user_id="alice", session_id="s1", reason="r", summary="y")[1] is False


# --- limits across processes --------------------------------------------------------------

_REFUND_WORKER = """
import json, sys, time
from pathlib import Path
from tests.fakes import FakeChat
from tools import refunds
go, order, user = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
chat = FakeChat(user=user)
check = refunds.check_refund_eligibility(order, chat.say(f"refund order {order}"))
assert check.get("eligible"), check
(go.parent / f"ready-{sys.argv[4]}").touch()
while not go.exists():
    time.sleep(0.002)
print(json.dumps(refunds.request_refund(order, "race", chat.say("yes"))))
"""

_STORE_WORKER = """
import json, sys, time
from pathlib import Path
from tools.store import get_store
go, what = Path(sys.argv[1]), sys.argv[2]
store = get_store()
store.customer("alice")  # schema and seed before the start line
(go.parent / f"ready-{sys.argv[3]}").touch()
while not go.exists():
    time.sleep(0.002)
if what == "cancel":
    action, created, why = store.cancel_subscription("alice", nonce=None)
else:
    dup = store.invoices_for("alice", limit=1)[0].id
    action, created, why = store.refund_duplicate_charge("alice", dup, window_days=7)
print(json.dumps({"created": created, "id": action.id if action else None, "why": why}))
"""


def _race(tmp_path: Path, url: str, script: str, argv: list[list[str]], **env) -> list[str]:
    go = tmp_path / "go"
    full_env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COORDINATOR_DATABASE_URL=url, **env)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(go), *args, str(i)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
        for i, args in enumerate(argv)
    ]
    deadline = time.monotonic() + 240  # a guard against hangs, not a speed assertion
    while len(list(tmp_path.glob("ready-*"))) < len(argv) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.02)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def _add_orders(url: str, user: str, *order_ids: int) -> None:
    Store(url).customer(user)  # schema + seed
    ordered = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with get_engine(url).begin() as conn:
        conn.execute(_t("orders").insert(), [
            {"id": o, "user_id": user, "item": f"Item {o}", "amount_cents": 1500,
             "currency": "USD", "ordered": ordered, "status": "delivered"}
            for o in order_ids
        ])


def _refunded(url: str, user: str) -> list[int]:
    return [r.order_id for r in Store(url).refunds_for(user)]


@pytest.mark.slow
def test_racing_processes_cannot_pass_the_daily_cap(backend, tmp_path, monkeypatch):
    _use(monkeypatch, backend)
    orders = list(range(9401, 9401 + RACERS))
    _add_orders(backend, "user", *orders)
    # A pause between the policy check and the insert, inside the transaction, makes every
    # racer overlap: without the per-user lock they would all pass the cap of 2.
    outs = _race(tmp_path, backend, _REFUND_WORKER, [[str(o), "user"] for o in orders],
                 COORDINATOR_FAULT_REFUND="before_audit:0.3")
    assert len(_refunded(backend, "user")) == 2  # max_refunds_per_day: 2
    assert sum('"max_refunds_per_day"' in o for o in outs) == RACERS - 2


@pytest.mark.slow
def test_racing_processes_refund_one_order_once(backend, tmp_path, monkeypatch):
    _use(monkeypatch, backend)
    Store(backend).customer("alice")
    outs = _race(tmp_path, backend, _REFUND_WORKER, [["1001", "alice"]] * RACERS,
                 COORDINATOR_FAULT_REFUND="before_audit:0.3")
    assert _refunded(backend, "alice") == [1001]
    assert sum('"already_refunded": false' in o for o in outs) == 1


@pytest.mark.slow
@pytest.mark.parametrize("what", ["cancel", "duplicate_charge"])
def test_racing_processes_take_a_billing_action_once(backend, tmp_path, monkeypatch, what):
    _use(monkeypatch, backend)
    outs = [json.loads(o) for o in _race(tmp_path, backend, _STORE_WORKER,
                                         [[what]] * RACERS)]
    assert sum(o["created"] for o in outs) == 1
    assert len({o["id"] for o in outs}) == 1  # the losers were given the winner's row
    assert _count(backend, "SELECT count(*) FROM actions") == 1


def test_billing_actions_are_idempotent(backend):
    store = Store(backend, seed_today=TODAY)
    dup = store.invoices_for("alice", limit=1)[0].id
    first = store.refund_duplicate_charge("alice", dup, window_days=7, nonce="n1")
    again = store.refund_duplicate_charge("alice", dup, window_days=7, nonce="n2")
    assert first[1] is True and again[1] is False and again[0] == first[0]
    assert store.invoice("alice", dup).status == "refunded"
    c1, c2 = store.cancel_subscription("bob"), store.cancel_subscription("bob")
    assert (c1[1], c2[1]) == (True, False) and c1[0] == c2[0]
    assert store.customer("bob").plan == "Cancelled (was Basic (monthly))"
    original = store.invoices_for("alice", limit=2)[1].id  # the first charge is no duplicate
    assert store.refund_duplicate_charge("alice", original, window_days=7)[0] is None


def test_refund_threads_keep_the_cap(backend):
    """Threads of one process share an engine: the lock must hold there too."""
    _add_orders(backend, "user", *range(9501, 9509))
    store = Store(backend)
    results = []

    def decide(prior):
        time.sleep(0.05)  # widen the window between the read and the insert
        return len(prior) < 2, 1500

    def go(oid):
        results.append(store.refund_atomically(store.order("user", oid), decide, reason="r")[1])

    threads = [threading.Thread(target=go, args=(o,)) for o in range(9501, 9509)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 2 and len(_refunded(backend, "user")) == 2


# --- decision log, tickets, sessions ------------------------------------------------------


def test_decision_log_round_trip(backend):
    log = DecisionLog(backend)
    decision = Decision(route="billing", confidence=0.9, confident=True, method="embedding",
                        scores={"billing": 0.9, "refund": 0.1}, latency_ms=1.5)
    rid = log.record(decision, text="I was charged twice", session_id="s1", user_id="u1")
    log.record_outcome(rid, "wrong_route", correct_route="refund")
    row = log.get(rid)
    assert (row.route, row.text, row.scores, row.confident) == (
        "billing", "I was charged twice", {"billing": 0.9, "refund": 0.1}, True)
    assert [r.id for r in log.rows(labelled_only=True)] == [rid] and log.count() == 1


def test_tickets_one_open_per_session_across_threads(backend):
    tickets = TicketStore(backend)
    got = []
    threads = [threading.Thread(target=lambda: got.append(tickets.open(
        user_id="alice", session_id="s1", reason="requested", summary="help")))
        for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(created for _, created in got) == 1
    assert len({t.id for t, _ in got}) == 1
    ticket = got[0][0]
    assert tickets.close(ticket.id, actor="ops").status == "closed"
    assert tickets.close(ticket.id, actor="ops").status == "closed"  # idempotent
    assert [e["action"] for e in tickets.audit(ticket.id)] == ["open", "close"]
    assert tickets.open(user_id="alice", session_id="s1", reason="r", summary="again")[1]


@pytest.mark.postgres
def test_one_url_puts_every_record_in_one_database(fresh_database_url, monkeypatch):
    from coordinator.settings import get_settings
    from tools.store import get_store

    _use(monkeypatch, fresh_database_url.replace("postgresql+psycopg://", "postgresql://"))
    settings = get_settings()
    assert settings.database_url == fresh_database_url
    assert settings.sessions_url == fresh_database_url  # psycopg 3: sync and async
    get_store().customer("alice")
    DecisionLog().count()
    TicketStore().list()
    with get_engine(fresh_database_url).connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {"customers", "refunds", "actions", "decisions", "handoff_tickets",
            "schema_version"} <= names
    assert not (settings.data_dir / "store.sqlite3").exists()
    assert not (settings.data_dir / "decisions.sqlite3").exists()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_sessions_on_postgres_and_a_stale_append_is_busy(fresh_database_url):
    from google.adk.events import Event
    from google.genai import types

    from coordinator.serving.sessions import SessionBusyError, make_session_service

    service = make_session_service(url=fresh_database_url)
    try:
        session = await service.create_session(app_name="app", user_id="u1", state={"a": 1})

        def event(text: str) -> Event:
            return Event(author="user", invocation_id=f"i-{text}",
                         content=types.Content(role="user", parts=[types.Part(text=text)]))

        await service.append_event(session, event("one"))
        back = await service.get_session(app_name="app", user_id="u1", session_id=session.id)
        assert [e.content.parts[0].text for e in back.events] == ["one"]
        assert back.state["a"] == 1
        # Two turns read the session; the first appends; the second's copy is stale.
        other = await service.get_session(app_name="app", user_id="u1", session_id=session.id)
        await service.append_event(back, event("two"))
        with pytest.raises(SessionBusyError) as info:
            await service.append_event(other, event("three"))
        assert info.value.status_code == 409
        final = await service.get_session(app_name="app", user_id="u1", session_id=session.id)
        assert [e.content.parts[0].text for e in final.events] == ["one", "two"]
    finally:
        await service.close()


_KILL_WORKER = """
import sys
from tools.store import get_store
store = get_store()
order = store.order("alice", 1001)
store.record_refund(order, amount_cents=100, reason="kill")
"""


@pytest.mark.slow
@pytest.mark.parametrize(("point", "rows"), [("before_audit", 0), ("after_audit", 1)])
def test_kill_9_inside_and_after_the_transaction(backend, tmp_path, monkeypatch, point, rows):
    """kill -9 inside the transaction leaves no row and no lock behind (PostgreSQL ends
    the dead connection's transaction); after the commit the row is there, once."""
    _use(monkeypatch, backend)
    Store(backend).customer("alice")
    mark = tmp_path / "here"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COORDINATOR_DATABASE_URL=backend,
               COORDINATOR_FAULT_REFUND=f"{point}:60", COORDINATOR_FAULT_REFUND_MARK=str(mark))
    proc = subprocess.Popen([sys.executable, "-c", _KILL_WORKER], env=env,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120  # a guard against hangs, not a speed assertion
    while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert mark.exists(), proc.stderr.read() if proc.poll() is not None else "no fault mark"
    proc.kill()
    proc.wait()
    assert _refunded(backend, "alice") == [1001] * rows
    store = Store(backend)  # the next process: the per-user lock is free, the order once
    refund, created = store.record_refund(store.order("alice", 1001), amount_cents=100,
                                          reason="retry")
    assert refund.order_id == 1001 and created == (rows == 0)
    assert _refunded(backend, "alice") == [1001]


@pytest.mark.postgres
def test_a_server_gone_mid_run_is_one_storage_line(fresh_database_url, _postgres_cluster):
    from coordinator.errors import StorageError, as_storage_error

    store = Store(fresh_database_url)
    assert store.customer("alice") is not None
    _postgres_cluster.drop_database(fresh_database_url.rsplit("/", 1)[1])  # ends our sessions
    with pytest.raises(sa.exc.OperationalError) as info:
        store.customer("alice")
    err = as_storage_error(info.value)
    assert isinstance(err, StorageError)
    assert str(err).startswith("database: ") and "COORDINATOR_DATABASE_URL" in str(err)
    assert "\n" not in str(err)
