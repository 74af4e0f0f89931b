"""The two example apps in other domains, run the three ways a person would run them:
from Python, with `adk run`, and behind `adk api_server` over HTTP on 127.0.0.1.

Both are built from `from coordinator import ...` only (tests/test_architecture.py) and
run offline. The ADK runs use a copy of `examples/`, so nothing is written into the
checkout (ADK keeps sessions in `<app>/.adk/`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import anyio
import httpx
import pytest

from tests._servers import REPO_ROOT, require_adk, run_adk_server, server_env

EXAMPLES = REPO_ROOT / "examples"
SAMPLE = EXAMPLES / "research_summary" / "sample.md"

pytestmark = pytest.mark.anyio


@pytest.fixture
def examples_copy(tmp_path):
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__", ".adk"))
    return target


@pytest.mark.parametrize(
    ("text", "team", "method"),
    [
        ("I forgot my password", "accounts", "embedding"),
        ("the VPN will not connect", "network", "embedding"),
        ("my laptop screen cracked, I need a loan device", "service_desk", None),
    ],
)
def test_it_helpdesk_routes_by_description_only(text, team, method):
    from coordinator import Coordinator
    from examples.it_helpdesk.agent import NOTES, root_agent

    reply = Coordinator(root_agent, warm_up=False).ask(text, user_id="it-user")
    assert reply.route == team
    if method:
        assert reply.method == method
    assert reply.text in NOTES[team]  # answered from that team's own notes


def _with_claim(claim: str) -> str:
    document, _ = SAMPLE.read_text(encoding="utf-8").rsplit("Claim:", 1)
    return f"{document}Claim: {claim}\n"


async def _summary_and_verdict(text: str):
    from coordinator import Coordinator
    from examples.research_summary.agent import root_agent

    c = Coordinator(root_agent, warm_up=False)
    reply = await c.ask_async(text, user_id="reader")
    session = await c.session_service.get_session(
        app_name=c.app_name, user_id="reader", session_id=reply.session_id
    )
    return session.state["summary"], session.state["verdict"]


@pytest.mark.parametrize(
    ("claim", "label", "asked"),
    [
        ("Commuting emissions fell by 23 percent per participant over the year.", "supported", 3),
        # the numbers judge (second) dissents: the negation judge is never asked
        ("Commuting emissions fell by 40 percent per participant over the year.", "unsupported",
         2),
        # only the negation judge (third) sees the "did not"
        ("The study measured emissions from video calls and data centres.", "unsupported", 3),
    ],
)
async def test_research_summary_sections_in_parallel_then_votes(claim, label, asked):
    summary, verdict = await _summary_and_verdict(_with_claim(claim))
    lines = summary.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "- Remote work and commuting emissions", "- Method", "- Results", "- Limitations"
    ]
    assert verdict["label"] == label
    assert verdict["strategy"] == "unanimity"
    assert (verdict["calls_made"], verdict["calls_saved"]) == (asked, 3 - asked)  # lazy


def test_examples_run_as_python_modules():
    env = {**server_env_for_python(), "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "examples.it_helpdesk", "my", "wifi", "keeps", "dropping"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert "-- network via embedding" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "examples.research_summary"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert out.stdout.splitlines()[-1].startswith("-- claim: supported (unanimity")


def server_env_for_python():
    import tempfile
    from pathlib import Path

    return server_env(Path(tempfile.mkdtemp(prefix="examples-")))


def test_adk_run_answers_offline(examples_copy, tmp_path):
    exe = require_adk()
    out = subprocess.run(
        [exe, "run", str(examples_copy / "it_helpdesk"), "I am locked out of my account"],
        cwd=tmp_path, env=server_env(tmp_path), capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[accounts]: An account locks after five wrong passwords" in out.stdout


async def test_adk_api_server_serves_both_examples_over_http(examples_copy, tmp_path):
    with run_adk_server("api_server", tmp_path, agents_dir=examples_copy) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=120,
                                     trust_env=False) as http:
            apps = (await http.get("/list-apps")).json()
            assert {"it_helpdesk", "research_summary"} <= set(apps)
            for app, text in (
                ("it_helpdesk", "the vpn will not connect"),
                ("research_summary", _with_claim("Car trips fell the most.")),
            ):
                url = f"/apps/{app}/users/u1/sessions"
                session = (await http.post(url, json={})).json()
                resp = await http.post("/run", json={
                    "appName": app, "userId": "u1", "sessionId": session["id"],
                    "newMessage": {"role": "user", "parts": [{"text": text}]},
                })
                assert resp.status_code == 200, resp.text[:500]
                events = resp.json()
                authors = [e["author"] for e in events]
                texts = [p.get("text", "") for e in events
                         for p in (e.get("content") or {}).get("parts", [])]
                if app == "it_helpdesk":
                    assert authors[-1] == "network"
                else:
                    assert "sections" in authors and authors[-1] == "verdict"
                    assert texts[-1].startswith("supported (unanimity")
        await anyio.sleep(0)
