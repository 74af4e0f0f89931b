"""ADK evaluation of the ADK apps: the evalsets beside each app pass, offline.

Each `adk_web/<app>/*.evalset.json` is run through ADK's own `AgentEvaluator` with the
criteria in the `test_config.json` next to it (exact tool trajectory, including the
cascade's `transfer_to_agent` call, plus ROUGE-1 response match). Both criteria are
computed locally; none needs an LLM judge or the network. The same files work with
`adk eval adk_web/support adk_web/support/support.evalset.json`.

The review apps (`contract_review`, `security_review`) are pipelines of custom agents that
write state and one final report and call no tools. ADK reads an invocation's trajectory
from the function calls in its events, so their expected trajectory is empty and EXACT
matching only fails if a review starts calling tools. What they decide is in the report
text, so ROUGE-1 carries the decision there: their thresholds sit between a run's own
noise (the report's latency figure) and a report that differs by one verdict, and the
tests below check both sides.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from coordinator.inputs.request_split import split_request
from tests._servers import ADK_WEB_DIR, REPO_ROOT

pytest.importorskip(
    "google.adk.evaluation.metric_evaluator_registry",
    reason='ADK evaluation needs its extra: pip install "google-adk[eval]"',
    exc_type=ImportError,
)
from google.adk.agents import BaseAgent, LlmAgent
from google.adk.evaluation.agent_evaluator import AgentEvaluator
from google.adk.evaluation.eval_case import Invocation
from google.adk.evaluation.eval_config import EvalConfig, get_eval_metrics_from_config
from google.adk.evaluation.eval_set import EvalSet
from google.adk.evaluation.evaluator import EvalStatus
from google.adk.evaluation.final_response_match_v1 import RougeEvaluator
from google.genai import types

# Judge-free criteria only: anything else would call a model over the network.
LOCAL_CRITERIA = {"tool_trajectory_avg_score", "response_match_score"}

EVALSETS = sorted(ADK_WEB_DIR.glob("*/*.evalset.json"))


def _app_of(path: Path) -> str:
    return path.parent.name


def _first_tool_call(invocation) -> tuple[str, dict]:
    call = invocation.intermediate_data.tool_uses[0]
    return call.name, dict(call.args or {})


def _routes_by_transfer(app: str) -> bool:
    """The support coordinator transfers to specialists; the review apps run a pipeline."""
    module = importlib.import_module(f"adk_web.{app}.agent")
    return isinstance(module.root_agent, LlmAgent)


def _tools_anywhere(agent: BaseAgent) -> list[str]:
    own = [str(getattr(t, "name", t)) for t in getattr(agent, "tools", None) or []]
    return own + [name for sub in agent.sub_agents for name in _tools_anywhere(sub)]


def _text(content) -> str:
    return "".join(p.text or "" for p in content.parts or [])


def _cases(app: str) -> dict[str, dict]:
    path = ADK_WEB_DIR / app / f"{app}.evalset.json"
    return {c["eval_id"]: c for c in json.loads(path.read_text())["eval_cases"]}


def _final_text(case: dict) -> str:
    return case["conversation"][0]["final_response"]["parts"][0]["text"]


def _set_final_text(case: dict, text: str) -> None:
    case["conversation"][0]["final_response"]["parts"][0]["text"] = text


async def _evaluate_only(app: str, case: dict, tmp_path: Path) -> None:
    """Run `AgentEvaluator` on one (mutated) case with the app's own test_config.json."""
    source = ADK_WEB_DIR / app / f"{app}.evalset.json"
    data = json.loads(source.read_text())
    data["eval_cases"] = [case]
    broken = tmp_path / "broken.evalset.json"
    broken.write_text(json.dumps(data))
    (tmp_path / "test_config.json").write_text((source.parent / "test_config.json").read_text())
    await AgentEvaluator.evaluate(
        agent_module=f"adk_web.{app}",
        eval_dataset_file_path_or_dir=str(broken),
        num_runs=1,
        print_detailed_results=False,
    )


@pytest.mark.parametrize("evalset", EVALSETS, ids=lambda p: f"{_app_of(p)}/{p.name}")
def test_evalset_is_well_formed(evalset: Path) -> None:
    """Schema-valid, judge-free config, an expected answer, and the trajectory the app allows.

    Support cases start by routing to a real agent; review pipeline cases expect no calls.
    """
    eval_set = EvalSet.model_validate_json(evalset.read_text())
    config = EvalConfig.model_validate_json((evalset.parent / "test_config.json").read_text())
    assert set(config.criteria) <= LOCAL_CRITERIA, set(config.criteria) - LOCAL_CRITERIA
    assert "tool_trajectory_avg_score" in config.criteria
    ids = [case.eval_id for case in eval_set.eval_cases]
    assert len(ids) == len(set(ids)), "duplicate eval ids"
    routed = _routes_by_transfer(_app_of(evalset))
    for case in eval_set.eval_cases:
        assert case.session_input is not None
        assert case.session_input.app_name == _app_of(evalset)
        for invocation in case.conversation or []:
            assert invocation.final_response and _text(invocation.final_response), case.eval_id
            if not routed:  # a review pipeline: no tools, so nothing to expect but none
                assert invocation.intermediate_data.tool_uses == [], case.eval_id
                continue
            name, args = _first_tool_call(invocation)
            assert name == "transfer_to_agent", case.eval_id
            assert args["agent_name"] in case.eval_id, (case.eval_id, args)


@pytest.mark.parametrize("app", ["contract_review", "security_review"])
def test_review_apps_have_no_tools(app: str) -> None:
    """Why an empty expected trajectory is right: no stage of a review pipeline has a tool."""
    module = importlib.import_module(f"adk_web.{app}.agent")
    assert not _routes_by_transfer(app)
    assert _tools_anywhere(module.root_agent) == []
    assert len(module.root_agent.sub_agents) >= 3  # the stages are really there


def test_contract_cases_quote_cuad() -> None:
    """Every contract the evalsets send is real CUAD text (whitespace collapsed)."""
    contracts = [
        " ".join(p.read_text(encoding="utf-8").split())
        for p in sorted(
            (REPO_ROOT / "agents" / "contract_review" / "data" / "cuad" / "contracts").glob("*.txt")
        )
    ]
    sent = list(_cases("contract_review").values()) + [
        case for eid, case in _cases("support").items() if eid.startswith("contract_review")
    ]
    assert len(sent) >= 3
    for case in sent:
        message = case["conversation"][0]["user_content"]["parts"][0]["text"]
        request, document = split_request(message)
        assert request, "the first line is the request, the rest the contract"
        document = " ".join(document.split())
        assert len(document) < 2_000, "short enough for a chat message"
        assert any(document in contract for contract in contracts), case["eval_id"]


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


# A verdict line of the contract report and the same line with the other verdict.
_VERDICTS = {
    "ESCALATED (2 absent, 1 present)": "CONFIRMED (3 present)",
    "CONFIRMED (3 present)": "ESCALATED (2 absent, 1 present)",
}


def _flip_verdicts(report: str, count: int = 1) -> str:
    pattern = re.compile("|".join(re.escape(v) for v in _VERDICTS))
    flipped = pattern.sub(lambda m: _VERDICTS[m.group(0)], report, count=count)
    assert flipped != report, "the report has no high-risk verdict to flip"
    return flipped


def _flip_decision(report: str) -> str:
    head, sep, rest = report.partition(". Votes:")
    for label, other in (("VULNERABLE", "SAFE"), ("SAFE", "VULNERABLE")):
        if head.endswith(label):
            return head.removesuffix(label) + other + sep + rest
    raise AssertionError(f"no decision in {head!r}")


def _rouge_status(app: str, expected: str, actual: str) -> tuple[float, EvalStatus]:
    """ADK's ROUGE-1 evaluator with the threshold from the app's test_config.json."""
    config = EvalConfig.model_validate_json((ADK_WEB_DIR / app / "test_config.json").read_text())
    metric = next(
        m for m in get_eval_metrics_from_config(config) if m.metric_name == "response_match_score"
    )

    def invocation(text: str) -> Invocation:
        return Invocation(
            user_content=types.Content(role="user", parts=[types.Part(text="q")]),
            final_response=types.Content(role="model", parts=[types.Part(text=text)]),
        )

    result = RougeEvaluator(metric).evaluate_invocations(
        [invocation(actual)], [invocation(expected)]
    )
    return result.overall_score, result.overall_eval_status


@pytest.mark.parametrize("eval_id", sorted(_cases("contract_review")))
def test_contract_threshold_passes_run_noise_and_fails_one_flipped_verdict(eval_id: str) -> None:
    """The latency figure differs every run; one high-risk verdict must not."""
    expected = _final_text(_cases("contract_review")[eval_id])
    assert re.search(r" \d+ ms\.$", expected)
    slower = re.sub(r" \d+ ms\.$", " 987654 ms.", expected)
    score, status = _rouge_status("contract_review", expected, slower)
    assert status == EvalStatus.PASSED, score
    score, status = _rouge_status("contract_review", expected, _flip_verdicts(slower))
    assert status == EvalStatus.FAILED, score


@pytest.mark.parametrize("eval_id", sorted(_cases("security_review")))
def test_security_threshold_fails_a_flipped_decision(eval_id: str) -> None:
    """Same votes, other headline (a broken tie rule would do that): below the threshold."""
    expected = _final_text(_cases("security_review")[eval_id])
    assert _rouge_status("security_review", expected, expected)[1] == EvalStatus.PASSED
    score, status = _rouge_status("security_review", expected, _flip_decision(expected))
    assert status == EvalStatus.FAILED, score


@pytest.mark.anyio
async def test_evaluator_fails_a_wrong_security_decision(tmp_path: Path) -> None:
    """End to end: the SQL injection case expecting the parameterised query's SAFE report fails."""
    cases = _cases("security_review")
    case = cases["sql_injection_vulnerable"]
    _set_final_text(case, _final_text(cases["parameterised_query_safe"]))
    with pytest.raises(AssertionError, match="response_match_score") as failed:
        await _evaluate_only("security_review", case, tmp_path)
    assert "tool_trajectory_avg_score" not in str(failed.value)  # no tools, still exact


@pytest.mark.anyio
async def test_evaluator_fails_a_wrong_contract_verdict(tmp_path: Path) -> None:
    """End to end: the non-compete CONFIRMED by all three judges, expected as ESCALATED, fails."""
    case = _cases("contract_review")["non_compete"]
    _set_final_text(case, _flip_verdicts(_final_text(case)))
    with pytest.raises(AssertionError, match="response_match_score"):
        await _evaluate_only("contract_review", case, tmp_path)


@pytest.mark.anyio
async def test_evaluator_fails_a_review_sent_to_the_other_reviewer(tmp_path: Path) -> None:
    """The support case for a code snippet, expecting contract_review, fails the trajectory."""
    case = _cases("support")["security_review_sql_injection"]
    call = case["conversation"][0]["intermediate_data"]["tool_uses"][0]
    call["args"]["agent_name"] = "contract_review"
    with pytest.raises(AssertionError, match="tool_trajectory_avg_score"):
        await _evaluate_only("support", case, tmp_path)
