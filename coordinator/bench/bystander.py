"""`coordinator bench load --bystander`: can one user's heavy reviews starve another's chat?

Starts `coordinator serve` (a real subprocess on 127.0.0.1, offline, a temp data dir),
then, side by side in one run:

* idle: a bystander user sends small chat requests one after another;
* flood: several users each keep as many ~59k-character contract reviews in flight as
  they are allowed, while the same bystander sends the same small requests.

Both phases run twice: against the server as configured (per-user concurrency limit,
a few "heavy" slots for large requests, run on a second event-loop thread) and against
one with those limits lifted and large requests on the server's own loop, so the report
shows what the guard buys. Reported: bystander /run latency p50/p95 and
/health p95 per phase, the flood/idle ratios, and the flood's request outcomes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from coordinator.app_spec import load_app
from coordinator.bench.servers import percentile, serve_processes
from coordinator.errors import UsageError
from coordinator.settings import get_settings

__all__ = ["BystanderReport", "run_bystander"]

SMALL = "What are your opening hours?"


class Phase(BaseModel):
    p50_ms: float
    p95_ms: float
    health_p95_ms: float
    errors: int = Field(description="Bystander requests that did not answer 200.")


class Config(BaseModel):
    name: str
    user_concurrency: int
    heavy_concurrency: int
    heavy_offload: bool = Field(description="Large requests ran on a second loop thread.")
    idle: Phase
    flood: Phase
    p50_ratio: float = Field(description="Bystander p50 under flood / idle.")
    p95_ratio: float = Field(description="Bystander p95 under flood / idle.")
    flood_outcomes: dict[str, int] = Field(description="Flood requests by HTTP status.")


class BystanderReport(BaseModel):
    flood_users: int
    flood_lanes: int = Field(description="Reviews each flood user tries to keep in flight.")
    flood_chars: int
    bystander_requests: int
    configs: list[Config]


def _document(chars: int) -> str:
    text = ""
    for path in load_app().sample_documents:
        text += path.read_text(errors="replace") + "\n\n"
        if len(text) >= chars:
            break
    return "Please review this contract:\n" + text[:chars]


async def _phase(
    base: str, keys: dict[str, str], n: int, flood_users: list[str], document: str, per_user: int
) -> tuple[Phase, Counter[str]]:
    import anyio
    import httpx

    outcomes: Counter[str] = Counter()
    lat: list[float] = []
    health: list[float] = []
    errors = 0
    # Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them
    # server-side (reusing one at that moment is a client-side ReadError, not the server's).
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2.0)
    async with httpx.AsyncClient(
        base_url=base, timeout=600.0, trust_env=False, limits=limits
    ) as client:

        async def run(user: str, session: str, app: str, text: str) -> int:
            h = {"Authorization": f"Bearer {keys[user]}"}
            r = await client.post(
                f"/apps/{app}/users/{user}/sessions/{session}", json={}, headers=h
            )
            if r.status_code != 200:
                return r.status_code
            body = {
                "appName": app,
                "userId": user,
                "sessionId": session,
                "newMessage": {"role": "user", "parts": [{"text": text}]},
            }
            return (await client.post("/run", json=body, headers=h)).status_code

        stop = anyio.Event()

        async def flood(user: str, lane: int) -> None:
            i = 0
            while not stop.is_set():
                app = "contract_review" if (i + lane) % 2 == 0 else "support"
                try:
                    code: int | str = await run(user, f"f{lane}-{i}", app, document)
                except httpx.TransportError as exc:
                    code = type(exc).__name__
                outcomes[str(code)] += 1
                if code == 429:
                    await anyio.sleep(0.5)
                i += 1

        async def bystander() -> None:
            nonlocal errors
            if flood_users:
                await anyio.sleep(2.0)  # let the flood build up first
            for i in range(n):
                t0 = time.perf_counter()
                try:
                    code = await run("bystander", f"b{i}-{time.time_ns()}", "support", SMALL)
                except httpx.TransportError:
                    code = 0
                lat.append((time.perf_counter() - t0) * 1000)
                errors += code != 200
                t0 = time.perf_counter()
                await client.get("/health")
                health.append((time.perf_counter() - t0) * 1000)
            stop.set()

        async with anyio.create_task_group() as tg:
            for user in flood_users:
                for lane in range(per_user):
                    tg.start_soon(flood, user, lane)
            tg.start_soon(bystander)
    phase = Phase(
        p50_ms=percentile(lat, 0.5),
        p95_ms=percentile(lat, 0.95),
        health_p95_ms=percentile(health, 0.95),
        errors=errors,
    )
    return phase, outcomes


def run_bystander(
    flood_users: int = 4, requests: int = 20, chars: int = 59_000, lanes: int = 8
) -> BystanderReport:
    """Run both configurations (as configured, limits lifted) and report side by side."""
    import anyio


    if min(flood_users, requests, chars, lanes) < 1:
        raise UsageError(
            "need --flood-users, --flood-lanes, --bystander-requests and --flood-chars >= 1"
        )
    s = get_settings()
    if chars > s.max_request_chars:
        raise UsageError(f"--flood-chars {chars} is above COORDINATOR_MAX_REQUEST_CHARS")
    document = _document(chars)
    users = [f"flood{i}" for i in range(flood_users)]
    keys = {u: f"bench-key-{u}-{os.getpid()}" for u in [*users, "bystander"]}
    configs = []
    with tempfile.TemporaryDirectory(prefix="coordinator-bystander-") as tmp:
        workdir = Path(tmp)
        keys_file = workdir / "keys.txt"
        keys_file.write_text(
            "".join(f"{u} {hashlib.sha256(k.encode()).hexdigest()}\n" for u, k in keys.items())
        )
        plans = [
            ("guarded (settings)", s.user_concurrency, s.heavy_concurrency, s.heavy_offload),
            ("limits lifted", 1000, 1000, False),
        ]
        for name, user_conc, heavy, offload in plans:
            env = {
                "COORDINATOR_API_KEYS_FILE": str(keys_file),
                "COORDINATOR_DATA_DIR": str(workdir / name.split()[0]),
                "COORDINATOR_MODE": "offline",
                "COORDINATOR_RATE_BURST": "100000",
                "COORDINATOR_RATE_PER_MINUTE": "100000",
                "COORDINATOR_USER_CONCURRENCY": str(user_conc),
                "COORDINATOR_HEAVY_CONCURRENCY": str(heavy),
                "COORDINATOR_HEAVY_OFFLOAD": str(offload).lower(),
            }
            per_user = lanes  # the same offered load against both servers
            with serve_processes(workdir, 1, {**os.environ, **env}) as (base,):

                async def both(base: str = base, per_user: int = per_user):
                    await _phase(base, keys, 3, [], SMALL, 0)  # warm up the apps
                    idle, _ = await _phase(base, keys, requests, [], SMALL, 0)
                    flood, outcomes = await _phase(base, keys, requests, users, document, per_user)
                    return idle, flood, outcomes

                idle, flood, outcomes = anyio.run(both)
            configs.append(
                Config(
                    name=name,
                    user_concurrency=user_conc,
                    heavy_concurrency=heavy,
                    heavy_offload=offload,
                    idle=idle,
                    flood=flood,
                    p50_ratio=round(flood.p50_ms / idle.p50_ms, 2) if idle.p50_ms else 0.0,
                    p95_ratio=round(flood.p95_ms / idle.p95_ms, 2) if idle.p95_ms else 0.0,
                    flood_outcomes=dict(sorted(outcomes.items())),
                )
            )
    return BystanderReport(
        flood_users=flood_users,
        flood_lanes=lanes,
        flood_chars=chars,
        bystander_requests=requests,
        configs=configs,
    )


def print_report(report: BystanderReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"bench load --bystander: {report.flood_users} users flood {report.flood_chars:,}"
        f"-char reviews; 1 bystander sends {report.bystander_requests} small requests"
    )
    for col in ("server", "phase", "bystander p50", "p95", "/health p95", "errors", "flood"):
        table.add_column(col)
    for c in report.configs:
        label = (
            f"{c.name}\nuser conc {c.user_concurrency}, heavy {c.heavy_concurrency}, "
            f"offload {'on' if c.heavy_offload else 'off'}"
        )
        table.add_row(
            label,
            "idle",
            f"{c.idle.p50_ms} ms",
            f"{c.idle.p95_ms} ms",
            f"{c.idle.health_p95_ms} ms",
            str(c.idle.errors),
            "",
        )
        table.add_row(
            "",
            "flood",
            f"{c.flood.p50_ms} ms (x{c.p50_ratio})",
            f"{c.flood.p95_ms} ms (x{c.p95_ratio})",
            f"{c.flood.health_p95_ms} ms",
            str(c.flood.errors),
            ", ".join(f"{k}: {v}" for k, v in c.flood_outcomes.items()),
        )
    Console().print(table)


def as_dict(report: BystanderReport) -> dict[str, Any]:
    return report.model_dump()
