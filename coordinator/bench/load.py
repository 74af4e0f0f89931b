"""`coordinator bench load`: many concurrent sessions through one Coordinator, offline.

One process, one event loop: `--sessions` chats of `--turns` turns each, at most
`--concurrency` requests in flight (an `anyio.CapacityLimiter`), all through the real
agent tree and the real session store (SQLite in a fresh temp data dir unless
`--data-dir`). Requests are the routes' own example utterances, drawn with `--seed`,
spoken by the seeded demo customers.

Reported: throughput (requests/s over the whole run), p50/p95/max latency per request,
errors by type, and whether every session's history is complete: the stored session
holds exactly one user event per turn plus every event the runner yielded, in order,
with no duplicate ids.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from coordinator.bench.datasets import route_utterances
from coordinator.bench.replicas import database_url, replica_counts
from coordinator.errors import UsageError
from coordinator.settings import reset_settings

__all__ = ["LoadReport", "register", "run", "run_load"]


class LoadReport(BaseModel):
    """What one load run measured."""

    sessions: int = Field(description="Concurrent chats started.")
    turns: int = Field(description="Turns per chat.")
    concurrency: int = Field(description="Most requests in flight at once.")
    requests: int = Field(description="Requests sent (sessions x turns).")
    ok: int = Field(description="Requests that returned an answer.")
    errors: dict[str, int] = Field(description="Failed requests by exception type.")
    error_examples: dict[str, str] = Field(description="First message of each error type.")
    wall_s: float = Field(description="Wall time of the whole run.")
    throughput_rps: float = Field(description="Requests completed per second.")
    latency_ms: dict[str, float] = Field(description="p50, p95, max, mean of request latency.")
    routes: dict[str, int] = Field(description="Requests routed to each specialist.")
    history_complete: bool = Field(description="Every session's stored history is complete.")
    incomplete_sessions: list[str] = Field(
        description="Sessions with a duplicated event, or (all requests ok) whose stored "
        "history differs from one user event per turn plus every yielded event."
    )
    failed_sessions: int = Field(description="Sessions with at least one failed request.")
    events_stored: int = Field(description="Events in all sessions together.")
    session_store: str = Field(description="Session service URL used.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load",
        help="many concurrent sessions through one Coordinator: throughput, latency, history",
        description="Drive concurrent chat sessions through the Coordinator in one process "
        "(offline models, real session store in a temp data dir) and report throughput, "
        "p50/p95 latency, errors and whether every session's history is complete.",
    )
    p.add_argument("--sessions", type=int, default=200, help="chats (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=50, help="requests in flight (default: 50)")
    p.add_argument("--turns", type=int, default=2, help="turns per chat (default: %(default)s)")
    p.add_argument("--seed", type=int, default=7, help="seed for the utterance draw")
    p.add_argument("--data-dir", type=Path, help="data dir to use (default: a fresh temp dir)")
    p.add_argument(
        "--session-db",
        help="session store URL (default: settings, a SQLite file in the data dir; "
        "'memory' for ADK's in-memory store)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    rep = p.add_argument_group(
        "replicas mode (over HTTP)",
        "start N `coordinator serve` replicas on one database, drive the chats over HTTP "
        "(client-side round-robin) and print one table, a row per configuration",
    )
    rep.add_argument(
        "--replicas",
        type=replica_counts,
        metavar="N[,N...]",
        help="replica counts to measure side by side, e.g. 1,2",
    )
    rep.add_argument(
        "--database-url",
        action="append",
        type=database_url,
        metavar="URL",
        help="'sqlite' (a fresh shared data dir) or a database URL the replicas share; "
        "repeat to compare (default: sqlite)",
    )
    by = p.add_argument_group(
        "bystander mode",
        "start `coordinator serve`, flood it with long reviews from several users and "
        "measure a bystander's small requests against idle (both with the configured "
        "limits and with them lifted)",
    )
    by.add_argument("--bystander", action="store_true", help="run the bystander benchmark")
    by.add_argument("--flood-users", type=int, default=4, help="flooding users (default: 4)")
    by.add_argument(
        "--flood-lanes", type=int, default=8, help="reviews each tries to keep in flight (8)"
    )
    by.add_argument(
        "--flood-chars", type=int, default=59_000, help="review size in chars (default: 59000)"
    )
    by.add_argument(
        "--bystander-requests", type=int, default=20, help="bystander requests per phase (20)"
    )
    p.set_defaults(func=run)


def _run_replicas(args: argparse.Namespace) -> int:
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.bench.replicas import print_report, run_replica_load

    if args.bystander or args.data_dir is not None or args.session_db:
        raise UsageError(
            "--replicas/--database-url cannot be combined with --bystander, "
            "--data-dir or --session-db"
        )
    report = run_replica_load(
        args.replicas or [1],
        args.database_url or ["sqlite"],
        sessions=args.sessions,
        turns=args.turns,
        concurrency=args.concurrency,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps(report.model_dump(), indent=2))
    else:
        print_report(report)
    bad = any(c.run.errors or not c.run.history_complete for c in report.configs)
    return 1 if bad else 0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


async def run_load(sessions: int, concurrency: int, turns: int = 2, seed: int = 7) -> LoadReport:
    """Run the load in the current event loop with the current settings (data dir)."""
    import anyio

    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.api import Coordinator
    from coordinator.app_spec import load_app

    if sessions < 1 or concurrency < 1 or turns < 1:
        raise UsageError("need --sessions, --concurrency and --turns >= 1")
    coordinator = Coordinator(warm_up=False)
    texts = route_utterances(seed, sessions * turns)
    seed_users = load_app().demo_users  # users the app's seed data knows
    users = [seed_users[i % len(seed_users)] for i in range(sessions)]
    limiter = anyio.CapacityLimiter(concurrency)
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    examples: dict[str, str] = {}
    failed: set[str] = set()
    routes: Counter[str] = Counter()
    yielded: dict[str, list[str]] = {}  # session id -> ids of events the runner yielded

    async def one_turn(user: str, session_id: str, text: str) -> None:
        async with limiter:
            t0 = time.perf_counter()
            try:
                clean, session = await coordinator.open_session(text, user, session_id)
                route = None
                async for event in coordinator.run_events(clean, session):
                    if not event.partial:
                        yielded.setdefault(session_id, []).append(event.id)
                    for call in event.get_function_calls():
                        if call.name == "transfer_to_agent" and route is None:
                            route = (call.args or {}).get("agent_name")
                routes[route or coordinator.agent.name] += 1
            except Exception as exc:  # counted and reported, never fatal to the run
                failed.add(session_id)
                errors[type(exc).__name__] += 1
                examples.setdefault(type(exc).__name__, str(exc)[:300])
                return
            finally:
                latencies.append((time.perf_counter() - t0) * 1000)

    async def chat(i: int) -> None:
        session_id = f"load-{i:05d}"
        for t in range(turns):  # a chat's turns are sequential, chats run concurrently
            await one_turn(users[i], session_id, texts[i * turns + t])

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(sessions):
            tg.start_soon(chat, i)
    wall = time.perf_counter() - started

    incomplete: list[str] = []
    stored_total = 0
    for i in range(sessions):
        session_id = f"load-{i:05d}"
        session = await coordinator.session_service.get_session(
            app_name=coordinator.app_name, user_id=users[i], session_id=session_id
        )
        events = session.events if session else []
        stored_total += len(events)
        ids = [e.id for e in events]
        non_user = [e.id for e in events if e.author != "user"]
        # Failed requests may or may not have stored their user turn; their sessions are
        # checked for duplicates only. Every other session must match exactly.
        complete = len(ids) == len(set(ids)) and (
            session_id in failed
            or (
                sum(e.author == "user" for e in events) == turns
                and non_user == yielded.get(session_id, [])
            )
        )
        if not complete:
            incomplete.append(session_id)
    requests = sessions * turns
    ok = requests - sum(errors.values())
    return LoadReport(
        sessions=sessions,
        turns=turns,
        concurrency=concurrency,
        requests=requests,
        ok=ok,
        errors=dict(errors),
        error_examples=examples,
        wall_s=round(wall, 3),
        throughput_rps=round(ok / wall, 2) if wall > 0 else 0.0,
        latency_ms={
            "p50": round(_percentile(latencies, 0.50), 1),
            "p95": round(_percentile(latencies, 0.95), 1),
            "max": round(max(latencies, default=0.0), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        routes=dict(sorted(routes.items())),
        history_complete=not incomplete,
        incomplete_sessions=incomplete[:20],
        failed_sessions=len(failed),
        events_stored=stored_total,
        session_store=coordinator.settings.sessions_url,
    )


def _with_env(env: dict[str, str], fn):
    """Run `fn()` with these settings variables set, then restore them."""

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reset_settings()
    try:
        return fn()
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()


def _print(report: LoadReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="bench load (offline, one process, one event loop)", show_header=False)
    table.add_row("sessions x turns", f"{report.sessions} x {report.turns} = {report.requests}")
    table.add_row("concurrency", str(report.concurrency))
    table.add_row("ok / errors", f"{report.ok} / {sum(report.errors.values())} {report.errors}")
    table.add_row("wall", f"{report.wall_s:.2f} s")
    table.add_row("throughput", f"{report.throughput_rps:.1f} req/s")
    lat = report.latency_ms
    table.add_row("latency p50 / p95 / max", f"{lat['p50']} / {lat['p95']} / {lat['max']} ms")
    table.add_row("routes", ", ".join(f"{k} {v}" for k, v in report.routes.items()))
    table.add_row(
        "history complete",
        "yes" if report.history_complete else f"NO: {', '.join(report.incomplete_sessions)}",
    )
    table.add_row("failed sessions", str(report.failed_sessions))
    table.add_row("events stored", str(report.events_stored))
    table.add_row("session store", report.session_store)
    Console().print(table)


def run(args: argparse.Namespace) -> int:
    import anyio

    if args.replicas or args.database_url:
        return _run_replicas(args)
    if args.bystander:
        # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
        from coordinator.bench.bystander import print_report, run_bystander

        by = run_bystander(
            args.flood_users, args.bystander_requests, args.flood_chars, args.flood_lanes
        )
        if args.json:
            print(json.dumps(by.model_dump(), indent=2))
        else:
            print_report(by)
        return 0 if not any(c.idle.errors or c.flood.errors for c in by.configs) else 1

    def go() -> LoadReport:
        return anyio.run(
            lambda: run_load(args.sessions, args.concurrency, turns=args.turns, seed=args.seed)
        )

    env = {"COORDINATOR_SESSION_DB": args.session_db} if args.session_db else {}
    if args.data_dir is not None:
        report = _with_env({**env, "COORDINATOR_DATA_DIR": str(args.data_dir)}, go)
    else:
        with tempfile.TemporaryDirectory(prefix="coordinator-load-") as tmp:
            report = _with_env({**env, "COORDINATOR_DATA_DIR": tmp}, go)
    if args.json:
        print(json.dumps(report.model_dump(), indent=2))
    else:
        _print(report)
    return 0 if report.history_complete and not report.errors else 1
