"""The four stages of the contract review: split, clause checks, risk vote, aggregate.

State written (branch keys are distinct by construction: one per section / finding):

- ``temp:contract_review:sections``  the split (in-invocation only: never persisted)
- ``contract_review:clause:s<i>``     checked findings of section i (one key per branch)
- ``contract_review:clause:_meta``    order, failed branches, usage of the clause fan-out
- ``contract_review:vote:s<i>-f<k>``  the vote on high-risk finding k of section i
- ``contract_review:vote:_meta``      same for the vote fan-out
- ``contract_review:report``          the `ReviewReport`
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from google.adk.agents.base_agent import BaseAgent
from google.adk.agents.invocation_context import InvocationContext
from google.adk.events import Event
from google.adk.models.base_llm import BaseLlm
from google.genai import types
from pydantic import Field

from coordinator import (
    PROGRESS_KEY,
    Branch,
    FailedBranch,
    Judge,
    Metered,
    ModelError,
    Usage,
    Vote,
    VoteAggregator,
    VoteConfig,
    branch_request,
    call_with_retries,
    from_state,
    get_settings,
    response_text,
    split_request,
    state_event,
    timed_call,
    user_text,
    vote_all,
)

from .clauses import SimilarityJudge
from .contradictions import find_contradictions
from .judges import JudgePanel
from .presence import PresenceResult, presence
from .prompt import CLAUSE_CHECK_PROMPT
from .protocol import (
    CheckedFinding,
    judge_message,
    parse_findings,
    parse_judge_reply,
    section_message,
)
from .render import render_report
from .report import (
    FindingVote,
    PresenceEvidence,
    ReviewFailure,
    ReviewFinding,
    ReviewReport,
    ReviewUsage,
)
from .rulebook import Rulebook
from .splitter import DEFAULT_MAX_CHARS, Section, split_document

__all__ = [
    "CLAUSE_PREFIX",
    "REPORT_KEY",
    "SECTIONS_KEY",
    "TIMING_KEY",
    "VOTE_PREFIX",
    "AggregateAgent",
    "AggregateOutput",
    "JudgeModel",
    "SplitAgent",
    "aggregate",
    "clause_planner",
    "vote_planner",
]

SECTIONS_KEY = "temp:contract_review:sections"
TIMING_KEY = "temp:contract_review:timing"
CLAUSE_PREFIX = "contract_review:clause"
VOTE_PREFIX = "contract_review:vote"
REPORT_KEY = "contract_review:report"
SKIPPED_KEY = "contract_review:sections_not_reviewed"

VOTE_CONFIG = VoteConfig(strategy="unanimity", risk_order=["present", "absent"])
"""High-risk findings must be judged unanimously; any disagreement (or a judge failing)
keeps the flag (`present` is the safer label: a human looks at it).

All three judges are asked (`vote_all`), not lazily: with `present` as the safer label the
LABEL is settled by the first `present` vote, but whether the flag is *confirmed* (3/3) or
*escalated* (split) needs every vote, and the split is what the reviewer reads."""

ProgressFn = Callable[[str, int, int], Any]


def _event(ctx: InvocationContext, author: str, delta: dict[str, Any], text: str | None = None):
    return state_event(ctx, author, delta, text=text or None)  # "" says nothing


def _user_text(ctx: InvocationContext) -> str:
    return user_text(ctx.user_content, raw=True)


class SplitAgent(BaseAgent):
    """Splits the document (the user's message minus a short request line) into sections."""

    max_chars: int = Field(DEFAULT_MAX_CHARS, ge=50, description="Longest section.")

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        t0 = time.perf_counter()
        _, document = split_request(_user_text(ctx))
        sections = split_document(document, max_chars=self.max_chars) if document.strip() else []
        split_ms = (time.perf_counter() - t0) * 1000
        cap = get_settings().max_sections
        note = None
        if len(sections) > cap:  # bound the fan-out: review the first `cap`, and say so
            note = (
                f"This document has {len(sections)} sections; only the first {cap} were "
                f"reviewed (COORDINATOR_MAX_SECTIONS). Send the rest separately."
            )
            sections = sections[:cap]
        yield _event(
            ctx,
            self.name,
            {
                SECTIONS_KEY: [s.model_dump() for s in sections],
                TIMING_KEY: {
                    "t0": time.time() - split_ms / 1000,
                    "split_ms": split_ms,
                    "chars": len(document),
                },
                PROGRESS_KEY: {"done": 0, "total": len(sections), "stage": "clause_checks"},
                **({SKIPPED_KEY: note} if note else {}),
            },
            text=note,
        )


def _sections(ctx: InvocationContext) -> list[Section]:
    return [Section.model_validate(s) for s in ctx.session.state.get(SECTIONS_KEY, [])]


def _rulebook_text(rulebook: Rulebook) -> str:
    return "\n".join(f"- {r.name} ({r.risk} risk): {r.description}" for r in rulebook.categories)


def clause_planner(model: BaseLlm, rulebook: Rulebook) -> Callable[[InvocationContext], list]:
    """One branch per section: the model checks it against the rulebook; replies are parsed
    and verified inside the branch, so an unusable reply is that branch's failure."""
    system = CLAUSE_CHECK_PROMPT.format(rulebook=_rulebook_text(rulebook))
    config = types.GenerateContentConfig(temperature=0.0, response_mime_type="application/json")

    def plan(ctx: InvocationContext) -> list[Branch]:
        branches = []
        for section in _sections(ctx):

            async def check(section: Section = section) -> Metered:
                request = branch_request(
                    section_message(section), system_instruction=system, config=config
                )
                response, ms = await timed_call(model, request)
                findings = parse_findings(response_text(response), section, rulebook)
                return Metered(
                    value=[f.model_dump() for f in findings],
                    usage=Usage.from_response(response, latency_ms=ms, model=model.model),
                )

            branches.append(Branch(id=f"s{section.index}", call=check, calls_per_attempt=1))
        return branches

    return plan


@dataclass(frozen=True)
class JudgeModel:
    """One of the three judges: a model plus its own prompt and temperature."""

    name: str
    model: BaseLlm
    system: str
    temperature: float


@dataclass
class _Question:
    finding: CheckedFinding
    definition: str
    usage: list[Usage] = field(default_factory=list)


def _vote_judge(jm: JudgeModel) -> Judge:
    config = types.GenerateContentConfig(
        temperature=jm.temperature, response_mime_type="application/json"
    )

    async def ask(q: _Question) -> Vote:
        request = branch_request(
            judge_message(q.finding.category, q.definition, q.finding.text),
            system_instruction=jm.system,
            config=config,
        )
        # A judge that hits a 429/503 is retried (else it would abstain and turn a
        # unanimous vote into an escalation); every attempt is counted in q.usage.
        response = await call_with_retries(jm.model, request, usage=q.usage)
        reply = parse_judge_reply(response_text(response))
        return Vote(label=reply.label, confidence=reply.confidence, reason=reply.reason)

    return Judge(name=jm.name, ask=ask)


def vote_planner(
    judges: Sequence[JudgeModel], rulebook: Rulebook, panel: JudgePanel | None
) -> Callable[[InvocationContext], Any]:
    """One branch per high-risk finding: 3 judges vote, unanimity or the safer label."""
    vote_judges = [_vote_judge(j) for j in judges]
    aggregator = VoteAggregator(VOTE_CONFIG)

    async def plan(ctx: InvocationContext) -> list[Branch]:
        outputs, _ = from_state(ctx.session.state, CLAUSE_PREFIX)
        high = [
            CheckedFinding.model_validate(f)
            for _, found in outputs
            for f in found or []
            if f.get("risk") == "high"
        ]
        panel_error: BaseException | None = None
        if panel is not None and high:  # offline judges: wait for the background build
            try:
                built = await anyio.to_thread.run_sync(panel.get)
                for judge in built:
                    if isinstance(judge, SimilarityJudge):
                        judge.prime(f.text for f in high)  # one embedding batch
            except Exception as exc:  # every vote fails with this reason; review goes on
                panel_error = exc
        branches = []
        per_section: dict[int, int] = {}
        for f in high:
            k = per_section[f.section] = per_section.get(f.section, -1) + 1

            async def vote(f: CheckedFinding = f) -> Metered:
                if panel_error is not None:
                    raise ModelError(f"judges unavailable: {panel_error}")
                q = _Question(finding=f, definition=rulebook.get(f.category).description)
                outcome = await vote_all(vote_judges, q, aggregator)
                usage = Usage.merge(q.usage)  # the judges are asked concurrently
                return Metered(value=outcome.model_dump(mode="json"), usage=usage)

            # (failed judges abstain inside vote_all, so the branch itself rarely fails)

            branches.append(Branch(id=f"s{f.section}-f{k}", call=vote, metadata={"finding": f}))
        return branches

    return plan


def _decision(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "unvoted"
    how = outcome.get("decided_by")
    if how == "winner":
        return "confirmed" if outcome.get("label") == "present" else "dismissed"
    if how == "no-votes->safer":
        return "unvoted"
    return "escalated"


_FOUND = ("present", "confirmed", "escalated")


def _usage(state: dict[str, Any], prefix: str) -> Usage:
    meta = state.get(f"{prefix}:_meta") or {}
    return Usage.model_validate(meta.get("usage") or {})


class AggregateAgent(BaseAgent):
    """Merges findings and votes, finds contradictions, lists what is missing, answers."""

    offline: bool = Field(True, description="True when the offline models answered.")
    rulebook: Any = Field(None, description="The rulebook (for the presence model).")
    use_presence_model: bool = Field(
        True,
        description="Offline, decide the CUAD presence categories with the document-level "
        "presence model (presence.py; micro-F1 0.744 on 93 held-out CUAD contracts, "
        "0.811 on the 10 shipped ones). "
        "Extraction categories still come from the findings.",
    )

    async def _presence(self, sections: dict[int, Section]) -> dict[str, PresenceResult]:
        if not (self.offline and self.use_presence_model and sections):
            return {}
        ordered = [sections[i] for i in sorted(sections)]
        return await anyio.to_thread.run_sync(presence, ordered, self.rulebook)

    async def _run_async_impl(self, ctx: InvocationContext) -> AsyncGenerator[Event, None]:
        t0 = time.perf_counter()
        sections = {s.index: s for s in _sections(ctx)}
        judged = await self._presence(sections)
        out = aggregate(
            ctx.session.state,
            sections,
            judged,
            offline=self.offline,
            rulebook=self.rulebook,
            aggregate_ms=(time.perf_counter() - t0) * 1000,
            now=time.time(),
        )
        yield _event(ctx, self.name, out.delta, text=out.text)


@dataclass(frozen=True)
class AggregateOutput:
    """What the aggregate stage emits: the report, its state delta and the reply text."""

    report: ReviewReport
    delta: dict[str, Any]
    text: str


def aggregate(
    state: Mapping[str, Any],
    sections: Mapping[int, Section],
    judged: Mapping[str, PresenceResult],
    *,
    offline: bool,
    rulebook: Rulebook | None,
    aggregate_ms: float,
    now: float,
) -> AggregateOutput:
    """The aggregate stage as a pure function of its inputs (no clock, no I/O, no context).

    ``state``: the session state the earlier stages wrote; ``sections``: the split, by index;
    ``judged``: the presence model's answers (empty when it did not run); ``aggregate_ms``:
    time this stage took before calling here; ``now``: wall-clock seconds (for the latency).
    """
    timing = state.get(TIMING_KEY) or {}
    failures: list[ReviewFailure] = []
    clause_out: list[tuple[str, Any]] = []
    if sections:
        clause_out, failed = from_state(state, CLAUSE_PREFIX)
        failures += [_failure(f, CLAUSE_PREFIX, "clause_checks") for f in failed]
    votes: dict[str, dict[str, Any]] = {}
    if f"{VOTE_PREFIX}:_meta" in state:
        vote_out, vfailed = from_state(state, VOTE_PREFIX)
        votes = dict(vote_out)
        failures += [_failure(f, VOTE_PREFIX, "risk_vote") for f in vfailed]

    findings = _merged_findings(clause_out, votes, sections)
    clause_usage = _usage(state, CLAUSE_PREFIX)
    vote_usage = _usage(state, VOTE_PREFIX)
    total = clause_usage + vote_usage
    split_ms = float(timing.get("split_ms", 0.0))
    clause_wall = float((state.get(f"{CLAUSE_PREFIX}:_meta") or {}).get("wall_ms", 0.0))
    vote_wall = float((state.get(f"{VOTE_PREFIX}:_meta") or {}).get("wall_ms", 0.0))
    found = _categories_found(findings, judged)
    findings = _rows(findings, found, judged, sections, rulebook)
    report = ReviewReport(
        sections=len(sections),
        chars=int(timing.get("chars", 0)),
        findings=findings,
        categories_found=found,
        presence={
            c: PresenceEvidence(
                probability=round(r.probability, 3),
                section=r.evidence_section,
                text=r.evidence_text,
            )
            for c, r in judged.items()
            if r.present
        },
        high_risk=sorted({f.category for f in findings if f.retained and f.risk == "high"}),
        contradictions=find_contradictions(findings),
        failed_branches=failures,
        usage=ReviewUsage(
            llm_calls=total.llm_calls,
            tokens=total.tokens,
            prompt_tokens=total.prompt_tokens,
            completion_tokens=total.completion_tokens,
            offline=offline,
        ),
        latency_ms=round((now - float(timing.get("t0", now))) * 1000, 2),
        critical_path_ms=round(
            split_ms + clause_usage.critical_path_ms + vote_usage.critical_path_ms + aggregate_ms,
            2,
        ),
        stages_ms={
            "split": round(split_ms, 2),
            "clause_checks": round(clause_wall, 2),
            "risk_vote": round(vote_wall, 2),
            "aggregate": round(aggregate_ms, 2),
        },
    )
    delta = {
        REPORT_KEY: report.to_state(),
        PROGRESS_KEY: {"done": 1, "total": 1, "stage": "aggregate"},
    }
    return AggregateOutput(report=report, delta=delta, text=render_report(report, "markdown"))


def _merged_findings(
    clause_out: Sequence[tuple[str, Any]],
    votes: Mapping[str, dict[str, Any]],
    sections: Mapping[int, Section],
) -> list[ReviewFinding]:
    """Every checked finding with the vote on it (high-risk ones), in document order."""
    findings: list[ReviewFinding] = []
    for _, found in clause_out:
        per_section = -1
        for raw in found or []:
            f = CheckedFinding.model_validate(raw)
            outcome: dict[str, Any] | None = None
            if f.risk == "high":
                per_section += 1
                outcome = votes.get(f"s{f.section}-f{per_section}")
            decision = _decision(outcome) if f.risk == "high" else "present"
            fvotes = [
                FindingVote(
                    judge=v["judge"],
                    label=v["label"],
                    confidence=v["confidence"],
                    reason=v.get("reason", ""),
                )
                for v in (outcome or {}).get("votes", [])
            ]
            split: dict[str, int] = {}
            for v in fvotes:
                split[v.label] = split.get(v.label, 0) + 1
            sec = sections.get(f.section)
            findings.append(
                ReviewFinding(
                    category=f.category,
                    section=f.section,
                    section_title=sec.title if sec else None,
                    text=f.text,
                    start=f.start,
                    end=f.end,
                    risk=f.risk,
                    reason=f.reason,
                    votes=fvotes,
                    decision=decision,  # type: ignore[arg-type]
                    vote_split=split,
                )
            )
    findings.sort(key=lambda f: (f.start, f.category))
    return findings


def _failure(f: FailedBranch, prefix: str, stage: str) -> ReviewFailure:
    return ReviewFailure(branch=f"{prefix}:{f.branch_id}", stage=stage, reason=f.reason)  # type: ignore[arg-type]


def _categories_found(
    findings: list[ReviewFinding], judged: Mapping[str, PresenceResult]
) -> list[str]:
    """Presence categories from the document model, the others from the findings; a finding
    the judges confirmed or kept flagged (escalated, unvoted) always counts, one they dismissed
    vetoes its category unless another finding of it stands."""
    from_findings = {f.category for f in findings if f.decision in _FOUND}
    flagged = {f.category for f in findings if f.decision in ("confirmed", "escalated", "unvoted")}
    dismissed = {f.category for f in findings if f.decision == "dismissed"} - from_findings
    if not judged:
        return sorted(from_findings | flagged)
    by_model = {c for c, r in judged.items() if r.present} - dismissed
    return sorted(by_model | {c for c in from_findings if c not in judged} | flagged)


def _rows(
    findings: list[ReviewFinding],
    found: list[str],
    judged: Mapping[str, PresenceResult],
    sections: Mapping[int, Section],
    rulebook: Rulebook | None,
) -> list[ReviewFinding]:
    """Mark which findings are rows, and give every found category without one a row from
    the presence model's best sentence, so the rows and `categories_found` agree."""
    keep = set(found)
    out = [
        f.model_copy(update={"retained": f.category in keep and f.decision != "dismissed"})
        for f in findings
    ]
    have = {f.category for f in out if f.retained}
    for c in sorted(keep - have):
        r = judged.get(c)
        sec = sections.get(r.evidence_section) if r and r.evidence_section is not None else None
        text = (r.evidence_text or "") if r else ""
        at = sec.text.find(text) if sec and text else -1
        start = sec.start + max(at, 0) if sec else 0
        risk = "medium"
        if rulebook is not None and c in rulebook.names:
            risk = rulebook.get(c).risk
        out.append(
            ReviewFinding(
                category=c,
                section=sec.index if sec else 0,
                section_title=sec.title if sec else None,
                text=text or "(no single sentence; judged from the whole document)",
                start=start,
                end=start + len(text),
                risk=risk,
                reason=f"document presence model: P(present)={r.probability:.2f}"
                if r
                else "found by the clause checks",
                decision="present",
                source="presence_model",
            )
        )
    out.sort(key=lambda f: (f.start, f.category))
    return out
