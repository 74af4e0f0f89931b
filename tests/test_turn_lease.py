"""Turn leases across processes: held while a turn runs, gone when its process dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from coordinator.serving.turn_lease import TurnLeases, lease_key
from coordinator.settings import Settings

pytestmark = pytest.mark.anyio

KEY = ("support", "alice", "s1")

_HOLDER = textwrap.dedent(
    """
    import sys, time, anyio
    from coordinator.serving.turn_lease import TurnLeases
    leases = TurnLeases(sys.argv[1])
    assert anyio.run(leases.try_acquire, ("support", "alice", "s1"))
    print("held", flush=True)
    time.sleep(600)
    """
)


def _sessions_url(backend: str, tmp_path: Path) -> str:
    if backend.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'sessions.sqlite3'}"
    return backend


@pytest.fixture
def url(backend, tmp_path) -> str:
    return _sessions_url(backend, tmp_path)


def _holder(url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, url],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


async def test_another_process_holding_the_session_refuses_until_it_is_killed(url):
    holder = _holder(url)
    try:
        leases = TurnLeases(url)
        assert not await leases.try_acquire(KEY)
        assert await leases.try_acquire(("support", "alice", "other-session"))
        await leases.release(("support", "alice", "other-session"))
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        deadline = time.monotonic() + 30  # PostgreSQL notices the dropped connection
        while not await leases.try_acquire(KEY):
            assert time.monotonic() < deadline, "the killed process's lease never went away"
            time.sleep(0.1)
        await leases.release(KEY)
    finally:
        if holder.poll() is None:
            os.killpg(holder.pid, signal.SIGKILL)


async def test_released_lease_can_be_taken_by_another_process(url):
    first, second = TurnLeases(url), None
    assert await first.try_acquire(KEY)
    holder = subprocess.run(
        [sys.executable, "-c", _HOLDER.replace("time.sleep(600)", ""), url],
        capture_output=True, text=True, timeout=120,
    )
    assert holder.returncode != 0, "a second process took a held lease"
    await first.release(KEY)
    second = subprocess.run(
        [sys.executable, "-c", _HOLDER.replace("time.sleep(600)", ""), url],
        capture_output=True, text=True, timeout=120,
    )
    assert second.returncode == 0, second.stderr


def test_keys_differ_by_every_part_and_fit_postgres():
    keys = {lease_key(k) for k in [KEY, ("support", "alice", "s2"), ("support", "bob", "s1"),
                                   ("other", "alice", "s1"), ("support", "alices", "1")]}
    assert len(keys) == 5
    assert all(-(2**63) <= k < 2**63 for k in keys)


def test_stores_no_other_process_shares_get_no_lease(tmp_path):
    s = Settings(COORDINATOR_DATA_DIR=str(tmp_path), COORDINATOR_SESSION_DB="memory://")
    assert TurnLeases.from_settings(s) is None
    s = Settings(COORDINATOR_DATA_DIR=str(tmp_path))
    assert TurnLeases.from_settings(s) is not None
