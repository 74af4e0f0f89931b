"""Offline security voters that fail differently (so their votes carry information).

- `PatternVoter`   per-line rule patterns (injection, eval, pickle, shell=True, secrets, weak
                   hashes, verify=False, yaml.load ...); a severity score against a threshold.
                   Sees dangerous calls, not whether the data reaching them is attacker's.
- `TaintVoter`     follows user input (request.*, input(), sys.argv ...) through assignments
                   into sinks (SQL, shell, eval, files, templates), unless a sanitiser or a
                   parameterised call intervenes. Blind to secrets and weak crypto.
- `SimilarityVoter` WordLlama nearest labelled examples (tools/data/security_rules.yaml):
                   vulnerable when the k nearest vulnerable examples are closer than the
                   k nearest safe ones by `margin`. Robust to wording, blind to details.

Each is `voter(code) -> VoterVote`. The code is data: matched and embedded, never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from coordinator.errors import UsageError
from tools.security_rules import SecurityRules

__all__ = [
    "VOTER_SPECS",
    "PatternVoter",
    "SimilarityVoter",
    "TaintVoter",
    "Voter",
    "VoterVote",
    "build_voters",
]

_SEVERITY = {"low": 1, "medium": 2, "high": 3}


class VoterVote(BaseModel):
    """One voter's verdict on a snippet."""

    label: str = Field(description="vulnerable | safe")
    confidence: float = Field(ge=0, le=1)
    reasons: list[str] = Field(default_factory=list, description="Evidence, line by line.")


class PatternVoter:
    """Rule patterns per line; vulnerable when the summed severity reaches `threshold`."""

    def __init__(self, rules: SecurityRules, threshold: int = 2, name: str = "pattern") -> None:
        self.rules, self.threshold, self.name = rules, threshold, name

    def __call__(self, code: str) -> VoterVote:
        reasons: list[str] = []
        score = 0
        for rule in self.rules.rules:
            for n, line in enumerate(code.splitlines(), start=1):
                if any(rx.search(line) for rx in rule.pattern_res) and not any(
                    rx.search(line) for rx in rule.unless_res
                ):
                    reasons.append(
                        f"line {n}: {rule.id} ({rule.severity}, {rule.cwe}): {rule.title}"
                    )
                    score += _SEVERITY[rule.severity]
                    break  # one hit per rule is enough evidence
        if score >= self.threshold:
            conf = min(0.95, 0.6 + 0.1 * score)
            return VoterVote(label="vulnerable", confidence=conf, reasons=reasons)
        why = reasons or ["no rule pattern matches"]
        if reasons:
            why = [*reasons, f"severity score {score} below threshold {self.threshold}"]
        return VoterVote(label="safe", confidence=0.6 if reasons else 0.75, reasons=why)


_ASSIGN = re.compile(
    r"^\s*(?:(?:const|let|var)\s+)?([A-Za-z_$][\w$]*(?:\s*,\s*[A-Za-z_$][\w$]*)*)\s*(?::[^=]+)?=(?!=)\s*(.+)$"
)
_FOR = re.compile(r"^\s*for\s+([A-Za-z_]\w*)\s+in\s+(.+):")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+\w+\((.*?)\)")
_ROUTE = re.compile(r"^\s*@\w+\.(?:route|get|post|put|delete)\(")


class TaintVoter:
    """Does user input reach a dangerous sink without a sanitiser? (line-level dataflow)

    `params_untrusted=True` also treats the parameters of web handlers (functions under a
    route decorator) as user input: more cautious, more false alarms.
    """

    def __init__(
        self, rules: SecurityRules, params_untrusted: bool = False, name: str = "taint"
    ) -> None:
        self.rules, self.params_untrusted, self.name = rules, params_untrusted, name
        self._sources = [re.compile(p) for p in rules.taint.sources]
        self._sinks = [(s.name, re.compile(s.pattern)) for s in rules.taint.sinks]
        self._clean = [re.compile(p) for p in rules.taint.sanitizers]

    def _uses(self, text: str, tainted: dict[str, int]) -> str | None:
        if any(rx.search(text) for rx in self._sources):
            return "user input"
        for var in tainted:
            if re.search(rf"(?<![\w.$]){re.escape(var)}(?![\w$])", text):
                return var
        return None

    def __call__(self, code: str) -> VoterVote:
        tainted: dict[str, int] = {}  # variable -> line it became tainted
        flows: list[str] = []
        route_next = False
        for n, line in enumerate(code.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith(("#", "//")):
                continue
            if _ROUTE.match(line):
                route_next = True
                continue
            if (m := _DEF.match(line)) and route_next and self.params_untrusted:
                for param in re.findall(r"([A-Za-z_]\w*)\s*(?::[^,]+)?(?:,|$)", m.group(1)):
                    if param not in ("self", "cls"):
                        tainted.setdefault(param, n)
            route_next = False
            for name, sink in self._sinks:
                call = sink.search(line)
                if call is None:
                    continue
                args = line[call.end() :]
                via = self._uses(args, tainted)
                if via is None:
                    continue
                if any(rx.search(line) for rx in self._clean):
                    continue
                origin = f"`{via}` (tainted at line {tainted[via]})" if via in tainted else via
                flows.append(f"line {n}: {origin} reaches {name} sink `{call.group(0)}`")
                break
            m = _ASSIGN.match(line) or _FOR.match(line)
            if m:
                targets = [t.strip() for t in m.group(1).split(",")]
                value = m.group(2)
                if self._uses(value, tainted) and not any(rx.search(value) for rx in self._clean):
                    for t in targets:
                        tainted.setdefault(t, n)
                else:
                    for t in targets:  # reassigned from clean data: no longer tainted
                        tainted.pop(t, None)
        if flows:
            return VoterVote(label="vulnerable", confidence=0.85, reasons=flows)
        if tainted:
            names = ", ".join(sorted(tainted))
            return VoterVote(
                label="safe",
                confidence=0.65,
                reasons=[f"user input ({names}) never reaches a sink unsanitised"],
            )
        return VoterVote(
            label="safe", confidence=0.55, reasons=["no user input reaches a dangerous sink"]
        )


class SimilarityVoter:
    """k nearest labelled examples by WordLlama similarity, per line window and whole."""

    def __init__(
        self, rules: SecurityRules, k: int = 3, margin: float = 0.04, name: str = "similarity"
    ) -> None:
        from coordinator.encoder import get_encoder

        self.k, self.margin, self.name = k, margin, name
        self.encoder = get_encoder()
        self._texts = [e.text for e in rules.examples]
        self._labels = np.array([e.label == "vulnerable" for e in rules.examples])
        self._emb = self.encoder.embed(self._texts)

    def __call__(self, code: str) -> VoterVote:
        lines = [ln.strip() for ln in code.splitlines() if len(ln.strip()) > 8][:400]
        pieces = [code[:4000], *lines] if lines else [code[:4000]]
        sims = self.encoder.embed(pieces) @ self._emb.T  # (pieces, examples)
        best_gap, best_piece = -1.0, 0
        for i, row in enumerate(sims):
            k = min(self.k, int(self._labels.sum()), int((~self._labels).sum()))
            vul = float(np.sort(row[self._labels])[-k:].mean())
            safe = float(np.sort(row[~self._labels])[-k:].mean())
            if vul - safe > best_gap:
                best_gap, best_piece = vul - safe, i
        row = sims[best_piece]
        j = int(np.argmax(row))
        kind = "vulnerable" if self._labels[j] else "safe"
        nearest = f"nearest example ({kind}, {row[j]:.2f}): {self._texts[j][:70]!r}"
        where = "whole snippet" if best_piece == 0 else repr(pieces[best_piece][:60])
        if best_gap > self.margin:
            return VoterVote(
                label="vulnerable",
                confidence=float(min(0.9, 0.5 + 2 * best_gap)),
                reasons=[f"{where} is closer to vulnerable examples by {best_gap:.3f}", nearest],
            )
        return VoterVote(
            label="safe",
            confidence=float(min(0.9, 0.5 + 2 * abs(best_gap))),
            reasons=[
                f"no part is closer to vulnerable than safe examples (best gap {best_gap:.3f})",
                nearest,
            ],
        )


Voter = PatternVoter | TaintVoter | SimilarityVoter


@dataclass(frozen=True)
class _Spec:
    name: str
    kind: str
    options: tuple[tuple[str, object], ...] = ()


VOTER_SPECS: tuple[_Spec, ...] = (
    _Spec("pattern", "pattern"),
    _Spec("taint", "taint"),
    _Spec("similarity", "similarity"),
    _Spec("pattern_strict", "pattern", (("threshold", 3),)),
    _Spec("taint_handlers", "taint", (("params_untrusted", True),)),
    _Spec("similarity_k5", "similarity", (("k", 5), ("margin", 0.06))),
)
"""Voters in the order they are added: N=3 is one of each kind; more add variants with
different thresholds."""


def build_voters(rules: SecurityRules, n: int = 3) -> list[Voter]:
    """The first `n` voters of `VOTER_SPECS`."""
    if not 1 <= n <= len(VOTER_SPECS):
        raise UsageError(f"--voters must be between 1 and {len(VOTER_SPECS)}, got {n}")
    kinds = {"pattern": PatternVoter, "taint": TaintVoter, "similarity": SimilarityVoter}
    return [
        kinds[s.kind](rules, name=s.name, **dict(s.options))  # type: ignore[arg-type]
        for s in VOTER_SPECS[:n]
    ]
