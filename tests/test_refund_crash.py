"""Audited <=> told, under kill -9.

A process confirming a refund is killed with SIGKILL at chosen points: inside the write
transaction (before the audit insert commits), right after the commit (before the answer
reaches the session), and at fixed pseudo-random moments of the turn. Then another process
carries each session on ("hello") and we check, for every session:

- every audit row of the session is reflected in it: marked told in state and its refund
  number stated in an answer (the agent's own report, or the recovery notice);
- no session claims a refund the audit lacks (every "refund #N" it states is an audit
  row of that session), and nothing was refunded twice.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests._servers import REPO_ROOT

# (user, eligible order, where the process is killed)
SCENARIOS = [
    ("user", 1006, "before_audit"),
    ("alice", 1001, "after_audit"),
    ("test_user", 1010, "after_audit"),
    ("bob", 1003, "random"),
    ("carol", 1009, "random"),
]


def _env(tmp_path: Path, fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(
        COORDINATOR_MODE="offline",
        COORDINATOR_DATA_DIR=str(tmp_path / "data"),
        PYTHONPATH=str(REPO_ROOT),
    )
    env.pop("COORDINATOR_FAULT_REFUND", None)
    if fault:
        env["COORDINATOR_FAULT_REFUND"] = f"{fault}:60"  # sleep there until killed
        env["COORDINATOR_FAULT_REFUND_MARK"] = str(tmp_path / f"at-{fault}")
    return env


def _driver(tmp_path: Path, *args: str) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests._refund_crash_driver", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _kill_during_yes(tmp_path: Path, user: str, session: str, mode: str, delay: float) -> str:
    """Start the confirming turn in its own process and SIGKILL it; what happened."""
    fault = None if mode == "random" else mode
    mark = tmp_path / f"at-{fault}"
    mark.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests._refund_crash_driver", "say", f"{user}:{session}:yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(tmp_path, fault),
        cwd=tmp_path,
        start_new_session=True,
    )
    deadline = time.monotonic() + (delay if fault is None else 120)
    while time.monotonic() < deadline and proc.poll() is None:
        if fault is not None and mark.exists():
            break
        time.sleep(0.01)
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return "finished" if finished else f"killed at {fault or f'{delay:.1f}s'}"


def _audit(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "data" / "store.sqlite3") as conn:
        return conn.execute("SELECT id, order_id, user_id, session_id FROM refunds").fetchall()


def test_kill_9_mid_refund_every_audited_refund_is_told(tmp_path):
    rng = random.Random(7)  # fixed: the same kill moments every run
    sessions = {user: f"crash-{user}" for user, _, _ in SCENARIOS}
    proposals = _driver(
        tmp_path,
        "propose",
        *(f"{u}:{sessions[u]}:I want a refund for order {o}" for u, o, _ in SCENARIOS),
    )
    assert all('Reply "yes"' in p["text"] for p in proposals), proposals
    outcomes = {
        user: _kill_during_yes(tmp_path, user, sessions[user], mode, rng.uniform(2.0, 9.0))
        for user, _, mode in SCENARIOS
    }
    audited = _audit(tmp_path)
    # The next turn of each session, in a fresh process (the "restart").
    after = _driver(tmp_path, "propose", *(f"{u}:{sessions[u]}:hello" for u in sessions))
    report = {
        r["user"]: r
        for r in _driver(tmp_path, "report", *(f"{u}:{s}" for u, s in sessions.items()))
    }

    assert _audit(tmp_path) == audited  # the recovery turn itself refunded nothing
    assert outcomes["user"] == "killed at before_audit"
    assert outcomes["alice"] == outcomes["test_user"] == "killed at after_audit"
    by_session: dict[str, list[int]] = {}
    for rid, _order, user, session in audited:
        assert session == sessions[user]
        by_session.setdefault(session, []).append(rid)
    assert "crash-user" not in by_session  # killed before the commit: no refund
    assert {"crash-alice", "crash-test_user"} <= set(by_session)
    for user, session in sessions.items():
        rows = by_session.get(session, [])
        told = {int(k.rsplit(":", 1)[1]) for k in report[user]["told"]}
        claimed = {int(n) for t in report[user]["texts"] for n in re.findall(r"refund #(\d+)", t)}
        assert told == set(rows), (user, outcomes[user], told, rows)
        assert claimed == set(rows), (user, outcomes[user], claimed, rows)
        assert len(rows) <= 1
    recovered = [a for a in after if "Before we go on" in a["text"]]
    assert {a["user"] for a in recovered} >= {"alice", "test_user"}
    print(
        f"\nkill -9 loop: {len(SCENARIOS)} sessions, outcomes={outcomes}, "
        f"audit rows={len(audited)}, told by recovery notice={len(recovered)}, "
        f"untold after recovery=0, claims without audit=0"
    )
