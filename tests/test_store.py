"""The demo store: deterministic seeding, concurrent first use, append-only refund audit."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date

import pytest

from tools.store import SEED_USERS, Store, format_money, get_store

TODAY = date(2025, 3, 31)


def _counts(path) -> tuple[int, ...]:
    with sqlite3.connect(path) as conn:
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("customers", "invoices", "orders", "refunds")
        )


def test_seeding_is_deterministic_and_idempotent(tmp_path):
    a = Store(tmp_path / "a" / "store.db", seed_today=TODAY)
    assert a.customer("alice").plan == "Pro (monthly)"
    first = _counts(a.path)
    Store(a.path, seed_today=TODAY).orders_for("alice")  # a second "process" opens it
    assert _counts(a.path) == first
    b = Store(tmp_path / "b.db", seed_today=TODAY)
    assert [o.model_dump() for o in b.orders_for("alice")] == [
        o.model_dump() for o in a.orders_for("alice")
    ]


def test_dates_are_absolute_from_the_seeding_day(tmp_path):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    assert store.order("alice", 1001).ordered == date(2025, 3, 21)  # 10 days before
    assert store.order("alice", 1002).ordered == date(2025, 1, 15)  # 75 days before


def test_concurrent_first_use_seeds_once(tmp_path):
    path = tmp_path / "race.db"
    errors: list[BaseException] = []

    def use() -> None:
        try:
            Store(path, seed_today=TODAY).invoices_for("bob")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reference = Store(tmp_path / "ref.db", seed_today=TODAY)
    reference.customer("alice")
    assert _counts(path) == _counts(reference.path)


def test_every_seed_user_has_data_including_adk_web_default_user(tmp_path):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    for user in SEED_USERS:
        assert store.customer(user) is not None
        assert store.invoices_for(user)
        assert store.orders_for(user)


def test_alice_has_a_real_duplicate_subscription_charge(tmp_path):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    latest = store.invoices_for("alice", limit=2)
    assert latest[0].description == latest[1].description
    assert latest[0].amount_cents == latest[1].amount_cents == 2900
    assert latest[0].id != latest[1].id
    bob = store.invoices_for("bob", limit=2)
    assert bob[0].description != bob[1].description


def test_lookups_are_scoped_to_the_owner(tmp_path):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    assert store.order("alice", 1001) is not None
    assert store.order("bob", 1001) is None
    inv = store.invoices_for("alice", limit=1)[0]
    assert store.invoice("alice", inv.id.lower()) == inv
    assert store.invoice("bob", inv.id) is None


def test_record_refund_is_idempotent_per_order(tmp_path):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    order = store.order("alice", 1001)
    first, created = store.record_refund(order, amount_cents=order.amount_cents, reason="broken")
    again, created_again = store.record_refund(order, amount_cents=1, reason="other")
    assert (created, created_again) == (True, False)
    assert again == first
    assert _counts(store.path)[3] == 1


@pytest.mark.parametrize(
    "sql",
    ["UPDATE refunds SET amount_cents = 1", "DELETE FROM refunds", "UPDATE refunds SET status='x'"],
)
def test_refund_audit_table_rejects_update_and_delete(tmp_path, sql):
    store = Store(tmp_path / "s.db", seed_today=TODAY)
    order = store.order("alice", 1001)
    store.record_refund(order, amount_cents=order.amount_cents, reason="broken")
    with (
        sqlite3.connect(store.path) as conn,
        pytest.raises(sqlite3.DatabaseError, match="append-only"),
    ):
        conn.execute(sql)
    assert store.refund_for_order(1001).amount_cents == order.amount_cents


def test_get_store_uses_the_settings_data_dir(tmp_path):
    store = get_store()
    assert store.path == tmp_path / "data" / "store.sqlite3"
    assert store.customer("user") is not None
    assert store.path.exists()


def test_format_money():
    assert format_money(2900, "USD") == "$29.00"
    assert format_money(123456, "EUR") == "€1,234.56"
    assert format_money(5, "CHF") == "0.05 CHF"


def test_an_older_store_gains_new_seed_rows_and_keeps_its_history(tmp_path):
    """A store seeded by version 1 (no test_user) is upgraded in place on next open."""
    old = Store(tmp_path / "s.db", seed_today=TODAY)
    order = old.order("alice", 1001)
    old.record_refund(order, amount_cents=order.amount_cents, reason="broken")
    with sqlite3.connect(old.path) as c:  # make it look like a version-1 store
        c.execute("DELETE FROM orders WHERE user_id = 'test_user'")
        c.execute("DELETE FROM invoices WHERE user_id = 'test_user'")
        c.execute("DELETE FROM customers WHERE user_id = 'test_user'")
        c.execute("UPDATE meta SET value = '1' WHERE key = 'seeded'")
    before = _counts(old.path)
    upgraded = Store(old.path)  # another day, another process: the seed date is kept
    assert upgraded.customer("test_user") is not None
    assert [o.id for o in upgraded.orders_for("test_user")] == [1010, 1011]
    mouse = next(o for o in upgraded.orders_for("test_user") if o.id == 1010)
    assert str(mouse.ordered)[:10] == "2025-03-28"  # 3 days before the ORIGINAL seed date
    after = _counts(upgraded.path)
    assert after[3] == before[3] == 1  # the refund audit is untouched
    assert after[0] == before[0] + 1
