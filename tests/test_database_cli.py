"""The CLI on one PostgreSQL database: a refund conversation across processes lands there.

Each `coordinator ask` is its own process (like replicas): the session, the decision rows and
the refund audit must all be in the database named by COORDINATOR_DATABASE_URL, nothing in
the data dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from coordinator.storage.database import dispose_engines, get_engine
from tests._servers import REPO_ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _ask(tmp_path, url: str, text: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "COORDINATOR_"))}
    env.update(COORDINATOR_MODE="offline", COORDINATOR_DATA_DIR=str(tmp_path / "data"),
               COORDINATOR_DATABASE_URL=url, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "coordinator", "ask", "--json", "--user", "user",
         "--session", "s-db", text],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_refund_conversation_over_processes_lives_in_one_database(fresh_database_url,
                                                                     tmp_path):
    _ask(tmp_path, fresh_database_url, "I want a refund for order 1006")
    done = _ask(tmp_path, fresh_database_url, "yes")["text"]
    again = _ask(tmp_path, fresh_database_url, "yes")["text"]  # refunds nothing more
    assert "Done: refund #" in done and "Done: refund #" not in again
    engine = get_engine(fresh_database_url)
    try:
        with engine.connect() as conn:
            refunds = conn.execute(
                sa.text("SELECT order_id, user_id, session_id FROM refunds")).all()
            decisions = conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one()
            events = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE session_id = 's-db'")).scalar_one()
    finally:
        dispose_engines()
    assert [tuple(r) for r in refunds] == [(1006, "user", "s-db")]
    assert decisions >= 1 and events >= 6  # three turns of the one shared session
    data = tmp_path / "data"
    assert not any(data.glob("*.sqlite3")) if data.exists() else True
