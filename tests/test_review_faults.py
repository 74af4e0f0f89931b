"""Fault injection on the review path: the contract review's branch models fail (30% mixed,
or all of them) on a real CUAD contract, through `run_review`, the CLI and the coordinator.

Seams (no agent code is edited):

- the branch models: `agents.contract_review.agent.resolve_model` is wrapped so every model
  the review builds (clause check + 3 judges) is a seeded `FaultyLlm` around the real
  offline model. (`inject_faults(root)` cannot reach them: they are not `LlmAgent`s, they
  live in the planners' closures.)
- the backoff: `coordinator.parallel.fanout.fan_out` is wrapped to record the waits instead of
  sleeping and to keep each stage's `FanOutResult` (attempts per branch are not persisted
  in state). (`FanOutAgent._sleep` is the backoff seam of the agent form.)
- the per-branch timeout: `COORDINATOR_BRANCH_TIMEOUT=0.5`, so a hung call costs 0.5 s.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import pytest

import agents.contract_review.agent as contract_agent
import coordinator.parallel.fanout as fanout
import coordinator.parallel.fanout_agent as fanout_agent
from agents.contract_review.cuad import CUAD_DIR
from agents.contract_review.judges import default_rulebook, panel_for
from agents.contract_review.stages import CLAUSE_PREFIX, REPORT_KEY
from coordinator.models.faults import FaultKind, FaultyLlm
from coordinator.parallel.review import run_review
from coordinator.settings import get_settings, reset_settings

pytestmark = pytest.mark.anyio

# 63 sections, Governing Law in CUAD's gold labels, ~23 high-risk clauses to vote on.
CONTRACT = next((CUAD_DIR / "contracts").glob("IGENEBIOTECHNOLOGY*.txt")).read_text()
MIXED: tuple[FaultKind, ...] = ("exception", "rate_limit", "unavailable", "timeout")
RETRY_AFTER_S = 1.5
BRANCH_TIMEOUT_S = 0.5
SEED = 1


@dataclass
class FanOutLog:
    """What the fan-outs did: each stage's result, and the backoff waits they asked for."""

    results: list[fanout.FanOutResult] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)

    def branches(self) -> dict[str, fanout.BranchResult]:
        return {r.branch_id: r for result in self.results for r in result.results}


@pytest.fixture(scope="module")
def _judges_built():
    """Build the offline judges once, before any deadline runs.

    With wrapped models `build_agent` no longer sees OfflineLlm judges, so it neither starts
    the background build nor waits for it; the first judge call would build them inside a
    branch (seconds, on the event loop).
    """
    panel_for(default_rulebook()).get()


@pytest.fixture
def fanout_log(monkeypatch, _judges_built) -> FanOutLog:
    monkeypatch.setenv("COORDINATOR_BRANCH_TIMEOUT", str(BRANCH_TIMEOUT_S))
    reset_settings()
    log = FanOutLog()
    real = fanout_agent.fan_out_outcome

    async def record_wait(seconds: float) -> None:
        log.waits.append(seconds)

    async def recorded(*args: Any, sleep: Any = None, **kwargs: Any) -> Any:
        outcome = await real(*args, sleep=record_wait, **kwargs)
        log.results.append(outcome.result())
        return outcome

    monkeypatch.setattr(fanout_agent, "fan_out_outcome", recorded)
    return log


@pytest.fixture
def faulty_models(monkeypatch):
    """`make(**faults)` -> {model name: FaultyLlm}, filled as the review builds its models."""
    real = contract_agent.resolve_model

    def make(**faults: Any) -> dict[str, FaultyLlm]:
        made: dict[str, FaultyLlm] = {}

        def resolve(role, *, name, policy, settings=None):
            inner = real(role, name=name, policy=policy, settings=settings)
            made[name] = FaultyLlm(
                inner=inner,
                seed=faults.get("seed", 0) * 100 + len(made),
                **{k: v for k, v in faults.items() if k != "seed"},
            )
            return made[name]

        monkeypatch.setattr(contract_agent, "resolve_model", resolve)
        return made

    return make


def _found(report) -> set[tuple[str, int, str]]:
    """What the clause-check branches found. Rows the document presence model adds for a
    category no branch found are left out: that model runs only with the offline models
    (not behind the fault-injecting wrapper), so the faulty run never has them."""
    return {(f.category, f.section, f.text) for f in report.findings if f.source == "clause_check"}


# --- 30% of branch calls fail, mixed kinds ----------------------------------------------------


async def test_thirty_percent_branch_failure_on_a_cuad_contract(fanout_log, faulty_models):
    baseline = (await run_review("contract", CONTRACT)).report
    fanout_log.results.clear()
    models = faulty_models(rate=0.3, seed=SEED, kinds=MIXED, hang_s=30, retry_after_s=RETRY_AFTER_S)
    run = await run_review("contract", CONTRACT)
    report = run.report

    # The report arrives, for the whole document, and says what it could not review.
    assert report.sections == baseline.sections > 50
    assert report.failed_branches, "seed 1 makes some branches fail for good"
    branches = fanout_log.branches()
    for failure in report.failed_branches:
        branch_id = failure.branch.rpartition(":")[2]
        assert failure.reason == branches[branch_id].error and not branches[branch_id].ok
        assert failure.reason.split(":")[0] in (
            "RuntimeError",
            "ClientError",
            "ServerError",
            "TimeoutError",
        )
        assert f"{failure.branch}: {failure.reason}" in run.text  # shown to the reader
        assert failure.branch not in run.state_keys
    assert "NOT REVIEWED" in run.text

    # Retries: crashes end a branch at once; transient faults are retried up to the budget,
    # 429/503 after exactly the retry-after the server asked for; some branches recovered.
    retries = get_settings().branch_retries
    failed = [b for b in branches.values() if not b.ok]
    for b in failed:  # a crash is never retried; a transient fault always is
        if b.error.startswith("RuntimeError"):
            assert b.attempts <= 1 + retries
        else:
            assert b.attempts == 1 + retries, b
    assert any(b.attempts == 1 and b.error.startswith("RuntimeError") for b in failed)
    recovered = [b for b in branches.values() if b.ok and b.attempts > 1]
    assert len(recovered) >= 5
    assert fanout_log.waits.count(RETRY_AFTER_S) >= 5
    kinds = collections.Counter(f.kind for m in models.values() for f in m.injected)
    assert set(kinds) == set(MIXED)

    # What was reviewed is exactly what a fault-free run finds in those sections.
    failed_sections = {
        int(f.branch.rsplit(":s", 1)[1])
        for f in report.failed_branches
        if f.stage == "clause_checks"
    }
    assert _found(report) == {t for t in _found(baseline) if t[1] not in failed_sections}
    assert "Governing Law" in report.categories_found
    assert {"Governing Law", "Parties", "Agreement Date"} <= set(report.categories_found)

    # A judge that failed abstains; fewer than 3 votes is never a confirmation.
    for f in report.findings:
        if f.risk == "high" and len(f.votes) < 3:
            assert f.decision in ("escalated", "unvoted"), f


async def test_transient_faults_recover_when_the_backoff_is_recorded(fanout_log, faulty_models):
    """The same faults, with the backoff seam, recover."""
    faulty_models(rate=0.3, seed=SEED, kinds=("unavailable",), retry_after_s=0)
    run = await run_review("contract", CONTRACT)
    assert any(b.ok and b.attempts > 1 for b in fanout_log.branches().values())
    assert "Governing Law" in run.report.categories_found


async def test_a_retry_inside_a_review_does_not_crash_it(faulty_models, _judges_built):
    faulty_models(rate=0.3, seed=SEED, kinds=("unavailable",), retry_after_s=0)
    run = await run_review("contract", CONTRACT)  # real backoff (0 s): no seam at all
    assert "Governing Law" in run.report.categories_found


# --- the review's model is down ---------------------------------------------------------------


async def test_model_down_every_branch_is_listed_as_failed(fanout_log, faulty_models):
    models = faulty_models(rate=1.0, kinds=("unavailable",), retry_after_s=RETRY_AFTER_S)
    run = await run_review("contract", CONTRACT)
    report = run.report
    clause = [f for f in report.failed_branches if f.stage == "clause_checks"]
    assert len(clause) == report.sections > 50  # every section, none silently dropped
    assert all(f.reason.startswith("ServerError: 503 UNAVAILABLE") for f in clause)
    assert report.findings == [] and report.categories_found == []
    assert not [k for k in run.state_keys if k.startswith(CLAUSE_PREFIX + ":s")]
    retries = get_settings().branch_retries
    assert models["contract_review.clause_check"].calls == report.sections * (1 + retries)
    assert all(m.calls == 0 for n, m in models.items() if "judge" in n)  # nothing to vote on
    assert "NOT REVIEWED" in run.text and "Traceback" not in run.text


async def test_model_down_in_chat_keeps_history_and_answers(fanout_log, faulty_models):
    from coordinator.api import Coordinator

    faulty_models(rate=1.0, kinds=("unavailable",))
    c = Coordinator(warm_up=False)  # the root builds contract_review with the wrapped models
    text = "Please review this contract:\n" + CONTRACT[:40_000]
    reply = await c.ask_async(text, user_id="alice", session_id="down")
    assert reply.route == "contract_review"
    assert "NOT REVIEWED" in reply.text and "503" in reply.text and "Traceback" not in reply.text
    session = await c.session_service.get_session(
        app_name=c.app_name, user_id="alice", session_id="down"
    )
    authors = [e.author for e in session.events]
    # user, transfer call + response, then the four stages, each once.
    assert authors == [
        "user",
        "coordinator",
        "coordinator",
        "split",
        "clause_checks",
        "risk_vote",
        "aggregate",
    ]
    assert len({e.id for e in session.events}) == len(session.events)
    report = session.state[REPORT_KEY]
    assert len(report["failed_branches"]) == report["sections"] > 5


async def test_model_down_headline_says_nothing_was_reviewed(fanout_log, faulty_models):
    faulty_models(rate=1.0, kinds=("unavailable",))
    run = await run_review("contract", CONTRACT)
    headline = run.text.splitlines()[0].lower()
    assert "0 clause categories found" not in headline
    assert "not review" in headline or "could not" in headline


async def test_usage_counts_the_failed_calls_too(fanout_log, faulty_models):
    models = faulty_models(rate=1.0, kinds=("unavailable",))
    run = await run_review("contract", CONTRACT)
    assert run.report.usage.llm_calls == sum(m.calls for m in models.values()) > 0
