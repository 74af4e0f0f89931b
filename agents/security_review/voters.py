"""Offline security voters that fail differently (so their votes carry information).

- `PatternVoter`   per-line rule patterns (injection, eval, pickle, shell=True, secrets, weak
                   hashes, verify=False, yaml.load ...); a severity score against a threshold.
                   Sees dangerous calls, not whether the data reaching them is attacker's.
- `TaintVoter`     follows user input (request.*, input(), sys.argv, location.*, $1 ...)
                   through assignments into a sink's dangerous argument (SQL string, shell
                   command, eval, path, URL, HTML), unless a sanitiser intervenes. Blind to
                   secrets, weak crypto and configuration.
- `SimilarityVoter` WordLlama: each statement against per-rule labelled exemplars
                   (data/security_rules.yaml); the statement most like a flaw decides.
                   Robust to wording and language, blind to details.

Each is `voter(code) -> VoterVote`. The code is data: matched and embedded, never run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field

from coordinator import UsageError, get_encoder

from .rules import SecurityRules

__all__ = [
    "VOTER_SPECS",
    "PatternVoter",
    "SimilarityVoter",
    "TaintVoter",
    "Voter",
    "VoterVote",
    "build_voters",
    "statements",
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
_STRING = re.compile(r"""(?<![fF\w])(?:"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')""")
_ANY_STRING = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'""")


def statements(code: str, limit: int = 400) -> list[tuple[int, str]]:
    """Logical statements `(first line number, text)`: a call or list spanning several lines
    is one statement (joined on `(`/`[` depth; braces are blocks in JS and nginx)."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = depth = 0
    for n, line in enumerate(code.splitlines(), start=1):
        if not buf:
            start = n
        buf.append(line.strip())
        bare = _ANY_STRING.sub('""', line)
        depth += bare.count("(") + bare.count("[") - bare.count(")") - bare.count("]")
        if depth <= 0 or len(buf) >= 12:
            if text := " ".join(b for b in buf if b):
                out.append((start, text))
            buf, depth = [], 0
            if len(out) >= limit:
                return out
    if text := " ".join(b for b in buf if b):
        out.append((start, text))
    return out


def _first_arg(text: str) -> str:
    """The first argument of a call whose `(` was just consumed (quotes and nesting aware)."""
    depth, quote = 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return text[:i]
            depth -= 1
        elif ch == "," and depth == 0:
            return text[:i]
    return text


class TaintVoter:
    """Does user input reach a dangerous sink without a sanitiser? (statement-level dataflow)

    Only a sink's dangerous argument counts (its first one: the SQL string, the command, the
    URL, the path), so input passed as a bound parameter or a query parameter is fine, and
    `subprocess.*` is a shell sink only with shell=True or a string command.
    `params_untrusted=True` treats every function parameter as user input: more cautious
    (library code called with input), more false alarms.
    """

    def __init__(
        self, rules: SecurityRules, params_untrusted: bool = False, name: str = "taint"
    ) -> None:
        self.rules, self.params_untrusted, self.name = rules, params_untrusted, name
        self._sources = [re.compile(p) for p in rules.taint.sources]
        self._sinks = rules.taint.sinks
        self._clean = [re.compile(p) for p in rules.taint.sanitizers]

    def _uses(self, text: str, tainted: dict[str, int]) -> str | None:
        if any(rx.search(text) for rx in self._sources):
            return "user input"
        code = _STRING.sub('""', text)  # a variable's name inside a plain string is text
        for var in tainted:
            if re.search(rf"(?<![\w.$]){re.escape(var)}(?![\w$])", code) or re.search(
                rf"\$\{{?{re.escape(var)}\b",
                text,  # shell: "$var", "${var}"
            ):
                return var
        return None

    def _flow(self, n: int, stmt: str, tainted: dict[str, int]) -> str | None:
        for sink in self._sinks:
            call = sink.pattern_re.search(stmt)
            if call is None:
                continue
            if sink.requires_res and not any(rx.search(stmt) for rx in sink.requires_res):
                continue
            rest = stmt[call.end() :]
            arg = _first_arg(rest) if call.group(0).endswith("(") else rest
            via = self._uses(arg, tainted)
            if via is None or any(rx.search(arg) for rx in self._clean):
                continue
            origin = f"`{via}` (tainted at line {tainted[via]})" if via in tainted else via
            return f"line {n}: {origin} reaches {sink.name} sink `{call.group(0).strip()}`"
        return None

    def __call__(self, code: str) -> VoterVote:
        tainted: dict[str, int] = {}  # variable -> line it became tainted
        flows: list[str] = []
        for n, stmt in statements(code):
            if stmt.startswith(("#", "//")):
                continue
            if self.params_untrusted and (m := _DEF.match(stmt)):
                for param in re.findall(r"([A-Za-z_]\w*)\s*(?::[^,]+)?(?:,|$)", m.group(1)):
                    if param not in ("self", "cls"):
                        tainted.setdefault(param, n)
            if flow := self._flow(n, stmt, tainted):
                flows.append(flow)
            m = _ASSIGN.match(stmt) or _FOR.match(stmt)
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
    """Each statement against per-rule exemplars (WordLlama); the riskiest statement decides.

    A statement is compared with a rule when its nearest exemplar of that rule is at least
    `min_sim` similar and closer than the nearest everyday code (`rule: none`), so
    boilerplate (imports, decorators, returns) never decides. Its gap for the rule is the
    mean similarity of its `k` nearest vulnerable exemplars minus that of its `k` nearest
    safe ones; vulnerable when the largest gap exceeds `margin`. `nearest_rule_only`
    compares a statement with the rule of its single nearest exemplar only.
    """

    def __init__(
        self,
        rules: SecurityRules,
        k: int = 2,
        margin: float = 0.05,
        min_sim: float = 0.4,
        nearest_rule_only: bool = False,
        name: str = "similarity",
    ) -> None:
        self.k, self.margin, self.min_sim, self.name = k, margin, min_sim, name
        self.nearest_rule_only = nearest_rule_only
        self.encoder = get_encoder()
        self._texts = [e.text for e in rules.examples]
        self._rules = np.array([e.rule or "none" for e in rules.examples])
        self._vul = np.array([e.label == "vulnerable" for e in rules.examples])
        self._none = self._rules == "none"
        self._rule_ids = sorted({str(r) for r in self._rules[self._vul]} - {"none"})
        self._emb = self.encoder.embed(self._texts)

    def _gap(self, row: np.ndarray, rule: str) -> tuple[float, int, float]:
        """(gap, nearest vulnerable exemplar, best safe similarity) within `rule`."""
        mine = self._rules == rule
        vul, safe = np.flatnonzero(mine & self._vul), np.flatnonzero(mine & ~self._vul)
        v = np.sort(row[vul])[::-1][: self.k]
        s = np.sort(row[safe])[::-1][: self.k] if len(safe) else np.zeros(1)
        return float(v.mean() - s.mean()), int(vul[np.argmax(row[vul])]), float(s[0])

    def _candidates(self, row: np.ndarray) -> list[str]:
        everyday = float(row[self._none].max()) if self._none.any() else -1.0
        if self.nearest_rule_only:
            j = int(np.argmax(row))
            near = str(self._rules[j])
            ok = near in self._rule_ids and row[j] >= self.min_sim
            return [near] if ok else []
        return [
            r
            for r in self._rule_ids
            if (top := float(row[self._rules == r].max())) >= self.min_sim and top > everyday
        ]

    def __call__(self, code: str) -> VoterVote:
        stmts = statements(code) or [(1, code.strip()[:4000])]
        sims = self.encoder.embed([t[:1000] for _, t in stmts]) @ self._emb.T
        best: tuple[float, int, int, float] | None = None  # gap, stmt index, exemplar, safe sim
        for i, row in enumerate(sims):
            for rule in self._candidates(row):
                gap, ex, safe = self._gap(row, rule)
                if best is None or gap > best[0]:
                    best = (gap, i, ex, safe)
        if best is None:
            j = int(np.argmax(sims.max(axis=0)))
            return VoterVote(
                label="safe",
                confidence=0.6,
                reasons=[
                    "no line resembles a known flaw more than everyday code "
                    f"(closest exemplar {float(sims[:, j].max()):.2f}: {self._texts[j][:60]!r})"
                ],
            )
        gap, i, ex, safe = best
        n, text = stmts[i]
        rule, sim = str(self._rules[ex]), float(sims[i, ex])
        where = f"line {n} `{text[:70]}`"
        match = f"{rule} example {self._texts[ex][:70]!r} ({sim:.2f} vs safe {safe:.2f})"
        if gap > self.margin:
            return VoterVote(
                label="vulnerable",
                confidence=float(min(0.9, 0.55 + 2 * gap)),
                reasons=[f"{where} is closest to the vulnerable {match}"],
            )
        return VoterVote(
            label="safe",
            confidence=float(min(0.9, 0.55 + 2 * abs(gap))),
            reasons=[f"riskiest {where} is no closer to the vulnerable {match}"],
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
    _Spec(
        "similarity_nearest",
        "similarity",
        (("nearest_rule_only", True), ("k", 1), ("min_sim", 0.5)),
    ),
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
