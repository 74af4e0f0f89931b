"""The demo support store: customers, invoices, orders and an append-only refund audit.

A small SQLite file (`get_settings().store_path`) created and seeded on first use, so the
offline agents answer from real rows. Seeding is deterministic *relative to the day it
runs*: dates are stored as absolute ISO dates computed from "today minus N days", which
keeps age rules (refund window) meaningful whenever the demo is started; functions that
judge age take a `now` parameter so tests can pin time.

The `refunds` table is the audit trail: one row per order (`order_id UNIQUE` makes a
second refund impossible, which is the idempotency key) and SQLite triggers reject every
UPDATE and DELETE. Money is stored in integer cents. Example::

    store = get_store()
    store.orders_for("alice")            # [Order(id=1001, ...), ...]
    store.record_refund(order, reason="broken", amount_cents=7999)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from coordinator.settings import get_settings

__all__ = [
    "SEED_USERS",
    "Action",
    "Customer",
    "Invoice",
    "Order",
    "Refund",
    "Store",
    "format_money",
    "get_store",
]

# "user" is `adk web`'s default user id, "test_user" is `adk run`'s.
SEED_USERS = ("alice", "bob", "carol", "user", "test_user")
_SEED_VERSION = "2"  # 2: adds test_user; older stores get the missing rows

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def format_money(cents: int, currency: str = "USD") -> str:
    """`2900, "USD"` -> `"$29.00"`; unknown currencies keep their code."""
    sign = "-" if cents < 0 else ""
    value = f"{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{value}" if symbol else f"{sign}{value} {currency}"


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class Customer(_Row):
    user_id: str = Field(description="Account id (the ADK session user id).")
    name: str = Field(description="Display name.")
    email: str = Field(description="Contact and billing e-mail.")
    plan: str = Field(description="Subscription plan.")
    currency: str = Field(description="ISO 4217 currency of the account.")
    payment_method: str = Field(description="Masked default payment method.")


class Invoice(_Row):
    id: str = Field(description="Invoice number, e.g. INV-10004.")
    user_id: str
    issued: date = Field(description="Date the invoice was issued and charged.")
    amount_cents: int = Field(description="Total in cents.")
    currency: str
    status: Literal["paid", "open", "refunded"] = Field(description="Payment status.")
    description: str = Field(description="What the invoice is for.")
    items: tuple[str, ...] = Field(default=(), description="Line items, human readable.")

    @property
    def amount(self) -> str:
        return format_money(self.amount_cents, self.currency)


class Order(_Row):
    id: int = Field(description="Order number (1001, 1002, ...).")
    user_id: str
    item: str = Field(description="What was bought.")
    amount_cents: int
    currency: str
    ordered: date = Field(description="Order date.")
    status: Literal["delivered", "shipped", "cancelled"]

    @property
    def amount(self) -> str:
        return format_money(self.amount_cents, self.currency)


class Refund(_Row):
    id: int
    order_id: int
    user_id: str
    amount_cents: int
    currency: str
    status: Literal["approved"] = Field(description="Refunds are only recorded once approved.")
    reason: str
    created_at: datetime = Field(description="UTC time the refund was recorded.")
    session_id: str | None = Field(None, description="Chat session that confirmed it.")
    nonce: str | None = Field(None, description="The confirmed proposal it executed.")

    @property
    def amount(self) -> str:
        return format_money(self.amount_cents, self.currency)


class Action(_Row):
    """A confirmed side effect other than an order refund (audit row)."""

    id: int
    kind: Literal["charge_refund", "cancel_subscription"]
    target: str = Field(description="Invoice number, or the user id for a subscription.")
    user_id: str
    amount_cents: int = 0
    currency: str = ""
    detail: str = ""
    session_id: str | None = None
    nonce: str | None = None
    created_at: datetime

    @property
    def amount(self) -> str:
        return format_money(self.amount_cents, self.currency or "USD")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    user_id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, plan TEXT NOT NULL,
    currency TEXT NOT NULL, payment_method TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS invoices (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES customers(user_id),
    issued TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    status TEXT NOT NULL, description TEXT NOT NULL, items TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS invoices_user ON invoices(user_id, issued);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES customers(user_id),
    item TEXT NOT NULL, amount_cents INTEGER NOT NULL, currency TEXT NOT NULL,
    ordered TEXT NOT NULL, status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_user ON orders(user_id);
CREATE TABLE IF NOT EXISTS refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id),
    user_id TEXT NOT NULL, amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- (session_id, nonce columns: added by _migrate, so older stores get them too)
-- Other confirmed side effects (a duplicate charge refunded, a subscription cancelled):
-- one row per (kind, target), append-only like refunds.
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, target TEXT NOT NULL, user_id TEXT NOT NULL,
    amount_cents INTEGER NOT NULL DEFAULT 0, currency TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '', session_id TEXT, nonce TEXT UNIQUE,
    created_at TEXT NOT NULL, UNIQUE (kind, target)
);
CREATE INDEX IF NOT EXISTS actions_session ON actions(session_id);
CREATE TRIGGER IF NOT EXISTS actions_no_update BEFORE UPDATE ON actions
BEGIN SELECT RAISE(ABORT, 'actions is an append-only audit table'); END;
CREATE TRIGGER IF NOT EXISTS actions_no_delete BEFORE DELETE ON actions
BEGIN SELECT RAISE(ABORT, 'actions is an append-only audit table'); END;
CREATE TRIGGER IF NOT EXISTS actions_no_replace BEFORE INSERT ON actions
WHEN EXISTS (SELECT 1 FROM actions WHERE (kind = NEW.kind AND target = NEW.target) OR id = NEW.id)
BEGIN SELECT RAISE(IGNORE); END;
CREATE TRIGGER IF NOT EXISTS refunds_no_update BEFORE UPDATE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds is an append-only audit table'); END;
CREATE TRIGGER IF NOT EXISTS refunds_no_delete BEFORE DELETE ON refunds
BEGIN SELECT RAISE(ABORT, 'refunds is an append-only audit table'); END;
-- INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless
-- recursive_triggers is on): drop any insert that would replace an existing row.
CREATE TRIGGER IF NOT EXISTS refunds_no_replace BEFORE INSERT ON refunds
WHEN EXISTS (SELECT 1 FROM refunds WHERE order_id = NEW.order_id OR id = NEW.id)
BEGIN SELECT RAISE(IGNORE); END;
"""

# (user_id, name, email, plan, currency, payment method, monthly fee in cents)
_CUSTOMERS = [
    (
        "alice",
        "Alice Martin",
        "alice@example.com",
        "Pro (monthly)",
        "USD",
        "Visa ending 4242",
        2900,
    ),
    (
        "bob",
        "Bob Okafor",
        "bob@example.com",
        "Basic (monthly)",
        "USD",
        "Mastercard ending 5100",
        900,
    ),
    (
        "carol",
        "Carol Lindqvist",
        "carol@example.com",
        "Team (monthly)",
        "EUR",
        "SEPA debit DE…3000",
        4900,
    ),
    (
        "user",
        "Demo User",
        "demo.user@example.com",
        "Pro (monthly)",
        "USD",
        "Visa ending 1881",
        2900,
    ),
    (  # appended last so the invoice numbers of earlier seed versions do not move
        "test_user",
        "Terminal User",
        "test.user@example.com",
        "Pro (monthly)",
        "USD",
        "Visa ending 7070",
        2900,
    ),
]

# Users whose latest subscription fee was charged twice (the "charged twice" story).
_DUPLICATE_CHARGE_USERS = ("alice", "user", "test_user")

# (order id, user_id, item, cents, days before seeding, status)
_ORDERS = [
    (1001, "alice", "Wireless headphones", 7999, 10, "delivered"),
    (1002, "alice", "Mechanical keyboard", 12900, 75, "delivered"),
    (1003, "bob", "USB-C docking station", 5990, 5, "delivered"),
    (1004, "alice", "Aluminium laptop stand", 4500, 2, "shipped"),
    (1005, "carol", "27-inch 4K monitor", 64900, 7, "delivered"),
    (1006, "user", "Wireless mouse", 2499, 3, "delivered"),
    (1007, "user", "Noise-cancelling headphones", 19900, 60, "delivered"),
    (1008, "bob", "Phone case", 1999, 20, "cancelled"),
    (1009, "carol", "Webcam stand", 3450, 12, "delivered"),
    (1010, "test_user", "Wireless mouse", 2499, 3, "delivered"),
    (1011, "test_user", "Noise-cancelling headphones", 19900, 60, "delivered"),
]


def _seed_rows(today: date) -> tuple[list[tuple], list[tuple], list[tuple]]:
    customers, invoices, orders = [], [], []
    number = 10001
    for user_id, name, email, plan, currency, method, fee in _CUSTOMERS:
        customers.append((user_id, name, email, plan, currency, method))
        plan_name = plan.split(" ")[0]
        # Four monthly subscription charges: 93, 63, 33 and 3 days before seeding.
        for months_ago in (3, 2, 1, 0):
            issued = today - timedelta(days=3 + 30 * months_ago)
            period = issued.strftime("%b %Y")
            desc = f"{plan_name} plan subscription, {period}"
            item = f"{plan_name} plan, 1 month ({period}): {format_money(fee, currency)}"
            status = "open" if (user_id == "carol" and months_ago == 0) else "paid"
            # A duplicate: the same period charged again a minute later by a payment retry.
            charges = [status]
            if months_ago == 0 and user_id in _DUPLICATE_CHARGE_USERS:
                charges.append("paid")
            for charge_status in charges:
                invoices.append(
                    (
                        f"INV-{number}",
                        user_id,
                        issued.isoformat(),
                        fee,
                        currency,
                        charge_status,
                        desc,
                        json.dumps([item]),
                    )
                )
                number += 1
    for oid, user_id, item, cents, days, status in _ORDERS:
        currency = next(c[4] for c in _CUSTOMERS if c[0] == user_id)
        ordered = (today - timedelta(days=days)).isoformat()
        orders.append((oid, user_id, item, cents, currency, ordered, status))
    return customers, invoices, orders


_init_lock = threading.Lock()


class Store:
    """Access to one store file; every call opens a short-lived connection (thread-safe)."""

    def __init__(self, path: str | Path, *, seed_today: date | None = None) -> None:
        self.path = Path(path)
        self._seed_today = seed_today
        self._ready = False

    # --- connection & seeding ------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit-off mode; commits on success, rolls back on error."""
        self._ensure()
        conn = self._open()
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _ensure(self) -> None:
        if self._ready:
            return
        with _init_lock:  # threads of this process; BEGIN IMMEDIATE serialises processes
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._open()
            try:
                conn.isolation_level = None
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in _SCHEMA.split(";\n"):
                        if stmt.strip():
                            conn.execute(stmt)
                    _migrate(conn)
                    seeded = conn.execute("SELECT value FROM meta WHERE key='seeded'").fetchone()
                    if seeded is None or seeded[0] != _SEED_VERSION:
                        self._seed(conn, upgrade=seeded is not None)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            finally:
                conn.close()
            self._ready = True

    def _seed(self, conn: sqlite3.Connection, *, upgrade: bool = False) -> None:
        """Seed a new store, or add what a newer seed version has to an older one
        (existing rows, and the refunds audit, are never touched)."""
        today = self._seed_today or datetime.now(UTC).date()
        if upgrade:
            row = conn.execute("SELECT value FROM meta WHERE key='seed_date'").fetchone()
            today = date.fromisoformat(row[0]) if row else today
        customers, invoices, orders = _seed_rows(today)
        verb = "INSERT OR IGNORE" if upgrade else "INSERT"
        conn.executemany(f"{verb} INTO customers VALUES (?,?,?,?,?,?)", customers)
        conn.executemany(f"{verb} INTO invoices VALUES (?,?,?,?,?,?,?,?)", invoices)
        conn.executemany(f"{verb} INTO orders VALUES (?,?,?,?,?,?,?)", orders)
        conn.execute("DELETE FROM meta WHERE key='seeded'")
        conn.executemany(
            "INSERT OR IGNORE INTO meta VALUES (?,?)",
            [("seeded", _SEED_VERSION), ("seed_date", today.isoformat())],
        )

    # --- reads ---------------------------------------------------------------------------

    def customer(self, user_id: str) -> Customer | None:
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM customers WHERE user_id=?", (user_id,)).fetchone()
        return Customer(**dict(row)) if row else None

    def invoices_for(self, user_id: str, limit: int | None = None) -> list[Invoice]:
        """The user's invoices, newest first."""
        sql = "SELECT * FROM invoices WHERE user_id=? ORDER BY issued DESC, id DESC"
        params: tuple = (user_id,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (max(0, int(limit)),)
        with self.connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_invoice(r) for r in rows]

    def invoice(self, user_id: str, invoice_id: str) -> Invoice | None:
        """One invoice, only if it belongs to `user_id` (else None: no existence leak)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM invoices WHERE id=? AND user_id=?",
                (invoice_id.strip().upper(), user_id),
            ).fetchone()
        return _invoice(row) if row else None

    def orders_for(self, user_id: str) -> list[Order]:
        """The user's orders, newest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM orders WHERE user_id=? ORDER BY ordered DESC, id DESC", (user_id,)
            ).fetchall()
        return [Order(**dict(r)) for r in rows]

    def order(self, user_id: str, order_id: int) -> Order | None:
        """One order, only if it belongs to `user_id` (else None: no existence leak)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM orders WHERE id=? AND user_id=?", (int(order_id), user_id)
            ).fetchone()
        return Order(**dict(row)) if row else None

    def refund_for_order(self, order_id: int) -> Refund | None:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT * FROM refunds WHERE order_id=?", (int(order_id),)
            ).fetchone()
        return Refund(**dict(row)) if row else None

    def refunds_for(self, user_id: str) -> list[Refund]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM refunds WHERE user_id=? ORDER BY id", (user_id,)
            ).fetchall()
        return [Refund(**dict(r)) for r in rows]

    # --- the one write -------------------------------------------------------------------

    @contextmanager
    def _user_transaction(self, user_id: str) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the per-user lock for its whole duration.

        SQLite: `BEGIN IMMEDIATE` takes the database write lock before the first read, so
        a racing process waits for our commit and then reads our refund. PostgreSQL: the
        same shape is `BEGIN; SELECT 1 FROM customers WHERE user_id=%s FOR UPDATE` (the
        customer row is the per-user lock), then the same reads and insert.
        """
        self._ensure()
        conn = self._open()
        conn.isolation_level = None  # we issue BEGIN/COMMIT ourselves
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("SELECT 1 FROM customers WHERE user_id=?", (user_id,))
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def refund_atomically(
        self,
        order: Order,
        decide: Callable[[list[Refund]], tuple[bool, int]],
        *,
        reason: str,
        now: datetime | None = None,
        session_id: str | None = None,
        nonce: str | None = None,
    ) -> tuple[Refund | None, bool]:
        """Decide and record a refund in ONE transaction: `(refund, created)`.

        `decide(prior_refunds) -> (allowed, amount_cents)` sees the customer's refunds as
        they are inside the lock, so the daily cap, the amount limit and once-per-order hold
        however many processes race. Returns the existing refund (created=False) when the
        order or the proposal `nonce` was already refunded, `(None, False)` when refused.
        """
        created_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        with self._user_transaction(order.user_id) as conn:
            rows = conn.execute(
                "SELECT * FROM refunds WHERE user_id=? ORDER BY id", (order.user_id,)
            ).fetchall()
            prior = [Refund(**dict(r)) for r in rows]
            existing = next(
                (r for r in prior if r.order_id == order.id or (nonce and r.nonce == nonce)),
                None,
            )
            if existing is not None:
                return existing, False
            allowed, amount_cents = decide(prior)
            if not allowed:
                return None, False
            _fault("before_audit")
            cur = conn.execute(
                "INSERT INTO refunds (order_id, user_id, amount_cents, currency, status, reason,"
                " created_at, session_id, nonce) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    order.id,
                    order.user_id,
                    amount_cents,
                    order.currency,
                    "approved",
                    reason.strip()[:500] or "not given",
                    created_at,
                    session_id,
                    nonce,
                ),
            )
            row = conn.execute("SELECT * FROM refunds WHERE id=?", (cur.lastrowid,)).fetchone()
        _fault("after_audit")  # committed: a crash from here on must still be reported
        return Refund(**dict(row)), True

    def record_refund(
        self, order: Order, *, amount_cents: int, reason: str, now: datetime | None = None
    ) -> tuple[Refund, bool]:
        """Append the refund for `order` without a policy check; `(refund, created)`. A
        second call for the same order returns the existing row with `created=False`."""
        refund, created = self.refund_atomically(
            order, lambda prior: (True, amount_cents), reason=reason, now=now
        )
        assert refund is not None
        return refund, created

    def refunds_for_session(self, session_id: str, user_id: str) -> list[Refund]:
        """Refunds confirmed in one chat session (to check that the session was told).

        By user *and* session: a session id is a name the client picks, so another user
        can have a session of the same name, and must not be told this user's refunds."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM refunds WHERE session_id=? AND user_id=? ORDER BY id",
                (session_id, user_id),
            ).fetchall()
        return [Refund(**dict(r)) for r in rows]

    # --- billing side effects (same transaction discipline as refunds) -------------------

    def _existing_action(self, conn: sqlite3.Connection, kind: str, target: str) -> Action | None:
        row = conn.execute(
            "SELECT * FROM actions WHERE kind=? AND target=?", (kind, target)
        ).fetchone()
        return Action(**dict(row)) if row else None

    def _insert_action(self, conn: sqlite3.Connection, **values: object) -> Action:
        values.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
        cols = ", ".join(values)
        cur = conn.execute(
            f"INSERT INTO actions ({cols}) VALUES ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )
        row = conn.execute("SELECT * FROM actions WHERE id=?", (cur.lastrowid,)).fetchone()
        return Action(**dict(row))

    def refund_duplicate_charge(
        self,
        user_id: str,
        invoice_id: str,
        *,
        window_days: int,
        session_id: str | None = None,
        nonce: str | None = None,
    ) -> tuple[Action | None, bool, str]:
        """Refund a duplicate charge in one transaction: `(action, created, why_not)`.

        Inside the lock it re-checks that `invoice_id` is the user's, still paid, and a
        duplicate (an earlier paid invoice with the same description and amount within
        `window_days`); then records the action and marks the invoice refunded.
        """
        with self._user_transaction(user_id) as conn:
            existing = self._existing_action(conn, "charge_refund", invoice_id)
            if existing is not None:
                return existing, False, ""
            row = conn.execute(
                "SELECT * FROM invoices WHERE id=? AND user_id=?", (invoice_id, user_id)
            ).fetchone()
            if row is None:
                return None, False, f"Invoice {invoice_id} was not found on your account."
            inv = _invoice(row)
            if inv.status != "paid":
                return None, False, f"Invoice {invoice_id} is {inv.status}, not a paid charge."
            earlier = conn.execute(
                "SELECT issued FROM invoices WHERE user_id=? AND status='paid' AND id<>? AND"
                " description=? AND amount_cents=? AND (issued<? OR (issued=? AND id<?))",
                (
                    user_id,
                    inv.id,
                    inv.description,
                    inv.amount_cents,
                    inv.issued.isoformat(),
                    inv.issued.isoformat(),
                    inv.id,
                ),
            ).fetchall()
            if not any(
                (inv.issued - date.fromisoformat(r[0])).days <= window_days for r in earlier
            ):
                return None, False, f"Invoice {invoice_id} is not a duplicate of another charge."
            action = self._insert_action(
                conn,
                kind="charge_refund",
                target=inv.id,
                user_id=user_id,
                amount_cents=inv.amount_cents,
                currency=inv.currency,
                detail=inv.description,
                session_id=session_id,
                nonce=nonce,
            )
            conn.execute("UPDATE invoices SET status='refunded' WHERE id=?", (inv.id,))
        return action, True, ""

    def cancel_subscription(
        self, user_id: str, *, session_id: str | None = None, nonce: str | None = None
    ) -> tuple[Action | None, bool, str]:
        """Cancel the user's subscription in one transaction: `(action, created, why_not)`."""
        with self._user_transaction(user_id) as conn:
            existing = self._existing_action(conn, "cancel_subscription", user_id)
            if existing is not None:
                return existing, False, ""
            row = conn.execute("SELECT plan FROM customers WHERE user_id=?", (user_id,)).fetchone()
            if row is None:
                return None, False, "There is no subscription on your account."
            action = self._insert_action(
                conn,
                kind="cancel_subscription",
                target=user_id,
                user_id=user_id,
                detail=row[0],
                session_id=session_id,
                nonce=nonce,
            )
            conn.execute(
                "UPDATE customers SET plan=? WHERE user_id=?",
                (f"Cancelled (was {row[0]})", user_id),
            )
        return action, True, ""

    def action(self, kind: str, target: str) -> Action | None:
        with self.connect() as conn:
            return self._existing_action(conn, kind, target)

    def actions_for_session(self, session_id: str, user_id: str) -> list[Action]:
        """Billing actions of one user's chat session (see `refunds_for_session`)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT * FROM actions WHERE session_id=? AND user_id=? ORDER BY id",
                (session_id, user_id),
            ).fetchall()
        return [Action(**dict(r)) for r in rows]


FAULT_ENV = "COORDINATOR_FAULT_REFUND"


def _fault(point: str) -> None:
    """Test hook: `COORDINATOR_FAULT_REFUND=after_audit:2.0` sleeps 2 s at that point, so a
    test can kill -9 the process there. Unset in production (one dict lookup)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    where, _, seconds = spec.partition(":")
    if where == point:
        if mark := os.environ.get(f"{FAULT_ENV}_MARK"):  # tells the test "we are here now"
            Path(mark).touch()
        time.sleep(float(seconds or 1.0))


def _migrate(conn: sqlite3.Connection) -> None:
    """Columns added after the first release (ALTER TABLE ADD COLUMN keeps every row)."""
    cols = {r[1] for r in conn.execute("PRAGMA table_info(refunds)")}
    for col in ("session_id", "nonce"):
        if col not in cols:
            conn.execute(f"ALTER TABLE refunds ADD COLUMN {col} TEXT")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS refunds_nonce ON refunds(nonce)")
    conn.execute("CREATE INDEX IF NOT EXISTS refunds_session ON refunds(session_id)")


def _invoice(row: sqlite3.Row) -> Invoice:
    data = dict(row)
    data["items"] = tuple(json.loads(data.get("items") or "[]"))
    return Invoice(**data)


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


def get_store(path: str | Path | None = None) -> Store:
    """The store at `path` (default: `get_settings().store_path`), one object per file."""
    p = Path(path) if path is not None else get_settings().store_path
    with _stores_lock:
        store = _stores.get(p)
        if store is None or not p.exists():
            store = _stores[p] = Store(p)
        return store
