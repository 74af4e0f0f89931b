"""ADK evaluation of the ADK apps: the evalsets beside each app pass, offline.

Each `adk_web/<app>/*.evalset.json` is run through ADK's own `AgentEvaluator` with the
criteria in the `test_config.json` next to it (exact tool trajectory, including the
cascade's `transfer_to_agent` call, plus ROUGE-1 response match). Both criteria are
computed locally; none needs an LLM judge or the network. The same files work with
`adk eval adk_web/support adk_web/support/support.evalset.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._servers import ADK_WEB_DIR

pytest.importorskip(
    "google.adk.evaluation.metric_evaluator_registry",
    reason='ADK evaluation needs its extra: pip install "google-adk[eval]"',
    exc_type=ImportError,
)
from google.adk.evaluation.agent_evaluator import AgentEvaluator
from google.adk.evaluation.eval_config import EvalConfig
from google.adk.evaluation.eval_set import EvalSet

# Judge-free criteria only: anything else would call a model over the network.
LOCAL_CRITERIA = {"tool_trajectory_avg_score", "response_match_score"}

EVALSETS = sorted(ADK_WEB_DIR.glob("*/*.evalset.json"))


def _app_of(path: Path) -> str:
    return path.parent.name


def _first_tool_call(invocation) -> tuple[str, dict]:
    call = invocation.intermediate_data.tool_uses[0]
    return call.name, dict(call.args or {})


@pytest.mark.parametrize("evalset", EVALSETS, ids=lambda p: f"{_app_of(p)}/{p.name}")
def test_evalset_is_well_formed(evalset: Path) -> None:
    """Schema-valid, judge-free config, and every case starts by routing to a real agent."""
    eval_set = EvalSet.model_validate_json(evalset.read_text())
    config = EvalConfig.model_validate_json((evalset.parent / "test_config.json").read_text())
    assert set(config.criteria) <= LOCAL_CRITERIA, set(config.criteria) - LOCAL_CRITERIA
    assert "tool_trajectory_avg_score" in config.criteria
    ids = [case.eval_id for case in eval_set.eval_cases]
    assert len(ids) == len(set(ids)), "duplicate eval ids"
    for case in eval_set.eval_cases:
        assert case.session_input is not None
        assert case.session_input.app_name == _app_of(evalset)
        for invocation in case.conversation or []:
            name, args = _first_tool_call(invocation)
            assert name == "transfer_to_agent", case.eval_id
            assert args["agent_name"] in case.eval_id, (case.eval_id, args)


def test_support_evalset_covers_every_route() -> None:
    """Each specialist the support app has is the target of at least one case."""
    from adk_web.support.agent import root_agent

    path = ADK_WEB_DIR / "support" / "support.evalset.json"
    cases = json.loads(path.read_text())["eval_cases"]
    routed = {
        call["args"]["agent_name"]
        for case in cases
        for inv in case["conversation"]
        for call in inv["intermediate_data"]["tool_uses"]
        if call["name"] == "transfer_to_agent"
    }
    missing = {agent.name for agent in root_agent.sub_agents} - routed
    assert not missing, f"add an eval case routed to {sorted(missing)} to {path}"


@pytest.mark.anyio
@pytest.mark.parametrize("evalset", EVALSETS, ids=lambda p: f"{_app_of(p)}/{p.name}")
async def test_evalset_passes(evalset: Path) -> None:
    """ADK's evaluator runs every case against the app's root_agent and asserts the criteria."""
    await AgentEvaluator.evaluate(
        agent_module=f"adk_web.{_app_of(evalset)}",
        eval_dataset_file_path_or_dir=str(evalset),
        num_runs=1,  # the offline models are deterministic: a second run adds nothing
        print_detailed_results=False,
    )


@pytest.mark.anyio
async def test_evaluator_fails_a_wrong_route(tmp_path: Path) -> None:
    """The criteria have teeth: a case expecting the wrong specialist fails the evaluation."""
    source = ADK_WEB_DIR / "support" / "support.evalset.json"
    data = json.loads(source.read_text())
    case = next(c for c in data["eval_cases"] if c["eval_id"] == "technical_support_app_crash")
    case["conversation"][0]["intermediate_data"]["tool_uses"][0]["args"]["agent_name"] = "billing"
    data["eval_cases"] = [case]
    broken = tmp_path / "broken.evalset.json"
    broken.write_text(json.dumps(data))
    (tmp_path / "test_config.json").write_text((source.parent / "test_config.json").read_text())
    with pytest.raises(AssertionError, match="tool_trajectory_avg_score"):
        await AgentEvaluator.evaluate(
            agent_module="adk_web.support",
            eval_dataset_file_path_or_dir=str(broken),
            num_runs=1,
            print_detailed_results=False,
        )
