"""`coordinator bench startup`: whole `coordinator` processes against a bare ADK import.

What a user waits for when they type `coordinator ask` is a whole process: interpreter
start, imports, building the tree, one request, exit. Each subject runs as a fresh child
process, alternating with the yardstick `python -c "import google.adk.runners"` (which
one goes first flips every run, so drift in the machine's load falls on both sides), and
the child's own CPU time (user + sys, from `os.wait4`) is read when it exits. On a shared
machine CPU time moves less than wall time, and a ratio taken run pair by run pair moves
least of all: that ratio, its median and spread, is the result. Wall time and peak RSS
are printed beside it.

Subjects (all offline, in a scratch data dir, never the user's):

- ``ask``: `coordinator ask TEXT --user USER` on a warm data dir (one uncounted run first
  trains or loads what the data dir caches);
- ``ask-cold``: the same with a new, empty data dir each run (what a first `ask` costs);
- ``review``: `coordinator review FILE` on the warm data dir (default FILE: one of the
  app's sample documents);
- ``floor``: the least an ADK answer costs: one `LlmAgent` on a trivial `BaseLlm`, one
  request through an `InMemoryRunner`, with the same garbage-collector settings our
  commands use (`coordinator.cli._gc`), so the difference is work, not exit-time GC.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from coordinator.cli._args import positive_int
from coordinator.errors import CoordinatorError, UsageError

__all__ = [
    "GOAL",
    "SUBJECTS",
    "Command",
    "StartupReport",
    "build_commands",
    "measure",
    "register",
    "run",
]

# `coordinator ask` start-up, in yardsticks (issue 20): at most 1.5 bare ADK imports.
GOAL = 1.5
SUBJECTS = ("ask", "ask-cold", "review", "floor")
DEFAULT_SUBJECTS = SUBJECTS
YARDSTICK_CODE = "import google.adk.runners"

FLOOR_CODE = """\
import asyncio, gc
gc.set_threshold(50_000, 20, 20)
from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.genai import types

class Echo(BaseLlm):
    async def generate_content_async(self, llm_request, stream=False):
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text="hi")]))

runner = InMemoryRunner(agent=LlmAgent(name="a", model=Echo(model="echo")))

async def main():
    s = await runner.session_service.create_session(app_name=runner.app_name, user_id="u")
    msg = types.Content(role="user", parts=[types.Part(text="x")])
    async for _ in runner.run_async(user_id="u", session_id=s.id, new_message=msg):
        pass

asyncio.run(main())
gc.freeze()
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "startup",
        help="whole `coordinator ask`/`review` processes vs a bare ADK import (CPU, paired)",
        description="Run `coordinator ask` (warm and cold data dir), `coordinator review` and "
        "a one-agent ADK script as whole processes, each alternating with "
        f'`python -c "{YARDSTICK_CODE}"`, and print medians of CPU (user+sys), wall and '
        "peak memory, and the CPU ratio to the yardstick taken run pair by run pair. "
        "Offline, in a scratch data dir.",
    )
    p.add_argument(
        "--runs",
        type=positive_int,
        default=10,
        help="counted runs per subject (default: %(default)s)",
    )
    p.add_argument(
        "--cold-runs",
        type=positive_int,
        default=3,
        help="counted runs of ask-cold, each in a new data dir (default: %(default)s)",
    )
    p.add_argument(
        "--only",
        default=",".join(DEFAULT_SUBJECTS),
        help=f"comma-separated subjects among {', '.join(SUBJECTS)} (default: all)",
    )
    p.add_argument(
        "--text", default="show my last invoice", help="the ask request (default: %(default)r)"
    )
    p.add_argument("--user", default="alice", help="the ask user (default: %(default)s)")
    p.add_argument(
        "--document",
        metavar="FILE",
        default=None,
        help="the document `review` reads (default: one of the app's sample documents)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class Command:
    """One process to time. `data_dir`: "warm" (the bench's shared scratch dir), "fresh"
    (a new empty one per run) or None (no data dir: the yardstick and the floor)."""

    name: str
    argv: tuple[str, ...]
    data_dir: str | None = None

    @property
    def shown(self) -> str:
        return shlex.join(("python", *self.argv[1:])) if self.argv else ""


class Sample(BaseModel):
    cpu_s: float = Field(description="User + sys CPU seconds of the child process.")
    wall_s: float
    peak_mib: float = Field(description="Peak resident memory of the child (MiB).")


class Row(BaseModel):
    """One subject: its samples, their medians and the paired CPU ratio to the yardstick."""

    name: str
    command: str
    runs: int
    cpu_s: float = Field(description="Median CPU seconds (user + sys).")
    wall_s: float = Field(description="Median wall seconds.")
    peak_mib: float = Field(description="Median peak RSS, MiB.")
    ratio: float | None = Field(
        None, description="Median of cpu(subject) / cpu(yardstick) over the run pairs."
    )
    ratio_min: float | None = None
    ratio_max: float | None = None
    samples: list[Sample] = Field(default_factory=list)
    yardstick: list[Sample] = Field(
        default_factory=list, description="The yardstick runs paired with this subject's."
    )


class StartupReport(BaseModel):
    yardstick: Row
    rows: list[Row]
    load_before: tuple[float, float, float] | None = Field(
        None, description="1/5/15-minute load average when the bench started."
    )
    load_after: tuple[float, float, float] | None = None
    goal: float = GOAL
    cpus: int | None = None


def _load() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return None
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def _child_env(data_dir: Path | None) -> dict[str, str]:
    """The environment of every timed process: offline, no credentials, no settings of the
    user's (their database or routes would measure their setup, not the product's)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COORDINATOR_", "GOOGLE_", "GEMINI_", "PYTHONPROFILE"))
    }
    env["COORDINATOR_MODE"] = "offline"
    if data_dir is not None:
        env["COORDINATOR_DATA_DIR"] = str(data_dir)
    return env


# Runs one timed command as its own child and prints that child's rusage. A child forked
# straight from the bench inherits the bench's memory high-water mark (Linux keeps
# `ru_maxrss` across exec), so the bench's ~100 MiB would be everyone's floor; spawned from
# this small interpreter (-I -S: no site-packages) the floor is a few MiB.
_LAUNCHER = """\
import json, os, sys, time
err = sys.argv[1]
argv = sys.argv[2:]
actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
           (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
           (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
start = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "cpu": ru.ru_utime + ru.ru_stime,
                  "wall": wall, "maxrss": ru.ru_maxrss}))
"""


def _time_process(argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> Sample:
    """Run `argv` to completion; its own CPU time, wall time and peak RSS."""
    err = cwd / ".stderr"
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(err), *argv],
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise CoordinatorError(
            f"could not start `{shlex.join(argv)}`: {proc.stderr.strip()[-300:]}"
        ) from None
    if result["code"] != 0:
        lines = err.read_text("utf-8", "replace").strip().splitlines() if err.exists() else []
        last = lines[-1] if lines else "no output"
        raise CoordinatorError(f"`{shlex.join(argv)}` exited with {result['code']}: {last[:300]}")
    per_mib = 1024 * 1024 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes / KiB
    return Sample(
        cpu_s=round(result["cpu"], 4),
        wall_s=round(result["wall"], 4),
        peak_mib=round(result["maxrss"] / per_mib, 1),
    )


def build_commands(
    subjects: Sequence[str],
    *,
    text: str,
    user: str,
    document: Path | None,
    python: str = sys.executable,
) -> tuple[Command, list[Command]]:
    """The yardstick and the subjects' commands, in the order given."""
    coordinator = (python, "-m", "coordinator")
    known: dict[str, Callable[[], Command]] = {
        "ask": lambda: Command("ask", (*coordinator, "ask", text, "--user", user), "warm"),
        "ask-cold": lambda: Command(
            "ask-cold", (*coordinator, "ask", text, "--user", user), "fresh"
        ),
        "review": lambda: Command("review", (*coordinator, "review", str(document)), "warm"),
        "floor": lambda: Command("floor", (python, "-c", FLOOR_CODE)),
    }
    commands = []
    for name in subjects:
        if name not in known:
            raise UsageError(f"unknown subject {name!r}; choose among {', '.join(SUBJECTS)}")
        if name == "review" and document is None:
            raise UsageError("the review subject needs a document: pass --document FILE")
        commands.append(known[name]())
    return Command("yardstick", (python, "-c", YARDSTICK_CODE)), commands


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 4)


def _row(command: Command, samples: list[Sample], paired: list[Sample] | None) -> Row:
    pairs = zip(samples, paired or [], strict=bool(paired))
    ratios = [s.cpu_s / y.cpu_s for s, y in pairs if y.cpu_s > 0]
    return Row(
        name=command.name,
        command=command.shown if command.name != "floor" else "python -c FLOOR_SCRIPT",
        runs=len(samples),
        cpu_s=_median([s.cpu_s for s in samples]),
        wall_s=_median([s.wall_s for s in samples]),
        peak_mib=_median([s.peak_mib for s in samples]),
        ratio=round(statistics.median(ratios), 3) if ratios else None,
        ratio_min=round(min(ratios), 3) if ratios else None,
        ratio_max=round(max(ratios), 3) if ratios else None,
        samples=samples,
        yardstick=paired or [],
    )


def measure(
    yardstick: Command,
    subjects: Sequence[Command],
    runs: Mapping[str, int],
    *,
    workdir: Path,
    on_run: Callable[[str, Sample], None] | None = None,
) -> StartupReport:
    """Time each subject `runs[name]` times, each run paired with one yardstick run.

    Every command runs once first, uncounted (bytecode, page cache, the warm data dir's
    caches). Round i runs subject j's pair yardstick-first when i + j is even, else
    subject-first. Children run in `workdir` (no stray `.env` is read)."""
    warm_dir = workdir / "data"
    fresh_root = workdir / "fresh"
    fresh_root.mkdir(parents=True, exist_ok=True)
    fresh_count = 0

    def run_one(cmd: Command) -> Sample:
        nonlocal fresh_count
        data_dir: Path | None = None
        if cmd.data_dir == "warm":
            data_dir = warm_dir
        elif cmd.data_dir == "fresh":
            fresh_count += 1
            data_dir = fresh_root / str(fresh_count)
        try:
            sample = _time_process(cmd.argv, _child_env(data_dir), workdir)
        finally:
            if cmd.data_dir == "fresh" and data_dir is not None:
                shutil.rmtree(data_dir, ignore_errors=True)
        if on_run is not None:
            on_run(cmd.name, sample)
        return sample

    load_before = _load()
    for cmd in (yardstick, *subjects):
        run_one(cmd)  # uncounted
    samples: dict[str, list[Sample]] = {c.name: [] for c in subjects}
    paired: dict[str, list[Sample]] = {c.name: [] for c in subjects}
    for i in range(max((runs.get(c.name, 0) for c in subjects), default=0)):
        for j, cmd in enumerate(subjects):
            if i >= runs.get(cmd.name, 0):
                continue
            if (i + j) % 2 == 0:
                y = run_one(yardstick)
                s = run_one(cmd)
            else:
                s = run_one(cmd)
                y = run_one(yardstick)
            samples[cmd.name].append(s)
            paired[cmd.name].append(y)
    all_yard = [y for c in subjects for y in paired[c.name]]
    return StartupReport(
        yardstick=_row(yardstick, all_yard, None),
        rows=[_row(c, samples[c.name], paired[c.name]) for c in subjects],
        load_before=load_before,
        load_after=_load(),
        cpus=os.cpu_count(),
    )


def _default_document() -> Path | None:
    """A typical review: the app's largest sample document of at most 100 kB."""
    # deferred: the app (and its agents) load only when the review subject is measured
    from coordinator.app_spec import load_app

    docs = [p for p in load_app().sample_documents if p.is_file()]
    fitting = [p for p in docs if p.stat().st_size <= 100_000]
    return max(fitting or docs, key=lambda p: p.stat().st_size, default=None)


def _print(report: StartupReport) -> None:
    # deferred: rich loads only when a report is drawn
    from rich.console import Console
    from rich.table import Table

    y = report.yardstick
    t = Table(title="start-up: whole processes, CPU = user + sys of the child")
    for col in ("process", "runs", "CPU s", "wall s", "peak MiB", "CPU / yardstick"):
        t.add_column(col, justify="left" if col == "process" else "right")
    t.add_row(
        "yardstick", str(y.runs), f"{y.cpu_s:.3f}", f"{y.wall_s:.3f}", f"{y.peak_mib:.0f}", "1"
    )
    for r in report.rows:
        spread = f" ({r.ratio_min:.2f}-{r.ratio_max:.2f})" if r.ratio_min is not None else ""
        t.add_row(
            r.name,
            str(r.runs),
            f"{r.cpu_s:.3f}",
            f"{r.wall_s:.3f}",
            f"{r.peak_mib:.0f}",
            f"{r.ratio:.2f}{spread}" if r.ratio is not None else "-",
        )
    console = Console()
    console.print(t)
    for r in (y, *report.rows):
        print(f"  {r.name}: {r.command}")
    print(
        "medians; CPU / yardstick is the median (min-max) of the ratios of run pairs, "
        "each pair run back to back, order alternating"
    )
    print(
        f"load average before {report.load_before}, after {report.load_after}, {report.cpus} CPUs"
    )
    ask = next((r for r in report.rows if r.name == "ask"), None)
    if ask is not None and ask.ratio is not None:
        verdict = "met" if ask.ratio <= report.goal else "NOT met"
        print(f"goal: warm `ask` <= {report.goal:g} x yardstick: {verdict} ({ask.ratio:.2f})")


def run(args: argparse.Namespace) -> int:
    if not hasattr(os, "wait4") or not hasattr(os, "posix_spawn"):
        raise UsageError("bench startup reads each child's CPU time with os.wait4 (Unix only)")
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    if not names or len(set(names)) != len(names):
        raise UsageError("--only: give each subject once, e.g. --only ask,floor")
    document = None
    if "review" in names:
        document = Path(args.document) if args.document else _default_document()
        if document is not None and not document.is_file():
            raise UsageError(f"--document {document}: no such file")
        if document is not None:
            document = document.resolve()
    yardstick, subjects = build_commands(names, text=args.text, user=args.user, document=document)
    runs = {c.name: args.cold_runs if c.name == "ask-cold" else args.runs for c in subjects}

    def progress(name: str, sample: Sample) -> None:
        if sys.stderr.isatty():
            print(f"  {name}: {sample.cpu_s:.2f} s CPU", file=sys.stderr)

    workdir = Path(tempfile.mkdtemp(prefix="coordinator-bench-startup-"))
    try:
        report = measure(yardstick, subjects, runs, workdir=workdir, on_run=progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print(report)
    return 0
