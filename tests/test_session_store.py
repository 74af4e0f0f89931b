"""One session store everywhere: a chat started in the Python API continues in `adk web`
(no flags: adk_web/services.py), and the turn added over HTTP is seen by the Python API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from coordinator.api import Coordinator
from coordinator.serving.sessions import SerializedSqliteSessionService, make_session_service
from tests._servers import ADK_WEB_DIR, run_adk_server

pytestmark = pytest.mark.anyio


async def test_python_api_and_adk_web_share_sessions_by_default(tmp_path: Path) -> None:
    # conftest points COORDINATOR_DATA_DIR at tmp_path/data; server_env(tmp_path) does too.
    coordinator = Coordinator(warm_up=False)
    assert coordinator.app_name == "support"
    reply = await coordinator.ask_async(
        "I was charged twice for my subscription this month", user_id="alice", session_id="shared"
    )
    assert reply.text
    before = list(ADK_WEB_DIR.rglob(".adk"))

    with (
        run_adk_server("web", tmp_path) as server,
        httpx.Client(base_url=server.base_url, timeout=120.0, trust_env=False) as c,
    ):
        path = "/apps/support/users/alice/sessions/shared"
        seen = c.get(path)
        assert seen.status_code == 200, seen.text + server.log_tail()
        texts = [
            p.get("text") or ""
            for e in seen.json()["events"]
            for p in (e.get("content") or {}).get("parts", [])
        ]
        assert "I was charged twice for my subscription this month" in texts
        r = c.post(
            "/run",
            json={
                "appName": "support",
                "userId": "alice",
                "sessionId": "shared",
                "newMessage": {
                    "role": "user",
                    "parts": [{"text": "Can you show me my invoices?"}],
                },
            },
        )
        assert r.status_code == 200, r.text + server.log_tail()

    service = make_session_service()
    assert isinstance(service, SerializedSqliteSessionService)
    session = await service.get_session(app_name="support", user_id="alice", session_id="shared")
    said = [e.content.parts[0].text for e in session.events if e.author == "user" and e.content]
    assert said == [
        "I was charged twice for my subscription this month",
        "Can you show me my invoices?",
    ]
    assert list(ADK_WEB_DIR.rglob(".adk")) == before  # nothing under adk_web/<app>/.adk
