"""Merging branch outputs: concatenation, structured merge, synthesis, tree reduce.

Every merge says what is missing: branches that failed (or never wrote their key) are
listed in `Aggregate.missing`, so a partial answer is never mistaken for a whole one.

Inputs are "outputs in branch order" (`Outputs`): a list of ``(branch_id, value)`` pairs,
which `from_fanout(result)` and `from_state(state, prefix)` build from a `FanOutResult`
or from the state a `FanOutAgent` wrote.

Example::

    outputs, missing = from_state(ctx.session.state, "clauses")
    agg = structured_merge(outputs, missing=missing, key="clause_id")
    agg.value, agg.contradictions, agg.missing
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

import anyio
from google.adk.models.base_llm import BaseLlm
from pydantic import BaseModel, Field

from coordinator.errors import UsageError
from coordinator.parallel.fanout import (
    META_SUFFIX,
    FailedBranch,
    FanOutResult,
    branch_request,
    call_model,
    response_text,
)

__all__ = [
    "Aggregate",
    "Contradiction",
    "Outputs",
    "TreeReduceResult",
    "concatenate",
    "from_fanout",
    "from_state",
    "structured_merge",
    "synthesize",
    "tree_reduce",
]

T = TypeVar("T")
Outputs = list[tuple[str, Any]]


class Contradiction(BaseModel):
    """Same key, different values across branches."""

    key: str = Field(description="The field or finding key that disagrees.")
    values: dict[str, Any] = Field(description="branch_id -> the value that branch gave.")


class Aggregate(BaseModel):
    """A merged result, with what disagreed and what is missing."""

    value: Any = Field(description="The merged output.")
    sources: list[str] = Field(description="Branch ids that contributed, in order.")
    missing: list[FailedBranch] = Field(default_factory=list, description="Branches absent.")
    contradictions: list[Contradiction] = Field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.missing


def from_fanout(result: FanOutResult) -> tuple[Outputs, list[FailedBranch]]:
    """(outputs in branch order, failed branches) of a fan-out."""
    return [(r.branch_id, r.output) for r in result.results if r.ok], result.failed_branches


def from_state(state: Mapping[str, Any], prefix: str) -> tuple[Outputs, list[FailedBranch]]:
    """Read what a FanOutAgent wrote: `<prefix>:<id>` keys in the recorded order."""
    meta = state.get(f"{prefix}:{META_SUFFIX}")
    if not isinstance(meta, Mapping):
        raise UsageError(f"no fan-out results under state prefix {prefix!r}")
    failed = [FailedBranch.model_validate(f) for f in meta.get("failed_branches", [])]
    failed_ids = {f.branch_id for f in failed}
    outputs: Outputs = []
    for branch_id in meta.get("order", []):
        key = f"{prefix}:{branch_id}"
        if key in state:
            outputs.append((branch_id, state[key]))
        elif branch_id not in failed_ids:
            failed.append(FailedBranch(branch_id=branch_id, reason="no output in state"))
    return outputs, failed


def concatenate(
    outputs: Outputs, *, missing: Sequence[FailedBranch] = (), sep: str = "\n\n"
) -> Aggregate:
    """Join text outputs in branch order."""
    return Aggregate(
        value=sep.join(str(v) for _, v in outputs),
        sources=[b for b, _ in outputs],
        missing=list(missing),
    )


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def structured_merge(
    outputs: Outputs,
    *,
    missing: Sequence[FailedBranch] = (),
    key: str | Callable[[Any], Hashable] | None = None,
) -> Aggregate:
    """Merge dicts (field by field) or lists of findings (deduplicated), branch order kept.

    Dict outputs: a field given different values by two branches is a contradiction; the
    first branch's value is kept. List outputs: identical findings are kept once; with
    `key` (a field name or function), findings sharing a key but differing are
    contradictions (first kept).
    """
    kinds = {type(v) for _, v in outputs if v is not None}
    if kinds <= {dict}:
        merged: dict[str, Any] = {}
        seen: dict[str, dict[str, Any]] = {}
        for branch_id, value in outputs:
            for field, field_value in (value or {}).items():
                seen.setdefault(field, {})[branch_id] = field_value
                merged.setdefault(field, field_value)
        contradictions = [
            Contradiction(key=field, values=by_branch)
            for field, by_branch in seen.items()
            if len({_canonical(v) for v in by_branch.values()}) > 1
        ]
        return Aggregate(
            value=merged,
            sources=[b for b, _ in outputs],
            missing=list(missing),
            contradictions=contradictions,
        )
    if kinds <= {list}:
        keyfn: Callable[[Any], Hashable] | None
        if isinstance(key, str):
            field_name = key

            def keyfn(item: Any) -> Hashable:
                return item.get(field_name) if isinstance(item, Mapping) else _canonical(item)
        else:
            keyfn = key
        items: list[Any] = []
        by_key: dict[Hashable, dict[str, Any]] = {}
        seen_items: set[str] = set()
        for branch_id, value in outputs:
            for item in value or []:
                canon = _canonical(item)
                if canon in seen_items:  # the same finding from another branch
                    continue
                seen_items.add(canon)
                variants = by_key.setdefault(keyfn(item) if keyfn else canon, {})
                if not variants:
                    items.append(item)
                variants.setdefault(branch_id, item)
        contradictions = [
            Contradiction(key=str(k), values=v) for k, v in by_key.items() if len(v) > 1
        ]
        return Aggregate(
            value=items,
            sources=[b for b, _ in outputs],
            missing=list(missing),
            contradictions=contradictions,
        )
    raise UsageError(
        "structured_merge needs all outputs to be dicts or all lists, got "
        + ", ".join(sorted(t.__name__ for t in kinds))
    )


async def synthesize(
    outputs: Outputs,
    synthesizer: Callable[[Outputs, list[FailedBranch]], Any] | Any,
    *,
    missing: Sequence[FailedBranch] = (),
    instruction: str = "Merge these partial results into one answer. Say what is missing.",
) -> Aggregate:
    """Hand outputs (+ what is missing) to a callable (sync/async) or a BaseLlm to merge."""
    if isinstance(synthesizer, BaseLlm):
        lines = [f"[{b}] {v}" for b, v in outputs]
        lines += [f"[{m.branch_id}] MISSING: {m.reason}" for m in missing]
        response = await call_model(
            synthesizer, branch_request("\n\n".join(lines), system_instruction=instruction)
        )
        value: Any = response_text(response)
    else:
        value = synthesizer(list(outputs), list(missing))
        if inspect.isawaitable(value):
            value = await value
    return Aggregate(value=value, sources=[b for b, _ in outputs], missing=list(missing))


class TreeReduceResult(BaseModel):
    """The reduced value and the shape of the tree that produced it."""

    value: Any
    levels: int = Field(description="Reduction levels (0 when there was one item).")
    reducer_calls: int = Field(description="Times the reducer ran.")


async def tree_reduce(
    items: Sequence[T],
    reducer: Callable[[list[T]], T | Awaitable[T]],
    *,
    fan_in: int = 8,
    limit: int | None = None,
) -> TreeReduceResult:
    """Reduce in groups of `fan_in`, level by level, groups of a level concurrently.

    Order is kept (group i covers items before group i+1), so any associative reducer
    gives the same value as reducing the flat list; a model-based reducer sees at most
    `fan_in` inputs per call, which is what keeps large N within a context window.
    """
    if fan_in < 2:
        raise UsageError("tree_reduce needs fan_in >= 2")
    if not items:
        raise UsageError("tree_reduce needs at least one item")
    limiter = anyio.CapacityLimiter(limit or 64)
    level: list[Any] = list(items)
    levels = calls = 0
    while len(level) > 1:
        groups = [level[i : i + fan_in] for i in range(0, len(level), fan_in)]
        reduced: list[Any] = [None] * len(groups)

        async def run(i: int, group: list[Any], reduced: list[Any]) -> None:
            async with limiter:
                value = reducer(group)
                if inspect.isawaitable(value):
                    value = await value
            reduced[i] = value

        async with anyio.create_task_group() as tg:
            for i, group in enumerate(groups):
                tg.start_soon(run, i, group, reduced)
        calls += len(groups)
        levels += 1
        level = reduced
    return TreeReduceResult(value=level[0], levels=levels, reducer_calls=calls)
