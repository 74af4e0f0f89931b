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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coordinator.settings import get_settings
from coordinator.storage.database import append_only, ensure_schema, get_engine, locate, setup_lock

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


_SQLITE_GUARDS = """
CREATE TRIGGER IF NOT EXISTS actions_no_replace BEFORE INSERT ON actions
WHEN EXISTS (SELECT 1 FROM actions WHERE (kind = NEW.kind AND target = NEW.target) OR id = NEW.id)
BEGIN SELECT RAISE(IGNORE); END;
-- INSERT OR REPLACE deletes the old row without firing DELETE triggers (unless
-- recursive_triggers is on): drop any insert that would replace an existing row.
CREATE TRIGGER IF NOT EXISTS refunds_no_replace BEFORE INSERT ON refunds
WHEN EXISTS (SELECT 1 FROM refunds WHERE order_id = NEW.order_id OR id = NEW.id)
BEGIN SELECT RAISE(IGNORE); END
"""


def _tables():
    """The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL. Dates are
    ISO text and money integer cents on both, so rows read back identically."""
    import sqlalchemy as sa

    md = sa.MetaData()
    text, integer = sa.Text, sa.Integer
    sa.Table("meta", md, sa.Column("key", text, primary_key=True),
             sa.Column("value", text, nullable=False))
    sa.Table(
        "customers", md,
        sa.Column("user_id", text, primary_key=True),
        *(sa.Column(c, text, nullable=False)
          for c in ("name", "email", "plan", "currency", "payment_method")),
    )
    sa.Table(
        "invoices", md,
        sa.Column("id", text, primary_key=True),
        sa.Column("user_id", text, sa.ForeignKey("customers.user_id"), nullable=False),
        sa.Column("issued", text, nullable=False),
        sa.Column("amount_cents", integer, nullable=False),
        sa.Column("currency", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("description", text, nullable=False),
        sa.Column("items", text, nullable=False, server_default="[]"),
        sa.Index("invoices_user", "user_id", "issued"),
    )
    sa.Table(
        "orders", md,
        sa.Column("id", integer, primary_key=True, autoincrement=False),
        sa.Column("user_id", text, sa.ForeignKey("customers.user_id"), nullable=False),
        sa.Column("item", text, nullable=False),
        sa.Column("amount_cents", integer, nullable=False),
        sa.Column("currency", text, nullable=False),
        sa.Column("ordered", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Index("orders_user", "user_id"),
    )
    # The refund audit: one row per order (the idempotency key), append-only.
    sa.Table(
        "refunds", md,
        sa.Column("id", integer, primary_key=True, autoincrement=True),
        sa.Column("order_id", integer, sa.ForeignKey("orders.id"), nullable=False, unique=True),
        sa.Column("user_id", text, nullable=False),
        sa.Column("amount_cents", integer, sa.CheckConstraint("amount_cents > 0"),
                  nullable=False),
        sa.Column("currency", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("reason", text, nullable=False),
        sa.Column("created_at", text, nullable=False),
        sa.Column("session_id", text),
        sa.Column("nonce", text),
        sqlite_autoincrement=True,
    )
    # Other confirmed side effects (a duplicate charge refunded, a subscription cancelled):
    # one row per (kind, target), append-only like refunds.
    sa.Table(
        "actions", md,
        sa.Column("id", integer, primary_key=True, autoincrement=True),
        sa.Column("kind", text, nullable=False),
        sa.Column("target", text, nullable=False),
        sa.Column("user_id", text, nullable=False),
        sa.Column("amount_cents", integer, nullable=False, server_default="0"),
        sa.Column("currency", text, nullable=False, server_default=""),
        sa.Column("detail", text, nullable=False, server_default=""),
        sa.Column("session_id", text),
        sa.Column("nonce", text, unique=True),
        sa.Column("created_at", text, nullable=False),
        sa.UniqueConstraint("kind", "target"),
        sa.Index("actions_session", "session_id"),
        sqlite_autoincrement=True,
    )
    return md


_md = None


def _t(name: str):
    """A store table by name (the metadata is built on first use: no SQLAlchemy import
    cost for commands that never open the store)."""
    global _md
    if _md is None:
        _md = _tables()
    return _md.tables[name]


def _step_create(conn) -> None:
    """Version 1: the tables, and the audit tables made append-only in the database."""
    _t("meta").metadata.create_all(conn, checkfirst=True)
    for table in ("refunds", "actions"):
        append_only(conn, table)
    if conn.dialect.name == "sqlite":
        for stmt in _SQLITE_GUARDS.split(";\n"):
            if stmt.strip():
                conn.exec_driver_sql(stmt)


def _step_refund_session(conn) -> None:
    """Version 2: refunds remember the session and proposal nonce (files made before them
    get the columns; ALTER TABLE ADD COLUMN keeps every row)."""
    import sqlalchemy as sa

    cols = {c["name"] for c in sa.inspect(conn).get_columns("refunds")}
    for col in ("session_id", "nonce"):
        if col not in cols:
            conn.exec_driver_sql(f"ALTER TABLE refunds ADD COLUMN {col} TEXT")
    conn.exec_driver_sql("CREATE UNIQUE INDEX IF NOT EXISTS refunds_nonce ON refunds(nonce)")
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS refunds_session ON refunds(session_id)")


# Step i moves the schema from version i to i+1 (recorded in `schema_version`).
SCHEMA_STEPS = (_step_create, _step_refund_session)


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
    """Access to one store database: a SQLite file (a path) or any URL
    `coordinator.storage.database`
    supports. Thread-safe; every call takes a short-lived connection."""

    def __init__(self, path: str | Path, *, seed_today: date | None = None) -> None:
        self.path, self.url = locate(path)
        self._seed_today = seed_today
        self._ready = False

    @property
    def engine(self):
        return get_engine(self.url)

    # --- connection & seeding ------------------------------------------------------------

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A raw driver connection (sqlite3 or psycopg) for ad-hoc SQL; commits on success,
        rolls back on error. The store's own methods use SQLAlchemy Core instead."""
        self._ensure()
        raw = self.engine.raw_connection()
        if self.path is not None:
            raw.driver_connection.row_factory = sqlite3.Row
            raw.driver_connection.isolation_level = ""  # pysqlite's implicit transactions
        try:
            yield raw.driver_connection
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()

    def _ensure(self) -> None:
        if self._ready:
            return
        with _init_lock:  # threads of this process; the database serialises processes
            if self._ready:
                return
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            ensure_schema(self.engine, "store", SCHEMA_STEPS)
            with self._begin() as conn:
                setup_lock(conn)  # replicas starting together seed once
                seeded = conn.execute(
                    _select(_t("meta").c.value).where(_t("meta").c.key == "seeded")
                ).first()
                if seeded is None or seeded[0] != _SEED_VERSION:
                    self._seed(conn, upgrade=seeded is not None)
            self._ready = True

    @contextmanager
    def _begin(self, *, lock_user: str | None = None) -> Iterator[Any]:
        """One write transaction: SQLite `BEGIN IMMEDIATE` (the write lock before the first
        read); PostgreSQL: the customer's row `FOR UPDATE` when `lock_user` is given."""
        with self.engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                if lock_user is not None:
                    customers = _t("customers")
                    conn.execute(
                        _select(customers.c.user_id)
                        .where(customers.c.user_id == lock_user)
                        .with_for_update()
                    )
                yield conn

    def _read(self, stmt) -> list:
        self._ensure()
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    def _seed(self, conn, *, upgrade: bool = False) -> None:
        """Seed a new store, or add what a newer seed version has to an older one
        (existing rows, and the refunds audit, are never touched)."""
        meta = _t("meta")
        today = self._seed_today or datetime.now(UTC).date()
        if upgrade:
            row = conn.execute(_select(meta.c.value).where(meta.c.key == "seed_date")).first()
            today = date.fromisoformat(row[0]) if row else today
        customers, invoices, orders = _seed_rows(today)
        for name, rows in (("customers", customers), ("invoices", invoices), ("orders", orders)):
            table = _t(name)
            values = [dict(zip(table.c.keys(), r, strict=True)) for r in rows]
            conn.execute(_insert(conn, table, ignore=upgrade), values)
        conn.execute(meta.delete().where(meta.c.key == "seeded"))
        conn.execute(
            _insert(conn, meta, ignore=True),
            [{"key": "seeded", "value": _SEED_VERSION},
             {"key": "seed_date", "value": today.isoformat()}],
        )

    # --- reads ---------------------------------------------------------------------------

    def customer(self, user_id: str) -> Customer | None:
        t = _t("customers")
        rows = self._read(_select(t).where(t.c.user_id == user_id))
        return Customer(**rows[0]._mapping) if rows else None

    def invoices_for(self, user_id: str, limit: int | None = None) -> list[Invoice]:
        """The user's invoices, newest first."""
        t = _t("invoices")
        stmt = _select(t).where(t.c.user_id == user_id).order_by(t.c.issued.desc(), t.c.id.desc())
        if limit is not None:
            stmt = stmt.limit(max(0, int(limit)))
        return [_invoice(r) for r in self._read(stmt)]

    def invoice(self, user_id: str, invoice_id: str) -> Invoice | None:
        """One invoice, only if it belongs to `user_id` (else None: no existence leak)."""
        t = _t("invoices")
        rows = self._read(
            _select(t).where(t.c.id == invoice_id.strip().upper(), t.c.user_id == user_id)
        )
        return _invoice(rows[0]) if rows else None

    def orders_for(self, user_id: str) -> list[Order]:
        """The user's orders, newest first."""
        t = _t("orders")
        stmt = _select(t).where(t.c.user_id == user_id).order_by(t.c.ordered.desc(),
                                                                  t.c.id.desc())
        return [Order(**r._mapping) for r in self._read(stmt)]

    def order(self, user_id: str, order_id: int) -> Order | None:
        """One order, only if it belongs to `user_id` (else None: no existence leak)."""
        t = _t("orders")
        rows = self._read(_select(t).where(t.c.id == int(order_id), t.c.user_id == user_id))
        return Order(**rows[0]._mapping) if rows else None

    def refund_for_order(self, order_id: int) -> Refund | None:
        t = _t("refunds")
        rows = self._read(_select(t).where(t.c.order_id == int(order_id)))
        return Refund(**rows[0]._mapping) if rows else None

    def refunds_for(self, user_id: str) -> list[Refund]:
        t = _t("refunds")
        rows = self._read(_select(t).where(t.c.user_id == user_id).order_by(t.c.id))
        return [Refund(**r._mapping) for r in rows]

    # --- the one write -------------------------------------------------------------------

    @contextmanager
    def _user_transaction(self, user_id: str) -> Iterator[Any]:
        """One write transaction holding the per-user lock for its whole duration.

        SQLite: `BEGIN IMMEDIATE` takes the database write lock before the first read, so
        a racing process waits for our commit and then reads our refund. PostgreSQL:
        `SELECT ... FROM customers WHERE user_id=... FOR UPDATE` (the customer row is the
        per-user lock) and READ COMMITTED: the reads after it see every earlier commit.
        """
        self._ensure()
        with self._begin(lock_user=user_id) as conn:
            yield conn

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
        from sqlalchemy.exc import IntegrityError

        refunds = _t("refunds")
        created_at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        try:
            with self._user_transaction(order.user_id) as conn:
                rows = conn.execute(
                    _select(refunds).where(refunds.c.user_id == order.user_id)
                    .order_by(refunds.c.id)
                )
                prior = [Refund(**r._mapping) for r in rows]
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
                result = conn.execute(
                    refunds.insert().values(
                        order_id=order.id,
                        user_id=order.user_id,
                        amount_cents=amount_cents,
                        currency=order.currency,
                        status="approved",
                        reason=reason.strip()[:500] or "not given",
                        created_at=created_at,
                        session_id=session_id,
                        nonce=nonce,
                    )
                )
                row = conn.execute(
                    _select(refunds).where(refunds.c.id == result.inserted_primary_key[0])
                ).one()
        except IntegrityError:
            # Another transaction recorded this order or nonce first (the UNIQUE
            # constraints are the last line): report that row, never a second one.
            found = self._read(
                _select(refunds).where(
                    (refunds.c.order_id == order.id)
                    | ((refunds.c.nonce == nonce) if nonce else False)
                )
            )
            if not found:
                raise
            return Refund(**found[0]._mapping), False
        _fault("after_audit")  # committed: a crash from here on must still be reported
        return Refund(**row._mapping), True

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
        t = _t("refunds")
        rows = self._read(
            _select(t).where(t.c.session_id == session_id, t.c.user_id == user_id)
            .order_by(t.c.id)
        )
        return [Refund(**r._mapping) for r in rows]

    # --- billing side effects (same transaction discipline as refunds) -------------------

    def _existing_action(self, conn, kind: str, target: str) -> Action | None:
        t = _t("actions")
        row = conn.execute(_select(t).where(t.c.kind == kind, t.c.target == target)).first()
        return Action(**row._mapping) if row else None

    def _insert_action(self, conn, **values: object) -> Action:
        t = _t("actions")
        values.setdefault("created_at", datetime.now(UTC).isoformat(timespec="seconds"))
        result = conn.execute(t.insert().values(**values))
        row = conn.execute(_select(t).where(t.c.id == result.inserted_primary_key[0])).one()
        return Action(**row._mapping)

    @contextmanager
    def _action_transaction(self, user_id: str, kind: str, target: str):
        """`_user_transaction`, where a UNIQUE (kind, target) or nonce conflict (another
        replica got there first) becomes "already done": yields a box for the result."""
        from sqlalchemy.exc import IntegrityError

        box: dict[str, Any] = {}
        try:
            with self._user_transaction(user_id) as conn:
                yield conn, box
        except IntegrityError:
            with self.engine.connect() as conn:
                existing = self._existing_action(conn, kind, target)
            if existing is None:
                raise
            box["result"] = (existing, False, "")

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
        with self._action_transaction(user_id, "charge_refund", invoice_id) as (conn, box):
            box["result"] = self._refund_duplicate(conn, user_id, invoice_id, window_days,
                                                   session_id, nonce)
        return box["result"]

    def _refund_duplicate(self, conn, user_id, invoice_id, window_days, session_id, nonce):
        invoices = _t("invoices")
        existing = self._existing_action(conn, "charge_refund", invoice_id)
        if existing is not None:
            return existing, False, ""
        row = conn.execute(
            _select(invoices).where(invoices.c.id == invoice_id, invoices.c.user_id == user_id)
        ).first()
        if row is None:
            return None, False, f"Invoice {invoice_id} was not found on your account."
        inv = _invoice(row)
        if inv.status != "paid":
            return None, False, f"Invoice {invoice_id} is {inv.status}, not a paid charge."
        issued = inv.issued.isoformat()
        earlier = conn.execute(
            _select(invoices.c.issued).where(
                invoices.c.user_id == user_id,
                invoices.c.status == "paid",
                invoices.c.id != inv.id,
                invoices.c.description == inv.description,
                invoices.c.amount_cents == inv.amount_cents,
                (invoices.c.issued < issued)
                | ((invoices.c.issued == issued) & (invoices.c.id < inv.id)),
            )
        ).all()
        if not any((inv.issued - date.fromisoformat(r[0])).days <= window_days for r in earlier):
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
        conn.execute(invoices.update().where(invoices.c.id == inv.id).values(status="refunded"))
        return action, True, ""

    def cancel_subscription(
        self, user_id: str, *, session_id: str | None = None, nonce: str | None = None
    ) -> tuple[Action | None, bool, str]:
        """Cancel the user's subscription in one transaction: `(action, created, why_not)`."""
        customers = _t("customers")
        with self._action_transaction(user_id, "cancel_subscription", user_id) as (conn, box):
            existing = self._existing_action(conn, "cancel_subscription", user_id)
            if existing is not None:
                box["result"] = (existing, False, "")
                return box["result"]
            row = conn.execute(
                _select(customers.c.plan).where(customers.c.user_id == user_id)
            ).first()
            if row is None:
                box["result"] = (None, False, "There is no subscription on your account.")
                return box["result"]
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
                customers.update().where(customers.c.user_id == user_id)
                .values(plan=f"Cancelled (was {row[0]})")
            )
            box["result"] = (action, True, "")
        return box["result"]

    def action(self, kind: str, target: str) -> Action | None:
        self._ensure()
        with self.engine.connect() as conn:
            return self._existing_action(conn, kind, target)

    def actions_for_session(self, session_id: str, user_id: str) -> list[Action]:
        """Billing actions of one user's chat session (see `refunds_for_session`)."""
        t = _t("actions")
        rows = self._read(
            _select(t).where(t.c.session_id == session_id, t.c.user_id == user_id)
            .order_by(t.c.id)
        )
        return [Action(**r._mapping) for r in rows]


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


def _select(*what):
    from sqlalchemy import select

    return select(*what)


def _insert(conn, table, *, ignore: bool):
    """INSERT, or INSERT that skips rows whose key exists (seed upgrades), per dialect."""
    if not ignore:
        return table.insert()
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing()


def _invoice(row) -> Invoice:
    data = dict(row._mapping)
    data["items"] = tuple(json.loads(data.get("items") or "[]"))
    return Invoice(**data)


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def get_store(path: str | Path | None = None) -> Store:
    """The store at `path` (default: `COORDINATOR_DATABASE_URL`, else the settings'
    `store_path` file), one object per database."""
    if path is None:
        settings = get_settings()
        path = settings.database_url or settings.store_path
    key = str(path)
    with _stores_lock:
        store = _stores.get(key)
        if store is None or (store.path is not None and not store.path.exists()):
            store = _stores[key] = Store(path)
        return store
