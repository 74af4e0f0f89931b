"""`adk api_server adk_web`: sessions and their full history survive a server restart.

This is the README's scale-out story (stateless api_server replicas, sessions in a
database): a second server process on the same SQLite session store must see exactly
what the first one wrote, routing events included, and be able to carry on the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests._servers import AdkServer, run_adk_server

APP = "support"
USER = "user"  # the seeded support store has invoices and orders for this customer

BILLING_QUESTION = "I was charged twice for my subscription this month"
REFUND_QUESTION = "I want my money back for order 1001"


def _parts(event: dict[str, Any]) -> list[dict[str, Any]]:
    return (event.get("content") or {}).get("parts") or []


def _transfers(events: list[dict[str, Any]]) -> list[str]:
    """Agent names of every transfer_to_agent call, in order."""
    names = []
    for event in events:
        for part in _parts(event):
            call = part.get("functionCall") or part.get("function_call")
            if call and call.get("name") == "transfer_to_agent":
                names.append(call["args"]["agent_name"])
    return names


def _texts_by(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(author, text) for every event that carries visible text."""
    out = []
    for event in events:
        text = "".join(p.get("text") or "" for p in _parts(event) if not p.get("thought"))
        if text.strip():
            out.append((event["author"], text))
    return out


def _fingerprint(events: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """What must be identical after a restart: id, author and content of every event."""
    import json

    return [(e["id"], e["author"], json.dumps(e.get("content"), sort_keys=True)) for e in events]


def _run(client: httpx.Client, server: AdkServer, session_id: str, text: str) -> list[dict]:
    resp = client.post(
        f"{server.base_url}/run",
        json={
            "app_name": APP,
            "user_id": USER,
            "session_id": session_id,
            "new_message": {"role": "user", "parts": [{"text": text}]},
        },
    )
    assert resp.status_code == 200, f"/run failed: {resp.status_code} {resp.text}\n" + (
        server.log_tail()
    )
    return resp.json()


def _get_session(client: httpx.Client, server: AdkServer, session_id: str) -> dict[str, Any]:
    resp = client.get(f"{server.base_url}/apps/{APP}/users/{USER}/sessions/{session_id}")
    assert resp.status_code == 200, f"{resp.status_code} {resp.text}\n" + server.log_tail()
    return resp.json()


def _server(workdir: Path, db: Path, log_name: str):
    return run_adk_server(
        "api_server",
        workdir,
        extra_args=[
            "--session_service_uri",
            f"sqlite:///{db}",  # db is absolute, so this is sqlite:////abs/path
            "--artifact_service_uri",
            "memory://",
        ],
        log_name=log_name,
    )


def test_session_history_survives_api_server_restart(tmp_path: Path) -> None:
    workdir = tmp_path / "server"
    db = (tmp_path / "sessions.db").resolve()
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        session_id, before = _first_life(client, workdir, db)
        _second_life(client, workdir, db, session_id, before)


def _first_life(client: httpx.Client, workdir: Path, db: Path) -> tuple[str, list[dict]]:
    """Create a session, route a billing and then a refund question through it."""
    with _server(workdir, db, "first.log") as first:
        resp = client.post(f"{first.base_url}/apps/{APP}/users/{USER}/sessions", json={})
        assert resp.status_code == 200, resp.text + first.log_tail()
        session_id = resp.json()["id"]

        billing_events = _run(client, first, session_id, BILLING_QUESTION)
        assert _transfers(billing_events) == ["billing"], first.log_tail()
        billing_texts = _texts_by(billing_events)
        assert billing_texts, "the billing turn produced no answer"
        assert billing_texts[-1][0] == "billing"

        refund_events = _run(client, first, session_id, REFUND_QUESTION)
        assert "refund" in _transfers(refund_events), _transfers(refund_events)
        refund_texts = _texts_by(refund_events)
        assert refund_texts and refund_texts[-1][0] == "refund"
        assert "1001" in refund_texts[-1][1]

        before = _get_session(client, first, session_id)["events"]
        # The stored history is exactly what the two runs returned, plus the two user turns.
        assert len(before) == len(billing_events) + len(refund_events) + 2

    assert first.proc.returncode is not None, "the first server is still running"
    assert db.exists() and db.stat().st_size > 0
    return session_id, before


def _second_life(
    client: httpx.Client, workdir: Path, db: Path, session_id: str, before: list[dict]
) -> None:
    """A fresh server process on the same store sees the same history and carries on."""
    with _server(workdir, db, "second.log") as second:
        listed = client.get(f"{second.base_url}/apps/{APP}/users/{USER}/sessions")
        assert listed.status_code == 200
        assert session_id in [s["id"] for s in listed.json()]

        after = _get_session(client, second, session_id)["events"]
        assert len(after) == len(before)
        assert _fingerprint(after) == _fingerprint(before)
        assert _texts_by(after) == _texts_by(before)
        assert _transfers(after) == _transfers(before)
        user_turns = [t for a, t in _texts_by(after) if a == "user"]
        assert user_turns == [BILLING_QUESTION, REFUND_QUESTION]

        # The restored session is live, not a read-only copy: the conversation goes on.
        more = _run(client, second, session_id, "Can you show me my invoices?")
        assert _texts_by(more), "no answer after the restart"
        assert len(_get_session(client, second, session_id)["events"]) == len(after) + 1 + len(more)
