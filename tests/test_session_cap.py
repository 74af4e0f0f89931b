"""COORDINATOR_MAX_SESSIONS_PER_USER over real HTTP: one more session is 429, atomically.

Two `coordinator serve` replicas share one store (a SQLite file, then PostgreSQL); with
the user one below the cap, concurrent creates spread over both replicas must let exactly
one through: the count and the insert are one transaction (SQLite: BEGIN IMMEDIATE;
PostgreSQL: an advisory lock per app and user). `adk api_server` gets the same cap
through `install()`; the Python API, the store's owner, is not capped.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from coordinator.serving.sessions import make_session_service
from coordinator.settings import Settings
from tests._servers import AdkServer, run_adk_server, run_coordinator_serve

CAP = 5
USERS = ("alice", "bob")
CAPPED = {
    "COORDINATOR_MAX_SESSIONS_PER_USER": str(CAP),
    "COORDINATOR_RATE_BURST": "1000",
    "COORDINATOR_RATE_PER_MINUTE": "6000",
    "COORDINATOR_USER_CONCURRENCY": "64",
}


def _key(user: str) -> str:
    return f"{user}-key-0123456789"


@contextmanager
def _replicas(tmp_path: Path, store: dict[str, str], count: int = 2) -> Iterator[list[AdkServer]]:
    keys = tmp_path / "keys.txt"
    keys.write_text("".join(f"{u} {hashlib.sha256(_key(u).encode()).hexdigest()}\n"
                            for u in USERS))
    env = {**CAPPED, **store, "COORDINATOR_API_KEYS_FILE": str(keys)}
    with ExitStack() as stack:
        yield [
            stack.enter_context(run_coordinator_serve(tmp_path / f"replica-{i}", env=env))
            for i in range(count)
        ]


def _create_at_once(urls: list[str], user: str, n: int, headers: dict[str, str]) -> list:
    """`n` session creates released together, round-robin over `urls`: (status, body)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def create(i: int) -> None:
        with httpx.Client(base_url=urls[i % len(urls)], timeout=60, trust_env=False) as c:
            barrier.wait()
            r = c.post(f"/apps/support/users/{user}/sessions", headers=headers)
            results[i] = (r.status_code, r.text)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _check_cap(urls: list[str], auth: dict[str, dict[str, str]]) -> None:
    alice = auth["alice"]
    with httpx.Client(base_url=urls[0], timeout=60, trust_env=False) as c:
        for i in range(CAP - 1):
            r = c.post(f"/apps/support/users/alice/sessions/s{i}", headers=alice)
            assert r.status_code == 200, r.text
        results = _create_at_once(urls, "alice", 20, alice)
        codes = sorted(code for code, _ in results)
        assert codes == [200] + [429] * 19, results
        refusal = next(text for code, text in results if code == 429)
        assert "\n" not in refusal
        detail = json.loads(refusal)["detail"]
        assert "COORDINATOR_MAX_SESSIONS_PER_USER" in detail and str(CAP) in detail
        listed = c.get("/apps/support/users/alice/sessions", headers=alice).json()
        assert len(listed) == CAP

        # A place freed is a place to use; other users have their own cap.
        assert c.delete("/apps/support/users/alice/sessions/s0", headers=alice).status_code == 200
        r = c.post("/apps/support/users/alice/sessions/again", headers=alice)
        assert r.status_code == 200, r.text
        assert c.post("/apps/support/users/alice/sessions/over",
                      headers=alice).status_code == 429
        r = c.post("/apps/support/users/bob/sessions", headers=auth["bob"], json={})
        assert r.status_code == 200, r.text


@pytest.mark.parametrize("db", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_creates_at_the_cap_let_exactly_one_through(request, tmp_path, db):
    if db == "sqlite":
        store = {"COORDINATOR_DATA_DIR": str(tmp_path / "shared-data")}
    else:
        store = {"COORDINATOR_DATABASE_URL": request.getfixturevalue("fresh_database_url")}
    with _replicas(tmp_path, store) as servers:  # SQLite: both on one session file
        _check_cap(
            [s.base_url for s in servers],
            {u: {"Authorization": f"Bearer {_key(u)}"} for u in USERS},
        )


def test_adk_api_server_has_the_same_cap(tmp_path, monkeypatch):
    for key, value in CAPPED.items():
        monkeypatch.setenv(key, value)
    with run_adk_server("api_server", tmp_path) as server:
        _check_cap([server.base_url], {u: {} for u in USERS})


@pytest.mark.anyio
async def test_the_python_api_store_is_not_capped(tmp_path):
    settings = Settings(COORDINATOR_DATA_DIR=str(tmp_path), COORDINATOR_MAX_SESSIONS_PER_USER=2)
    uncapped = make_session_service(settings)
    for _ in range(3):
        await uncapped.create_session(app_name="a", user_id="u")
    capped = make_session_service(settings, capped=True)
    with pytest.raises(Exception, match="COORDINATOR_MAX_SESSIONS_PER_USER") as refused:
        await capped.create_session(app_name="a", user_id="u")
    assert getattr(refused.value, "status_code", None) == 429
