"""The fan-out as ADK data: our engine as a custom agent, or a plain ADK ParallelAgent.

- `FanOutAgent`: branches (static or planned per request) run by `fan_out()`; results land
  in `<prefix>:<branch_id>` plus `<prefix>:_meta` in ONE final event, so N=1000 costs one
  event, not thousands.
- `build_parallel_agent(branches)`: a plain ADK `ParallelAgent` of `LlmAgent`s, one
  `output_key` per branch; run it with `run_config_for(n)` so ADK's call limit fits.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any

import anyio
from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.agents.run_config import RunConfig
from google.adk.events import Event
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from coordinator.errors import UsageError
from coordinator.events import state_event
from coordinator.inputs.content import user_text
from coordinator.parallel.branches import Branch, plan_llm_calls
from coordinator.parallel.fanout_engine import DEFAULT_LLM_CALLS_CAP, fan_out_outcome
from coordinator.parallel.isolated import assert_tree_has_no_side_effects, run_alone
from coordinator.parallel.safety import assert_no_side_effects

__all__ = [
    "META_SUFFIX",
    "AgentBranch",
    "FanOutAgent",
    "Planner",
    "build_parallel_agent",
    "run_config_for",
]

META_SUFFIX = "_meta"
"""`<prefix>:_meta` holds order, failed branches and usage of a FanOutAgent run."""


def _jsonable(value: Any) -> Any:
    if type(value) is str:  # the common case (model text), first
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


Planner = Callable[[InvocationContext], Sequence[Branch] | Awaitable[Sequence[Branch]]]


class FanOutAgent(BaseAgent):
    """Runs a fan-out inside an ADK agent tree and writes results in ONE final event.

    Branches are static (`branches`), planned per request by `plan(ctx)` (e.g. from the
    sections a previous agent wrote to state), or made of your own agent: `split` cuts the
    turn's text (or `state[input_key]`) into pieces and `worker` answers each piece alone,
    in a private session; `merge` joins the answers (None for a piece that failed) into
    `state[output_key]` and the event's text::

        summarise = FanOutAgent(
            name="sections", worker=summariser, split=lambda text: text.split("\n\n"),
            merge=lambda answers: "\n".join(a or "(missing)" for a in answers),
            max_concurrency=4, retries=1, output_key="summary",
        )

    A worker (or any agent below it) with a side-effecting tool is refused at construction.
    State written: `<prefix>:<branch_id>` = output of each successful branch, and
    `<prefix>:_meta` = {"order", "failed_branches", "usage", "wall_ms", "planned_llm_calls"}.
    """

    branches: list[Branch] = Field(default_factory=list)
    plan: Any = Field(None, description="Planner `(ctx) -> branches` (sync or async).")
    state_prefix: str | None = Field(None, description="State key prefix (default: name).")
    max_concurrency: int | None = Field(None, ge=1)
    branch_timeout_s: float | None = Field(None, gt=0)
    retries: int | None = Field(None, ge=0)
    max_llm_calls_cap: int = Field(DEFAULT_LLM_CALLS_CAP, ge=1)
    on_progress: Any = Field(None, description="Progress callback `(done, total, result)`.")
    summary: bool = Field(True, description="Put a one-line outcome in the event's content.")
    worker: BaseAgent | None = Field(None, description="Your agent, run once per piece.")
    split: Any = Field(None, description="`(text) -> pieces` for the worker (default: one).")
    merge: Any = Field(None, description="`(answers) -> text`; None marks a failed piece.")
    input_key: str | None = Field(None, description="Split this state value, not the turn.")
    output_key: str | None = Field(None, description="State key of the merged answer.")
    # default_factory: a plain function as `default` would be bound as a method by pydantic
    _sleep: Any = PrivateAttr(default_factory=lambda: anyio.sleep)

    @model_validator(mode="before")
    @classmethod
    def _worker_is_a_sub_agent(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("worker") is not None:
            worker = data["worker"]
            assert_tree_has_no_side_effects([worker], role="fan-out worker")
            if not data.get("sub_agents"):  # so ADK (and adk web's graph) sees the tree
                data = {**data, "sub_agents": [worker]}
        return data

    @property
    def prefix(self) -> str:
        return self.state_prefix or self.name

    def _pieces(self, ctx: InvocationContext) -> list[str]:
        if self.input_key is not None:
            text = str(ctx.session.state.get(self.input_key) or "")
        else:
            text = user_text(ctx.user_content)
        pieces = self.split(text) if self.split is not None else [text]
        return [p for p in (str(x).strip() for x in pieces) if p]

    async def _plan(self, ctx: InvocationContext) -> list[Branch]:
        if self.worker is not None:
            return [
                Branch(id=f"part{i}", call=functools.partial(run_alone, self.worker, ctx, piece),
                       calls_per_attempt=1)
                for i, piece in enumerate(self._pieces(ctx), 1)
            ]
        if self.plan is None:
            return list(self.branches)
        planned = self.plan(ctx)
        if inspect.isawaitable(planned):
            planned = await planned
        return list(planned)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        branches = await self._plan(ctx)
        # the outcome, not a FanOutResult: state gets plain values, so no BranchResult
        # (two pydantic models) per branch is built on the wake path and freed after
        outcome = await fan_out_outcome(
            branches,
            limit=self.max_concurrency,
            timeout=self.branch_timeout_s,
            retries=self.retries,
            on_progress=self.on_progress,
            max_llm_calls_cap=self.max_llm_calls_cap,
            sleep=self._sleep,
        )
        prefix = self.prefix
        outputs = outcome.outputs()
        delta: dict[str, Any] = {  # model text needs no conversion: no call for it
            f"{prefix}:{branch_id}": out if type(out) is str else _jsonable(out)
            for branch_id, out in outputs.items()
        }
        failed = outcome.failed_branches
        delta[f"{prefix}:{META_SUFFIX}"] = {
            "order": outcome.branch_ids,
            "failed_branches": [f.model_dump() for f in failed],
            "usage": outcome.usage().model_dump(mode="json"),
            "wall_ms": round(outcome.wall_ms, 3),
            "planned_llm_calls": outcome.planned_llm_calls,
        }
        text = None
        if self.worker is not None:
            answers = [outputs.get(b.id) for b in branches]
            text = self.merge(answers) if self.merge is not None else _join(answers)
            if self.output_key:
                delta[self.output_key] = text
        elif self.summary:
            text = f"{len(branches) - len(failed)}/{len(branches)} branches completed"
            if failed:
                text += "; missing: " + ", ".join(f.branch_id for f in failed[:20])
                text += " ..." if len(failed) > 20 else ""
        yield state_event(ctx, self.name, delta, text=text)


def _join(answers: list[Any]) -> str:
    """The default merge: the answers in order, a failed piece said to be missing."""
    return "\n\n".join(
        str(a) if a is not None else f"(part {i} could not be answered)"
        for i, a in enumerate(answers, 1)
    )


class AgentBranch(BaseModel):
    """One branch of a plain ADK ParallelAgent: an LlmAgent with its own output_key."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: str = Field(description="Unique; becomes the output_key suffix.")
    model: Any = Field(description="BaseLlm or model name for the branch's LlmAgent.")
    instruction: str = Field("", description="The branch's instruction.")
    tools: list[Any] = Field(default_factory=list, description="Side-effect-free tools only.")


def _identifier(text: str) -> str:
    ident = re.sub(r"\W", "_", text)
    return ident if ident and not ident[0].isdigit() else f"b_{ident}"


def build_parallel_agent(
    branches: Sequence[AgentBranch], *, name: str = "fan_out", state_prefix: str | None = None
) -> BaseAgent:
    """A plain ADK ParallelAgent of LlmAgents writing `<prefix>:<id>` (output_key per branch).

    Run it with `run_config_for(len(branches))` so ADK's call limit fits the fan-out.
    """
    # deferred: LlmAgent/ParallelAgent load only for this plain-ADK path, not for `ask`
    from google.adk.agents import LlmAgent, ParallelAgent

    prefix = state_prefix or name
    ids = [b.id for b in branches]
    if len(set(ids)) != len(ids):
        raise UsageError("duplicate branch ids (output keys would collide)")
    agents = []
    for b in branches:
        assert_no_side_effects(b.tools, where=f" ({b.id})")
        agents.append(
            LlmAgent(
                name=_identifier(f"{name}_{b.id}"),
                model=b.model,
                instruction=b.instruction,
                tools=list(b.tools),
                output_key=f"{prefix}:{b.id}",
                disallow_transfer_to_parent=True,
                disallow_transfer_to_peers=True,
            )
        )
    return ParallelAgent(name=name, sub_agents=agents)


def run_config_for(
    n_branches: int, *, retries: int = 0, extra_calls: int = 0, **kwargs: Any
) -> RunConfig:
    """A RunConfig whose max_llm_calls fits the fan-out instead of ADK's default 500."""
    return RunConfig(max_llm_calls=plan_llm_calls(n_branches, retries) + extra_calls, **kwargs)
