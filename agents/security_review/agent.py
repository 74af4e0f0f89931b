"""The security review agent: a fan-out of N voters -> a vote aggregator.

    agent = build_agent(voters=5)

Each voter is a model call (a branch of a `FanOutAgent`, state key
``security_review:vote:<voter>``): offline, an `OfflineLlm` running one of the voters in
`voters.py`; with Gemini, the same model with a different angle and temperature per voter.
The aggregator decides by majority; a tie goes to ``vulnerable`` (the safer label), failed
voters abstain and are listed. No tools anywhere: a review never changes anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from google.adk.agents import BaseAgent, SequentialAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import types
from pydantic import BaseModel, Field, ValidationError

from coordinator import (
    PROGRESS_KEY,
    Branch,
    FanOutAgent,
    Metered,
    ModelError,
    OfflineLlm,
    Settings,
    Usage,
    Vote,
    VoteAggregator,
    VoteConfig,
    branch_request,
    from_state,
    get_settings,
    resolve_model,
    response_text,
    split_request,
    state_event,
    text_response,
    timed_call,
    user_text,
)

from .prompt import VOTER_ANGLES, VOTER_PROMPT
from .report import SecurityReport, VoterFailure, VoterResult
from .rules import SecurityRules, load_security_rules
from .voters import VOTER_SPECS, VoterVote, build_voters

__all__ = ["NAME", "REPORT_KEY", "REPORT_TYPE", "VOTE_PREFIX", "build_agent", "code_message"]

NAME = "security_review"
REPORT_KEY = "security_review:report"
VOTE_PREFIX = "security_review:vote"
REPORT_TYPE = SecurityReport
VOTE_CONFIG = VoteConfig(strategy="majority", risk_order=["vulnerable", "safe"])
_START_KEY = "temp:security_review:t0"
_END = "\n<<<END CODE>>>"


def code_message(code: str) -> str:
    """The user message of a voter request: the code, delimited and length-prefixed."""
    return f"<<<CODE chars={len(code)}>>>\n{code}{_END}"


def _code_of(message: str) -> str:
    head, _, rest = message.partition("\n")
    try:
        n = int(head.removeprefix("<<<CODE chars=").removesuffix(">>>"))
    except ValueError:
        raise ModelError("voter request carries no <<<CODE ...>>> header") from None
    return rest[:n]


def _user_text(ctx: InvocationContext) -> str:
    return user_text(ctx.user_content, raw=True)


def voter_policy(voter: Callable[[str], VoterVote]) -> Callable[[LlmRequest], LlmResponse]:
    """An offline voter behind the voter protocol."""

    def policy(req: LlmRequest) -> LlmResponse:
        message = "".join(
            p.text for c in req.contents if c.role == "user" for p in c.parts or [] if p.text
        )
        return text_response(voter(_code_of(message)).model_dump_json())

    return policy


def parse_vote(reply: str) -> VoterVote:
    """A voter's JSON reply; `ModelError` if it is unusable."""
    body = reply.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
    try:
        data = json.loads(body)
        if isinstance(data, dict) and isinstance(data.get("label"), str):
            data["label"] = data["label"].strip().lower()
        vote = VoterVote.model_validate(data)
    except (json.JSONDecodeError, ValidationError) as exc:
        raise ModelError(f"voter reply is not the expected JSON: {str(exc)[:120]}") from None
    if vote.label not in ("vulnerable", "safe"):
        raise ModelError(f"voter label {vote.label!r} is not vulnerable/safe")
    return vote


class VoterModel(BaseModel):
    """One voter: a model plus its angle and temperature."""

    model_config = {"arbitrary_types_allowed": True}

    name: str
    model: BaseLlm
    system: str = ""
    temperature: float = Field(0.0, ge=0)


def voter_planner(voters: list[VoterModel]):
    def plan(ctx: InvocationContext) -> list[Branch]:
        _, code = split_request(_user_text(ctx))
        branches = []
        for v in voters:
            config = types.GenerateContentConfig(
                temperature=v.temperature, response_mime_type="application/json"
            )

            async def ask(v: VoterModel = v, config=config) -> Metered:
                request = branch_request(
                    code_message(code), system_instruction=v.system, config=config
                )
                response, ms = await timed_call(v.model, request)
                vote = parse_vote(response_text(response))
                usage = Usage.from_response(response, latency_ms=ms, model=v.model.model)
                return Metered(value=vote.model_dump(), usage=usage)

            branches.append(Branch(id=v.name, call=ask))
        return branches

    return plan


class _Start(BaseAgent):
    """Records the start time and the snippet size (for the report)."""

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        _, code = split_request(_user_text(ctx))
        yield state_event(
            ctx,
            self.name,
            {
                _START_KEY: {"t0": time.time(), "chars": len(code)},
                PROGRESS_KEY: {"done": 0, "total": 1, "stage": "voters"},
            },
        )


class VoteAggregatorAgent(BaseAgent):
    """Majority of the voters; ties and silence go to `vulnerable`."""

    offline: bool = True
    n_voters: int = 3

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        state = ctx.session.state
        outputs, failed = from_state(state, VOTE_PREFIX)
        results = [
            VoterResult(voter=name, **VoterVote.model_validate(v).model_dump())
            for name, v in outputs
        ]
        outcome = VoteAggregator(VOTE_CONFIG).decide(
            [Vote(label=r.label, confidence=r.confidence, judge=r.voter) for r in results],
            n_judges=self.n_voters,
        )
        meta = state.get(f"{VOTE_PREFIX}:_meta") or {}
        usage = Usage.model_validate(meta.get("usage") or {})
        start = state.get(_START_KEY) or {}
        split = {"vulnerable": 0, "safe": 0}
        for r in results:
            split[r.label] += 1
        report = SecurityReport(
            decision=outcome.label,  # type: ignore[arg-type]
            decided_by=outcome.decided_by,
            strategy=outcome.strategy,
            vote_split=split,
            votes=results,
            failed_voters=[VoterFailure(voter=f.branch_id, reason=f.reason) for f in failed],
            voters=self.n_voters,
            chars=int(start.get("chars", 0)),
            llm_calls=usage.llm_calls,
            tokens=usage.tokens,
            offline=self.offline,
            latency_ms=round((time.time() - float(start.get("t0", time.time()))) * 1000, 2),
            critical_path_ms=round(usage.critical_path_ms, 2),
        )
        yield state_event(
            ctx,
            self.name,
            {
                REPORT_KEY: report.model_dump(mode="json"),
                PROGRESS_KEY: {"done": 1, "total": 1, "stage": "aggregate"},
            },
            text=render(report),
        )


def render(report: SecurityReport) -> str:
    """The human-readable verdict."""
    mode = "offline voters" if report.offline else "Gemini voters"
    split = ", ".join(f"{n} {label}" for label, n in report.vote_split.items())
    tie = " (tie -> the safer label)" if report.decided_by.startswith("tie") else ""
    lines = [f"Security review ({mode}): {report.decision.upper()}{tie}. Votes: {split}."]
    for v in report.votes:
        lines.append(f"- {v.voter}: {v.label} ({v.confidence:.2f})")
        lines += [f"    {r}" for r in v.reasons[:5]]
    for f in report.failed_voters:
        lines.append(f"- {f.voter}: FAILED, abstained ({f.reason})")
    return "\n".join(lines)


def build_agent(
    settings: Settings | None = None,
    *,
    voters: int = 3,
    rules: SecurityRules | None = None,
    voter_models: list[VoterModel] | None = None,
    on_progress: Callable[[str, int, int], Any] | None = None,
    **_: Any,
) -> BaseAgent:
    """The `security_review` SequentialAgent with `voters` voters (1..6)."""
    s = settings or get_settings()
    if voter_models is None:
        rules = rules or load_security_rules()
        voter_models = []
        for spec, voter in zip(VOTER_SPECS, build_voters(rules, voters), strict=False):
            angle, temperature = VOTER_ANGLES[spec.kind]
            voter_models.append(
                VoterModel(
                    name=spec.name,
                    model=resolve_model(
                        "strong",
                        name=f"security_review.{spec.name}",
                        policy=voter_policy(voter),
                        settings=s,
                    ),
                    system=VOTER_PROMPT.format(angle=angle),
                    temperature=temperature,
                )
            )
    progress = None
    if on_progress is not None:
        progress = lambda done, total, _r: on_progress("voters", done, total)  # noqa: E731
    return SequentialAgent(
        name=NAME,
        description="Security review: N independent voters judge whether code is vulnerable.",
        sub_agents=[
            _Start(name="intake"),
            FanOutAgent(
                name="voters",
                plan=voter_planner(voter_models),
                state_prefix=VOTE_PREFIX,
                on_progress=progress,
                summary=False,
            ),
            VoteAggregatorAgent(
                name="vote",
                offline=all(isinstance(v.model, OfflineLlm) for v in voter_models),
                n_voters=len(voter_models),
            ),
        ],
    )
