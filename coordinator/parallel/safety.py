"""The side-effect contract and the independence check of parallel work.

Branches must not carry side-effecting tools (refunds, writes): a request whose
`tools_dict` holds a tool marked with `side_effecting`, or named in the deny list, is
refused before anything runs. And the engine marks every branch it runs
(`in_parallel_branch()`, a context variable each branch task sets for itself), so a
`@side_effecting` tool that is reached anyway (e.g. by an agent a callable branch runs in a
private session) refuses to act there. (Tools also refuse when a session's state carries
`IN_PARALLEL_KEY` or ADK's branch path is a ParallelAgent's: see tools/confirmation.py.)
`check_independent(steps)` refuses to parallelize dependent steps.
"""

from __future__ import annotations

import contextvars
import fnmatch
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

from coordinator.errors import UsageError
from coordinator.settings import get_settings

__all__ = [
    "PARALLEL_REFUSAL",
    "Step",
    "assert_no_side_effects",
    "check_independent",
    "in_parallel_branch",
    "parallel_branch",
    "side_effecting",
]

PARALLEL_REFUSAL = "side effects cannot run from a parallel or voting branch"

_IN_BRANCH: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "coordinator_in_parallel_branch", default=False
)


def in_parallel_branch() -> bool:
    """True while code runs inside a branch of the fan-out engine (and what it awaits)."""
    return _IN_BRANCH.get()


@contextmanager
def parallel_branch() -> Iterator[None]:
    """Mark the current task's context as a parallel branch (the engine does, per branch)."""
    token = _IN_BRANCH.set(True)
    try:
        yield
    finally:
        _IN_BRANCH.reset(token)


def _refusal() -> dict[str, Any]:
    return {"status": "error", "message": f"Refused: {PARALLEL_REFUSAL}."}


def side_effecting(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Declare a tool side-effecting: fan-out and voting branches refuse to carry it, and
    a call made inside a parallel branch returns a refusal without running it."""

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            if in_parallel_branch():
                return _refusal()
            return await fn(*args, **kwargs)

        guarded: Callable[..., Any] = guarded_async
    else:

        @functools.wraps(fn)
        def guarded_sync(*args: Any, **kwargs: Any) -> Any:
            if in_parallel_branch():
                return _refusal()
            return fn(*args, **kwargs)

        guarded = guarded_sync
    guarded.side_effecting = True  # type: ignore[attr-defined]
    return guarded


def _denylist(extra: Iterable[str]) -> set[str]:
    configured = getattr(get_settings(), "side_effect_tools", None) or ()
    if isinstance(configured, str):
        configured = [t.strip() for t in configured.split(",") if t.strip()]
    return set(extra) | set(configured)


def assert_no_side_effects(
    tools: Iterable[Any], *, deny: Iterable[str] = (), where: str = ""
) -> None:
    """Raise UsageError if any tool is marked side-effecting or its name is denied."""
    denied = _denylist(deny)
    bad: list[str] = []
    for tool in tools:
        name = getattr(tool, "name", None) or getattr(tool, "__name__", repr(tool))
        func = getattr(tool, "func", tool)
        if (
            getattr(tool, "side_effecting", False)
            or getattr(func, "side_effecting", False)
            or name in denied
        ):
            bad.append(str(name))
    if bad:
        raise UsageError(
            f"side-effecting tools are not allowed in parallel/voting branches{where}: "
            + ", ".join(sorted(bad))
        )


class Step(BaseModel):
    """A unit of work as the dependency check sees it (state keys may use * patterns)."""

    name: str
    depends_on: list[str] = Field(default_factory=list, description="Steps that must run first.")
    reads: list[str] = Field(default_factory=list, description="State keys read.")
    writes: list[str] = Field(default_factory=list, description="State keys written.")


def _overlap(a: Iterable[str], b: Iterable[str]) -> list[str]:
    hits = []
    for x in a:
        for y in b:
            if x == y or fnmatch.fnmatchcase(x, y) or fnmatch.fnmatchcase(y, x):
                hits.append(x if "*" not in x else y)
    return sorted(set(hits))


def check_independent(steps: Sequence[Step]) -> None:
    """Refuse (UsageError naming the steps) to run dependent steps in parallel.

    Dependent = an explicit `depends_on` between them, one reads a key the other writes,
    or both write the same key (the last writer would silently win).
    """
    problems: list[str] = []
    names = [s.name for s in steps]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        problems.append("duplicate step names " + ", ".join(dupes))
    for i, a in enumerate(steps):
        for b in steps[i + 1 :]:
            if b.name in a.depends_on or a.name in b.depends_on:
                first, then = (b, a) if b.name in a.depends_on else (a, b)
                problems.append(f"{then.name!r} depends on {first.name!r}")
            for reader, writer in ((a, b), (b, a)):
                if keys := _overlap(reader.reads, writer.writes):
                    problems.append(
                        f"{reader.name!r} reads {', '.join(keys)} written by {writer.name!r}"
                    )
            if keys := _overlap(a.writes, b.writes):
                problems.append(f"{a.name!r} and {b.name!r} both write {', '.join(keys)}")
    if problems:
        raise UsageError("cannot run these steps in parallel: " + "; ".join(problems))
