"""The contract review agent: split -> clause_checks (fan-out) -> risk_vote (fan-out) -> aggregate.

    agent = build_agent()                      # offline unless Gemini credentials exist
    # run it via the coordinator (routing) or `coordinator.parallel.review.run_review("contract",
    # text)`

Offline, the clause-check "model" runs the rulebook's cues and rule judge on its section,
and the three judges are the rule, similarity and keyword judges of clauses.py, each
behind its own OfflineLlm. With Gemini the same stages send the prompts in `prompt.py` and
parse the same JSON. No stage has tools, so nothing here can have side effects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.adk.agents import BaseAgent, SequentialAgent
from google.adk.models.base_llm import BaseLlm

from coordinator import FanOutAgent, OfflineLlm, Settings, get_settings, resolve_model

from .judges import JudgePanel, default_rulebook, panel_for
from .policy import clause_check_policy, judge_policy
from .prompt import JUDGE_PROMPTS
from .report import ReviewReport
from .rulebook import Rulebook
from .splitter import DEFAULT_MAX_CHARS
from .stages import (
    CLAUSE_PREFIX,
    REPORT_KEY,
    VOTE_PREFIX,
    AggregateAgent,
    JudgeModel,
    SplitAgent,
    clause_planner,
    vote_planner,
)

__all__ = ["DESCRIPTION", "NAME", "REPORT_KEY", "REPORT_TYPE", "build_agent"]

NAME = "contract_review"
DESCRIPTION = (
    "Contract review: splits a contract into sections, checks each against the clause "
    "rulebook in parallel, has three judges vote on high-risk clauses, and reports findings, "
    "contradictions and anything it could not review."
)
REPORT_TYPE = ReviewReport


def _progress(on_progress: Callable[[str, int, int], Any] | None, stage: str):
    if on_progress is None:
        return None
    return lambda done, total, _result: on_progress(stage, done, total)


def _start_judges(panel: JudgePanel | None):
    if panel is None:
        return None

    def start(callback_context) -> None:
        panel.start()  # idempotent: the first review of the process builds, others reuse
        return None

    return start


def build_agent(
    settings: Settings | None = None,
    *,
    rulebook: Rulebook | None = None,
    clause_model: BaseLlm | None = None,
    judge_models: Sequence[JudgeModel] | None = None,
    exclude_exemplars: Iterable[str] = (),
    on_progress: Callable[[str, int, int], Any] | None = None,
    max_section_chars: int = DEFAULT_MAX_CHARS,
) -> BaseAgent:
    """The `contract_review` SequentialAgent.

    `clause_model` / `judge_models` replace the models (tests, other providers);
    `exclude_exemplars` keeps CUAD contracts (file stems) out of the similarity judge's
    exemplars (held-out measurement); `on_progress(stage, done, total)` sees every branch.
    """
    s = settings or get_settings()
    rulebook = rulebook or default_rulebook()
    panel = None
    if clause_model is None or judge_models is None:
        panel = panel_for(rulebook, exclude_exemplars)
    if clause_model is None:
        clause_model = resolve_model(
            "strong",
            name="contract_review.clause_check",
            policy=clause_check_policy(rulebook, panel.rule_judge if panel else None),
            settings=s,
        )
    if judge_models is None:
        assert panel is not None
        judge_models = []
        for i, (judge_name, (system, temperature)) in enumerate(JUDGE_PROMPTS.items()):

            def get(i: int = i):  # the panel's i-th judge: rules, similarity, keywords
                return panel.get()[i]

            judge_models.append(
                JudgeModel(
                    name=judge_name,
                    model=resolve_model(
                        "cheap",
                        name=f"contract_review.judge_{judge_name}",
                        policy=judge_policy(get),
                        settings=s,
                    ),
                    system=system,
                    temperature=temperature,
                )
            )
    offline = isinstance(clause_model, OfflineLlm)
    offline_judges = all(isinstance(j.model, OfflineLlm) for j in judge_models)
    wait_for = panel if offline_judges else None
    return SequentialAgent(
        name=NAME,
        description=DESCRIPTION,
        # The judges are built (or loaded from their disk cache, ~0.5 s of CPU) when a
        # review starts, on a background thread while the document is split and checked;
        # not at construction, where every `coordinator ask` would pay for them.
        before_agent_callback=_start_judges(wait_for),
        sub_agents=[
            SplitAgent(name="split", max_chars=max_section_chars),
            FanOutAgent(
                name="clause_checks",
                plan=clause_planner(clause_model, rulebook),
                state_prefix=CLAUSE_PREFIX,
                on_progress=_progress(on_progress, "clause_checks"),
                max_llm_calls_cap=s.max_llm_calls_cap,
                summary=False,
            ),
            FanOutAgent(
                name="risk_vote",
                plan=vote_planner(judge_models, rulebook, wait_for),
                state_prefix=VOTE_PREFIX,
                on_progress=_progress(on_progress, "risk_vote"),
                max_llm_calls_cap=s.max_llm_calls_cap,
                summary=False,
            ),
            AggregateAgent(name="aggregate", offline=offline and offline_judges, rulebook=rulebook),
        ],
    )
