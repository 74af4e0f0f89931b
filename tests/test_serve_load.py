"""100 concurrent turns over 50 users, 1 in 5 a 50k-char contract, over real HTTP.

Before: `adk api_server adk_web` used ADK's plain per-app SQLite store and 35 of 100
such turns failed with "database is locked" (HTTP 500), leaving sessions without their
turn. Now both `adk api_server adk_web` (no flags: adk_web/services.py) and
`coordinator serve` use the coordinator's serialized WAL store: every request is
answered and every session holds its user turn and a final answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests._servers import ADK_WEB_DIR, REPO_ROOT, run_adk_server, run_coordinator_serve

pytestmark = pytest.mark.anyio

USERS = 50
TURNS = 100
LONG_CHARS = 50_000
SMALL = [
    "I was charged twice for my subscription this month",
    "Can you show me my invoices?",
    "The app crashes when I upload a file",
    "What are your opening hours?",
]


def long_contract(chars: int = LONG_CHARS) -> str:
    """Real contract text (CUAD), concatenated to `chars` characters."""
    texts = sorted((REPO_ROOT / "agents/contract_review/data/cuad/contracts").glob("*.txt"))
    out = ""
    for path in texts:
        out += path.read_text(errors="replace") + "\n\n"
        if len(out) >= chars:
            break
    return "Please review this contract:\n" + out[:chars]


def plan() -> list[tuple[str, str, str, str]]:
    """(user, session, app, text) for every turn: 2 sessions per user, 1 in 5 long."""
    contract = long_contract()
    turns = []
    for i in range(TURNS):
        user = f"user{i % USERS:02d}"
        if i % 5 == 0:
            app = "contract_review" if i % 10 == 0 else "support"
            text = contract
        else:
            app, text = "support", SMALL[i % len(SMALL)]
        turns.append((user, f"s{i:03d}", app, text))
    return turns


def _final_answer(events: list[dict[str, Any]]) -> str:
    for event in reversed(events):
        if event.get("author") == "user":
            return ""
        parts = (event.get("content") or {}).get("parts") or []
        text = "".join(p.get("text") or "" for p in parts if not p.get("thought"))
        if text.strip():
            return text
    return ""


async def drive(base_url: str, headers_for) -> tuple[list[str], list[str]]:
    """Run every turn at once; return (errors, incomplete sessions)."""
    turns = plan()
    errors: list[str] = []
    incomplete: list[str] = []
    limits = httpx.Limits(  # drop idle connections before uvicorn's 5 s keep-alive does
        max_connections=TURNS + 10, max_keepalive_connections=TURNS + 10, keepalive_expiry=2.0
    )
    async with httpx.AsyncClient(
        base_url=base_url, timeout=600.0, trust_env=False, limits=limits
    ) as client:

        async def one(user: str, session: str, app: str, text: str) -> None:
            h = headers_for(user)
            path = f"/apps/{app}/users/{user}/sessions/{session}"
            r = await client.post(path, json={}, headers=h)
            if r.status_code != 200:
                errors.append(f"create {session}: {r.status_code} {r.text[:200]}")
                return
            r = await client.post(
                "/run",
                headers=h,
                json={
                    "appName": app,
                    "userId": user,
                    "sessionId": session,
                    "newMessage": {"role": "user", "parts": [{"text": text}]},
                },
            )
            if r.status_code != 200:
                errors.append(f"run {session}: {r.status_code} {r.text[:200]}")

        async with anyio.create_task_group() as tg:
            for turn in turns:
                tg.start_soon(one, *turn)

        for user, session, app, text in turns:
            r = await client.get(
                f"/apps/{app}/users/{user}/sessions/{session}", headers=headers_for(user)
            )
            events = r.json().get("events", []) if r.status_code == 200 else []
            user_turns = [e for e in events if e.get("author") == "user"]
            said = "".join(
                p.get("text") or "" for e in user_turns for p in e["content"].get("parts", [])
            )
            if len(user_turns) != 1 or said != text or not _final_answer(events):
                incomplete.append(f"{app}/{session}: {len(events)} events")
    return errors, incomplete


def _adk_files() -> list[Path]:
    return sorted(p for p in ADK_WEB_DIR.rglob(".adk"))


async def test_100_concurrent_turns_over_adk_api_server_default_store(tmp_path: Path) -> None:
    before = _adk_files()
    with run_adk_server("api_server", tmp_path / "api", ready_timeout=120) as server:
        errors, incomplete = await drive(server.base_url, lambda user: {})
        log = server.log_tail()
    assert errors == [], f"{len(errors)} failed: {errors[:5]}\n{log}"
    assert incomplete == [], incomplete[:5]
    # The default store is the coordinator's, in its data dir, not adk_web/<app>/.adk/.
    assert (tmp_path / "api" / "data" / "sessions.sqlite3").stat().st_size > 0
    assert _adk_files() == before


async def test_100_concurrent_turns_over_coordinator_serve(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(
        "".join(
            f"user{i:02d} {hashlib.sha256(f'key-{i:02d}'.encode()).hexdigest()}\n"
            for i in range(USERS)
        )
    )
    env = {"COORDINATOR_API_KEYS_FILE": str(keys)}
    with run_coordinator_serve(tmp_path / "serve", env=env, ready_timeout=120) as server:
        errors, incomplete = await drive(
            server.base_url, lambda user: {"Authorization": f"Bearer key-{user[4:]}"}
        )
        log = server.log_tail()
    assert errors == [], f"{len(errors)} failed: {errors[:5]}\n{log}"
    assert incomplete == [], incomplete[:5]


async def test_two_turns_in_one_session_over_adk_api_server_never_500(tmp_path: Path) -> None:
    """Without `coordinator serve`'s up-front 409, the turn that finds the session changed
    under it is answered 409 by the session store ("busy, retry"), never a 500."""
    contract = long_contract(59_000)
    with run_adk_server("api_server", tmp_path / "api") as server:
        async with httpx.AsyncClient(
            base_url=server.base_url, timeout=300.0, trust_env=False
        ) as client:
            path = "/apps/contract_review/users/u1/sessions/one"
            assert (await client.post(path, json={})).status_code == 200
            results: dict[str, httpx.Response] = {}

            async def turn(name: str, text: str, delay: float) -> None:
                await anyio.sleep(delay)
                results[name] = await client.post(
                    "/run",
                    json={
                        "appName": "contract_review",
                        "userId": "u1",
                        "sessionId": "one",
                        "newMessage": {"role": "user", "parts": [{"text": text}]},
                    },
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(turn, "long", contract, 0.0)
                tg.start_soon(turn, "short", "hello", 0.5)
            log = server.log_tail()
    codes = sorted(r.status_code for r in results.values())
    assert 500 not in codes, log
    assert set(codes) <= {200, 409} and 200 in codes, codes
    for r in results.values():
        if r.status_code == 409:
            assert "busy" in r.json()["detail"]
