"""`coordinator bench fanout`: plain ADK ParallelAgent vs our FanOutAgent vs a bare
`asyncio.gather`, same N one-call tasks, side by side in one process.

All three call the same simulated model (a `BaseLlm` that sleeps `latency`, then answers).
ADK and ours run through a `Runner` with `InMemorySessionService` and the default
`RunConfig`, each followed by the same non-LLM aggregator; their clock covers the whole
request (ours includes planning the N branches per request; ADK's agents are built once,
outside the clock). The gather column is the floor of one event loop: the N calls on
requests built beforehand, gathered, nothing else (no Runner, session, events, retries,
timeouts). Efficiency = ideal / wall, ideal = latency x ceil(N / concurrency), the same
for every column; runs are interleaved (ADK, ours, gather, ADK, ...) and the median kept.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import statistics
import time
from collections.abc import AsyncGenerator
from typing import Any

from coordinator.cli._args import non_negative_float, positive_int
from coordinator.errors import CoordinatorError, UsageError

__all__ = ["COLUMNS", "DEFAULT_SIZES", "measure", "register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fanout",
        help="plain ADK ParallelAgent vs the FanOutAgent engine on N simulated calls",
        description="Run the same N one-call tasks (simulated model sleeping LATENCY seconds) "
        "as a plain ADK ParallelAgent of LlmAgents, through FanOutAgent, and as a bare "
        "asyncio.gather of the calls, and print wall times and efficiencies "
        "(ideal / wall) side by side.",
    )
    p.add_argument(
        "--n",
        type=positive_int,
        action="append",
        help="branches; repeat for several (default: --n 256 --n 1000)",
    )
    p.add_argument("--latency", type=non_negative_float, default=0.2, help="seconds per model call")
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=None,
        help="concurrency limit of ours and gather (default: N, so ideal = latency)",
    )
    p.add_argument(
        "--repeat",
        type=positive_int,
        default=5,
        help="interleaved runs per column, median kept (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--plot", metavar="FILE.png", help="sweep several N and plot all three (matplotlib)"
    )
    p.set_defaults(func=run)


def _simulated_llm(latency: float) -> Any:
    # deferred: the CLI imports this module to register `bench`; ADK (~1.5 s) loads on run
    from google.adk.models.base_llm import BaseLlm
    from google.adk.models.llm_request import LlmRequest
    from google.adk.models.llm_response import LlmResponse
    from google.genai import types

    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.events import text_response
    from coordinator.models.offline import estimate_tokens

    class SimulatedLlm(BaseLlm):
        """Sleeps `delay_s`, then answers.

        The answer is built once and shared: building genai objects costs ~70 us per
        response on this machine, which would measure the simulator instead of the
        orchestration. Both pipelines get the same model, so the comparison stays fair.
        """

        delay_s: float = 0.0
        answer: Any = None

        async def generate_content_async(
            self, llm_request: LlmRequest, stream: bool = False
        ) -> AsyncGenerator[LlmResponse, None]:
            await asyncio.sleep(self.delay_s)
            yield self.answer

    text = "No uncapped liability found in this clause."
    answer = text_response(text)
    answer.usage_metadata = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=24, candidates_token_count=estimate_tokens(text)
    )
    return SimulatedLlm(model="simulated", delay_s=latency, answer=answer)


def _aggregator(prefix: str, n: int) -> Any:
    # deferred: the CLI imports this module to register `bench`; ADK (~1.5 s) loads on run
    from google.adk.agents.base_agent import BaseAgent
    from google.adk.events import Event

    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.events import state_event

    class ConcatAggregator(BaseAgent):
        """Joins `<prefix>:task_<i>` in order; names what is missing. No model call."""

        async def _run_async_impl(self, ctx: Any) -> AsyncGenerator[Event, None]:
            state = ctx.session.state
            got = [state.get(f"{prefix}:task_{i}") for i in range(n)]
            missing = sum(1 for g in got if g is None)
            text = f"{n - missing}/{n} results; {sum(len(g or '') for g in got)} chars"
            yield state_event(ctx, self.name, text=text)

    return ConcatAggregator(name="aggregate")


def _task(i: int) -> str:
    return f"Task {i}: check clause {i} for an uncapped liability."


async def _run_pipeline(agent: Any, message: str) -> tuple[float, str | None, str]:
    # deferred: the CLI imports this module to register `bench`; ADK (~1.5 s) loads on run
    from google.adk.runners import Runner
    from google.adk.sessions import InMemorySessionService
    from google.genai import types

    service = InMemorySessionService()
    runner = Runner(app_name="bench", agent=agent, session_service=service)
    session = await service.create_session(app_name="bench", user_id="bench")
    content = types.Content(role="user", parts=[types.Part(text=message)])
    last = ""
    started = time.perf_counter()
    try:
        async for event in runner.run_async(
            user_id="bench", session_id=session.id, new_message=content
        ):
            if event.content and event.content.parts and event.content.parts[0].text:
                last = event.content.parts[0].text
    except Exception as exc:  # the plain version's failure is a measurement, not a crash
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}", last
    return time.perf_counter() - started, None, last


async def _run_gather(llm: Any, requests: list[Any], limit: int) -> tuple[float, str | None]:
    """The floor: the N calls gathered on one loop (a semaphore only if limit < N)."""
    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator.parallel.fanout import call_model

    started = time.perf_counter()
    try:
        if limit >= len(requests):
            await asyncio.gather(*(call_model(llm, r) for r in requests))
        else:
            gate = asyncio.Semaphore(limit)

            async def one(request: Any) -> Any:
                async with gate:
                    return await call_model(llm, request)

            await asyncio.gather(*(one(r) for r in requests))
    except Exception as exc:  # a measurement, not a crash
        return time.perf_counter() - started, f"{type(exc).__name__}: {exc}"
    return time.perf_counter() - started, None


COLUMNS = ("adk", "ours", "gather")
"""Record keys: `<column>_s` (median wall), `<column>_efficiency`, `<column>_runs_s`."""


async def measure(
    n: int, latency: float, concurrency: int | None = None, repeat: int = 1
) -> dict[str, Any]:
    """The three columns on the same N tasks, `repeat` interleaved runs each, median kept."""
    # deferred: the CLI imports this module to register `bench`; ADK (~1.5 s) loads on run
    from google.adk.agents import SequentialAgent
    from google.genai import types

    # deferred: `coordinator bench` imports each benchmark for its parser; only the one run pays
    from coordinator import _warnings  # noqa: F401
    from coordinator.parallel.fanout import (
        AgentBranch,
        Branch,
        FanOutAgent,
        branch_request,
        build_parallel_agent,
    )

    if n < 1 or latency < 0:
        raise UsageError("--n must be >= 1 and --latency >= 0")
    limit = concurrency or n
    llm = _simulated_llm(latency)
    message = "Review the contract clauses."

    plain = SequentialAgent(
        name="plain",
        sub_agents=[
            build_parallel_agent(
                [AgentBranch(id=f"task_{i}", model=llm, instruction=_task(i)) for i in range(n)],
                name="checks",
                state_prefix="r",
            ),
            _aggregator("r", n),
        ],
    )

    def plan(ctx: Any) -> list[Branch]:
        # Per request: each branch sees the user's message, its task as instruction (added
        # to its own copy of the one request, inside its task).
        request = branch_request(ctx.user_content)
        return [
            Branch(id=f"task_{i}", model=llm, request=request, instruction=_task(i))
            for i in range(n)
        ]

    ours = SequentialAgent(
        name="ours",
        sub_agents=[
            FanOutAgent(name="checks", plan=plan, state_prefix="r", max_concurrency=limit),
            _aggregator("r", n),
        ],
    )
    user = types.Content(role="user", parts=[types.Part(text=message)])
    requests = [branch_request(user, system_instruction=_task(i)) for i in range(n)]
    runs: dict[str, list[tuple[float, str | None]]] = {c: [] for c in COLUMNS}
    ours_last = ""
    for _ in range(max(1, repeat)):
        gc.collect()  # no column pays for another's garbage
        seconds, error, _ = await _run_pipeline(plain, message)
        runs["adk"].append((seconds, error))
        gc.collect()
        seconds, error, ours_last = await _run_pipeline(ours, message)
        runs["ours"].append((seconds, error))
        gc.collect()
        runs["gather"].append(await _run_gather(llm, requests, limit))
    for column in ("ours", "gather"):
        if errors := [e for _, e in runs[column] if e]:
            raise CoordinatorError(f"{column} failed: {errors[0]}")
    ideal = latency * math.ceil(n / limit)
    record: dict[str, Any] = {
        "n": n,
        "latency_s": latency,
        "concurrency": limit,
        "ideal_s": round(ideal, 4),
        "repeat": max(1, repeat),
        "efficiency": "ideal_s / median wall of the runs, the same for every column",
    }
    for column in COLUMNS:
        wall = statistics.median(seconds for seconds, _ in runs[column])
        record[f"{column}_s"] = round(wall, 4)
        record[f"{column}_efficiency"] = round(ideal / wall, 3) if wall else None
        record[f"{column}_runs_s"] = [round(seconds, 4) for seconds, _ in runs[column]]
    record["adk_error"] = next((e for _, e in runs["adk"] if e), None)
    record["ours_result"] = ours_last
    record["load_avg_1m"] = round(os.getloadavg()[0], 2)  # the machine may be shared
    return record


_NOTE = (
    "efficiency = ideal / wall, ideal = latency x ceil(N / concurrency); median of {repeat} "
    "interleaved runs per column. ADK and ours: a Runner request incl. an aggregator (ours "
    "plans the N branches per request); gather: the N calls alone, no Runner. "
    "Load average at the end: {load}."
)


def _table(records: list[dict[str, Any]]) -> None:
    # deferred: rich and matplotlib load only when a report is drawn
    from rich.console import Console
    from rich.table import Table

    t = Table(title="fan-out: ADK ParallelAgent vs FanOutAgent vs bare asyncio.gather")
    cols = ("N", "ideal s", "ADK s", "ours s", "gather s", "ADK eff", "ours eff", "gather eff")
    for col in cols:
        t.add_column(col, justify="right")
    for r in records:
        t.add_row(
            str(r["n"]),
            f"{r['ideal_s']:.3f}",
            *(f"{r[f'{c}_s']:.3f}" for c in COLUMNS),
            *(f"{r[f'{c}_efficiency']:.2f}" for c in COLUMNS),
        )
    console = Console()
    console.print(t)
    for r in records:
        if r["adk_error"]:
            console.print(f"ADK at N={r['n']} failed: {r['adk_error']}")
    last = records[-1]
    console.print(_NOTE.format(repeat=last["repeat"], load=last["load_avg_1m"]))


def _plot(path: str, latency: float, concurrency: int | None, repeat: int) -> list[dict[str, Any]]:
    # deferred: rich and matplotlib load only when a report is drawn
    from coordinator.evaluation.plotting import pyplot

    plt = pyplot()
    sizes = [8, 32, 64, 128, 256, 512, 1000]
    records = [asyncio.run(measure(n, latency, concurrency, repeat)) for n in sizes]
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = {"adk": "ADK ParallelAgent", "ours": "FanOutAgent", "gather": "bare asyncio.gather"}
    for column, style in zip(COLUMNS, ("o-", "s-", "^--"), strict=True):
        ax.plot(sizes, [r[f"{column}_efficiency"] for r in records], style, label=labels[column])
    for r in records:
        if r["adk_error"]:
            ax.annotate(
                "failed",
                (r["n"], r["adk_efficiency"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=8,
            )
    ax.set_xscale("log")
    ax.set_xlabel("branches (N)")
    ax.set_ylabel("efficiency (ideal / wall)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"fan-out efficiency, simulated model {latency:g}s")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return records


async def _warm_up() -> None:
    """First use builds pydantic validators and imports lazily: keep that out of the numbers."""
    await measure(2, 0.0)


DEFAULT_SIZES = (256, 1000)


def run(args: argparse.Namespace) -> int:
    asyncio.run(_warm_up())
    if args.plot:
        records = _plot(args.plot, args.latency, args.concurrency, args.repeat)
    else:
        sizes = args.n or DEFAULT_SIZES
        records = [
            asyncio.run(measure(n, args.latency, args.concurrency, args.repeat)) for n in sizes
        ]
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    else:
        _table(records)
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0
