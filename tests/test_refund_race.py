"""Limits hold across processes: N processes racing on one SQLite store file.

Each process runs the real tool path (proposal, the customer's yes, `request_refund`),
released at the same instant by a start file. The daily cap (2) and once-per-order must
hold exactly, because the policy is evaluated inside the same write transaction as the
insert (`Store.refund_atomically`).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests._servers import REPO_ROOT
from tools.store import get_store

RACERS = 6

# Propose (the customer saw an eligible refund), wait for the start file, then say yes:
# every process passed the policy check at proposal time, so only the transaction decides.
_WORKER = """
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


def _add_orders(user: str, *order_ids: int) -> None:
    ordered = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with get_store().connect() as conn:
        conn.executemany(
            "INSERT INTO orders VALUES (?,?,?,?,?,?,?)",
            [(o, user, f"Item {o}", 1500, "USD", ordered, "delivered") for o in order_ids],
        )


def _race(tmp_path: Path, user: str, orders: list[int]) -> list[str]:
    go = tmp_path / "go"
    # A 0.3 s pause between the policy check and the insert (inside the transaction)
    # makes every racer overlap: without the one-transaction rule they all pass the cap.
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), COORDINATOR_FAULT_REFUND="before_audit:0.3")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(go), str(order), user, str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,  # COORDINATOR_DATA_DIR: this test's store
        )
        for i, order in enumerate(orders)
    ]
    deadline = time.monotonic() + 180  # every process has proposed: release them together
    while len(list(tmp_path.glob("ready-*"))) < len(orders) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.02)
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        outs.append(out)
    return outs


def _rows(user: str) -> list[tuple]:
    with sqlite3.connect(get_store().path) as conn:
        return conn.execute(
            "SELECT order_id FROM refunds WHERE user_id=? ORDER BY id", (user,)
        ).fetchall()


def test_racing_processes_cannot_pass_the_daily_cap(tmp_path):
    orders = list(range(9401, 9401 + RACERS))
    _add_orders("user", *orders)
    outs = _race(tmp_path, "user", orders)
    assert len(_rows("user")) == 2  # max_refunds_per_day: 2
    assert sum('"max_refunds_per_day"' in o for o in outs) == RACERS - 2


def test_racing_processes_refund_one_order_once(tmp_path):
    outs = _race(tmp_path, "alice", [1001] * RACERS)
    assert _rows("alice") == [(1001,)]
    assert sum('"already_refunded": false' in o for o in outs) == 1
