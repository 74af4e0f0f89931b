"""Parallel fan-out: run N independent branches at once, survive the ones that fail.

One package, one job a module:

- `retry`: what is worth retrying (408/429/5xx, timeouts), backoff honouring retry-after,
  and a single model call made with those rules (`call_with_retries`);
- `branches`: what a fan-out is made of (`Branch`, `BranchResult`, `FanOutResult`, ...);
- `safety`: the side-effect contract (`side_effecting`, `assert_no_side_effects`, the
  per-branch mark) and `check_independent`;
- `engine`: `fan_out()`, concurrency limit, deadlines, call budget, partial failure;
- `agent`: the same as ADK data (`FanOutAgent`, `build_parallel_agent`, `run_config_for`).

Example::

    result = await fan_out([Branch(id=s.id, model=llm, request=req_for(s)) for s in sections],
                           limit=16, timeout=30, retries=2)
    result.outputs          # {"s1": "...", ...} for the branches that succeeded
    result.failed_branches  # [FailedBranch(branch_id="s7", reason="TimeoutError: ...")]

    # N branches on one request: each adds its instruction to its own copy, in its task
    shared = branch_request(user_content)
    await fan_out([Branch(id=s.id, model=llm, request=shared, instruction=s.task) for s in ...])
"""

from __future__ import annotations

from coordinator.models.retry import (
    RETRYABLE_STATUS,
    RetryPolicy,
    call_model,
    call_with_retries,
    is_retryable,
    retry_after_s,
    timed_call,
)
from coordinator.parallel.branches import (
    Branch,
    BranchResult,
    FailedBranch,
    FanOutResult,
    Metered,
    branch_request,
    plan_llm_calls,
    response_text,
    specialized_request,
)
from coordinator.parallel.fanout_agent import (
    META_SUFFIX,
    AgentBranch,
    FanOutAgent,
    Planner,
    build_parallel_agent,
    run_config_for,
)
from coordinator.parallel.fanout_engine import DEFAULT_LLM_CALLS_CAP, ProgressCallback, fan_out
from coordinator.parallel.safety import (
    PARALLEL_REFUSAL,
    Step,
    assert_no_side_effects,
    check_independent,
    in_parallel_branch,
    parallel_branch,
    side_effecting,
)

__all__ = [
    "DEFAULT_LLM_CALLS_CAP",
    "META_SUFFIX",
    "PARALLEL_REFUSAL",
    "RETRYABLE_STATUS",
    "AgentBranch",
    "Branch",
    "BranchResult",
    "FailedBranch",
    "FanOutAgent",
    "FanOutResult",
    "Metered",
    "Planner",
    "ProgressCallback",
    "RetryPolicy",
    "Step",
    "assert_no_side_effects",
    "branch_request",
    "build_parallel_agent",
    "call_model",
    "call_with_retries",
    "check_independent",
    "fan_out",
    "in_parallel_branch",
    "is_retryable",
    "parallel_branch",
    "plan_llm_calls",
    "response_text",
    "retry_after_s",
    "run_config_for",
    "side_effecting",
    "specialized_request",
    "timed_call",
]
