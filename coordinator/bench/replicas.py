"""`coordinator bench load --replicas 1,2 --database-url sqlite --database-url URL`.

HTTP load against `coordinator serve` replicas that this benchmark starts itself:
for each configuration (database x replica count) it starts that many `coordinator
serve` subprocesses on free 127.0.0.1 ports, all on one database and one generated
API-keys file in a temp dir, warms each up with one untimed turn, then drives
`--sessions` chats of `--turns` turns over real HTTP (`POST /run`), at most
`--concurrency` requests in flight, and stops the replicas.

Load balancing is client-side round-robin, no proxy: turn t of chat i goes to replica
(i + t) mod n, so with two replicas every chat alternates between them (the harder case:
each turn reads the history the other replica wrote).

Databases: `sqlite` is a fresh temp data dir shared by the replicas (store, audit and
session files side by side); anything else is a database URL handed to every replica as
`COORDINATOR_DATABASE_URL` (every shared record and the sessions; each replica keeps its
own temp data dir, so nothing is shared through files). Configurations on one URL share
that database; each run uses its own session ids.

Per configuration: requests, ok, errors by kind (HTTP status or transport error),
requests/s, p50/p95/max latency, and whether every chat's stored history holds one user
event per successful turn; then one table with throughput and p95 ratios against the
first configuration. The per-user rate and concurrency limits are lifted (unless set in
the environment), so the numbers measure the servers and the database, not the guard.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from coordinator.bench.servers import percentile, serve_processes
from coordinator.errors import ConfigError, UsageError
from coordinator.storage.database import redact

__all__ = [
    "ReplicaConfig",
    "ReplicaLoadReport",
    "ReplicaRun",
    "database_url",
    "replica_counts",
    "run_replica_load",
]

MAX_REPLICAS = 8
_LIFTED_LIMITS = {  # per-user guard limits: the benchmark's few users are not abusers
    "COORDINATOR_RATE_PER_MINUTE": "1000000",
    "COORDINATOR_RATE_BURST": "1000000",
    "COORDINATOR_USER_CONCURRENCY": "1000",
}


def replica_counts(value: str) -> list[int]:
    """argparse type for `--replicas 1,2`: distinct whole numbers 1..MAX_REPLICAS."""
    counts: list[int] = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= MAX_REPLICAS:
            raise argparse.ArgumentTypeError(
                f"must be replica counts 1-{MAX_REPLICAS} separated by commas, got {value!r}"
            )
        if int(part) not in counts:
            counts.append(int(part))
    return counts


def database_url(value: str) -> str:
    """argparse type for `--database-url`: `sqlite` or a URL COORDINATOR_DATABASE_URL takes."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.storage.database import normalize_url

    value = value.strip()
    if value == "sqlite":
        return value
    try:
        return normalize_url(value)
    except ConfigError:
        raise argparse.ArgumentTypeError(
            "must be 'sqlite' or a database URL such as "
            f"postgresql+psycopg://user:pass@host/db, got {redact(value)!r}"
        ) from None


class ReplicaRun(BaseModel):
    """One configuration's measurement."""

    database: str = Field(description="'sqlite' or the database URL (password hidden).")
    replicas: int
    requests: int = Field(description="Turns sent (sessions x turns).")
    ok: int = Field(description="Turns answered 200.")
    errors: dict[str, int] = Field(description="Failed turns by HTTP status or error type.")
    wall_s: float
    throughput_rps: float = Field(description="Turns answered per second of wall time.")
    latency_ms: dict[str, float] = Field(description="p50, p95, max of turn latency.")
    history_complete: bool = Field(
        description="Every chat read back holds one user event per successful turn, no event twice."
    )
    history_unchecked: int = Field(
        description="Chats whose read-back was refused (429: the guard's rate limit)."
    )


class ReplicaConfig(BaseModel):
    """A run plus its ratios against the first configuration."""

    run: ReplicaRun
    throughput_ratio: float = Field(description="requests/s / the first configuration's.")
    p95_ratio: float = Field(description="p95 latency / the first configuration's.")


class ReplicaLoadReport(BaseModel):
    sessions: int
    turns: int
    concurrency: int
    balancing: str = Field(description="How turns are spread over replicas.")
    configs: list[ReplicaConfig]


async def _drive(
    bases: list[str],
    keys: dict[str, str],
    texts: list[str],
    sessions: int,
    turns: int,
    concurrency: int,
) -> tuple[list[float], Counter[str], float, bool, int]:
    """The timed part: every chat's turns, round-robin over `bases`."""
    import anyio
    import httpx

    users = sorted(keys)
    run_id = uuid.uuid4().hex[:8]
    limiter = anyio.CapacityLimiter(concurrency)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    answered: Counter[str] = Counter()
    limits = httpx.Limits(  # drop idle connections before uvicorn's 5 s keep-alive does
        max_connections=concurrency + 10,
        max_keepalive_connections=concurrency + 10,
        keepalive_expiry=2.0,
    )

    def headers(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[user]}"}

    def body(user: str, session: str, text: str) -> dict:
        return {
            "appName": "support",
            "userId": user,
            "sessionId": session,
            "newMessage": {"role": "user", "parts": [{"text": text}]},
        }

    async with httpx.AsyncClient(timeout=600.0, trust_env=False, limits=limits) as client:

        async def post(base: str, path: str, user: str, json: dict) -> str | None:
            """None when answered 200, else the error's kind."""
            try:
                r = await client.post(f"{base}{path}", json=json, headers=headers(user))
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return None if r.status_code == 200 else f"HTTP {r.status_code}"

        for i, base in enumerate(bases):  # warm-up, untimed: models load on first use
            user = users[i % len(users)]
            session = f"warm-{run_id}-{i}"
            await post(base, f"/apps/support/users/{user}/sessions/{session}", user, {})
            await post(base, "/run", user, body(user, session, "What are your opening hours?"))

        async def chat(i: int) -> None:
            user, session = users[i % len(users)], f"load-{run_id}-{i:05d}"
            async with limiter:
                failed = await post(
                    bases[i % len(bases)],
                    f"/apps/support/users/{user}/sessions/{session}",
                    user,
                    {},
                )
            if failed:
                errors[f"create: {failed}"] += turns
                return
            for t in range(turns):
                async with limiter:
                    t0 = time.perf_counter()
                    failed = await post(
                        bases[(i + t) % len(bases)],
                        "/run",
                        user,
                        body(user, session, texts[i * turns + t]),
                    )
                    latencies.append((time.perf_counter() - t0) * 1000)
                if failed:
                    errors[failed] += 1
                else:
                    answered[session] += 1

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(sessions):
                tg.start_soon(chat, i)
        wall = time.perf_counter() - started

        complete, unchecked = True, 0
        for i in range(sessions):  # read back from replica 0: it sees the others' writes
            user, session = users[i % len(users)], f"load-{run_id}-{i:05d}"
            try:
                r = await client.get(
                    f"{bases[0]}/apps/support/users/{user}/sessions/{session}",
                    headers=headers(user),
                )
            except httpx.HTTPError:
                complete = False
                continue
            if r.status_code == 429:
                unchecked += 1
                continue
            if r.status_code != 200:
                complete = complete and answered[session] == 0 and r.status_code == 404
                continue
            events = r.json().get("events", [])
            ids = [e.get("id") for e in events]
            user_turns = sum(e.get("author") == "user" for e in events)
            complete = (
                complete and len(ids) == len(set(ids)) and answered[session] <= user_turns <= turns
            )
    return latencies, errors, wall, complete, unchecked


def _config_env(database: str, data_dir: Path, keys_file: Path) -> dict[str, str]:
    """The replicas' environment: this one, minus any other database or session store."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COORDINATOR_DATABASE_URL", "COORDINATOR_SESSION_DB")
    }
    for key, value in _LIFTED_LIMITS.items():
        env.setdefault(key, value)
    env.update(
        COORDINATOR_DATA_DIR=str(data_dir),
        COORDINATOR_API_KEYS_FILE=str(keys_file),
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    if database != "sqlite":  # store, audit, decision log, tickets and sessions
        env["COORDINATOR_DATABASE_URL"] = database
    return env


def run_replica_load(
    replicas: list[int],
    databases: list[str],
    *,
    sessions: int,
    turns: int,
    concurrency: int,
    seed: int = 7,
) -> ReplicaLoadReport:
    """Measure every (database, replica count) configuration, one after another."""
    import anyio

    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.app_spec import load_app
    from coordinator.bench.datasets import route_utterances

    if sessions < 1 or concurrency < 1 or turns < 1:
        raise UsageError("need --sessions, --concurrency and --turns >= 1")
    texts = route_utterances(seed, sessions * turns)
    seed_users = load_app().demo_users  # users the app's seed data knows
    runs: list[ReplicaRun] = []
    with tempfile.TemporaryDirectory(prefix="coordinator-replicas-") as tmp:
        root = Path(tmp)
        keys = {u: f"bench-{u}-{uuid.uuid4().hex}" for u in seed_users}
        keys_file = root / "keys.txt"
        keys_file.write_text(
            "".join(f"{u} {hashlib.sha256(k.encode()).hexdigest()}\n" for u, k in keys.items())
        )
        for c, database in enumerate(databases):
            for n in replicas:
                workdir = root / f"config-{c}-{n}"
                workdir.mkdir()
                env = _config_env(database, workdir / "data", keys_file)
                with serve_processes(workdir, n, env) as bases:
                    latencies, errors, wall, complete, unchecked = anyio.run(
                        _drive, bases, keys, texts, sessions, turns, concurrency
                    )
                ok = sessions * turns - sum(errors.values())
                runs.append(
                    ReplicaRun(
                        database=redact(database),
                        replicas=n,
                        requests=sessions * turns,
                        ok=ok,
                        errors=dict(sorted(errors.items())),
                        wall_s=round(wall, 3),
                        throughput_rps=round(ok / wall, 2) if wall > 0 else 0.0,
                        latency_ms={
                            "p50": percentile(latencies, 0.50),
                            "p95": percentile(latencies, 0.95),
                            "max": round(max(latencies, default=0.0), 1),
                        },
                        history_complete=complete,
                        history_unchecked=unchecked,
                    )
                )
    first = runs[0]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else 0.0

    return ReplicaLoadReport(
        sessions=sessions,
        turns=turns,
        concurrency=concurrency,
        balancing="client-side round-robin: turn t of chat i goes to replica (i + t) mod n",
        configs=[
            ReplicaConfig(
                run=r,
                throughput_ratio=ratio(r.throughput_rps, first.throughput_rps),
                p95_ratio=ratio(r.latency_ms["p95"], first.latency_ms["p95"]),
            )
            for r in runs
        ],
    )


def print_report(report: ReplicaLoadReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"bench load over HTTP: {report.sessions} chats x {report.turns} turns, "
        f"{report.concurrency} in flight, {report.balancing}"
    )
    for col in (
        "database",
        "replicas",
        "ok / requests",
        "errors",
        "req/s",
        "p50 ms",
        "p95 ms",
        "history",
        "req/s ratio",
        "p95 ratio",
    ):
        table.add_column(col, justify="left" if col in ("database", "errors") else "right")
    for c in report.configs:
        r = c.run
        table.add_row(
            r.database,
            str(r.replicas),
            f"{r.ok} / {r.requests}",
            ", ".join(f"{k} x{v}" for k, v in r.errors.items()) or "0",
            f"{r.throughput_rps:.1f}",
            f"{r.latency_ms['p50']:.0f}",
            f"{r.latency_ms['p95']:.0f}",
            ("complete" if r.history_complete else "INCOMPLETE")
            + (f" ({r.history_unchecked} unchecked)" if r.history_unchecked else ""),
            f"{c.throughput_ratio:.2f}x",
            f"{c.p95_ratio:.2f}x",
        )
    Console(width=200).print(table)
