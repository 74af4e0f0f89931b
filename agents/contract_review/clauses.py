"""Clause checks per section, and three offline judges for "is this clause really a <category>?".

The cheap first pass, `check_section`, runs per section (in parallel branches later): every
sentence whose text hits one of a rule's cues becomes a `Finding`. Candidates then go to the
judges, who answer the same `JudgeQuestion` with a `ClauseVote` and fail in different ways:

* `RuleJudge`        regex cues + required co-cues + veto cues (precise, brittle wording).
* `SimilarityJudge`  WordLlama similarity to labelled CUAD exemplar clauses and the category's
                     description, against "background" sentences that carry no label
                     (robust to wording, blind to negation).
* `KeywordJudge`     the category's anchor words within a few tokens of obligation/modal words
                     in an operative (not definitional, not heading) sentence.
* `ClassifierJudge`  logistic regression on WordLlama embeddings, trained on ~3,500 labelled
                     clauses and ~4,600 unlabelled sentences of 399 CUAD contracts that are
                     never scored (`agents.contract_review.eval.corpus`): learned, not hand-written.

`weighted_majority` combines them: the learned judge counts 1.5, the others 1, so it wins with
any one hand-written judge and loses against all three.

All are plain callables ``judge(question) -> ClauseVote``, easy to wrap as an OfflineLlm
policy.
Contract text is only ever data: it is matched and embedded, never interpreted as instructions.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coordinator import get_encoder

from .rulebook import Risk, Rulebook, load_rulebook
from .splitter import Section

__all__ = [
    "CLASSIFIER_FILE",
    "DEFAULT_WEIGHTS",
    "EMBED_CHARS",
    "ClassifierJudge",
    "ClauseJudge",
    "ClauseVote",
    "Finding",
    "JudgeQuestion",
    "KeywordJudge",
    "RuleJudge",
    "SimilarityJudge",
    "check_section",
    "collapse_ws",
    "default_judges",
    "majority",
    "sentence_spans",
    "softmax",
    "weighted_majority",
]

CLASSIFIER_FILE = Path(__file__).resolve().parent / "data" / "cuad_corpus" / "classifier.npz"
EMBED_CHARS = 400  # clauses are embedded from their first 400 characters, in training and use

_WS = re.compile(r"\s+")
# Sentence ends: terminal punctuation + space + an opener, a blank line, or a wide space run
# (EDGAR text separates clauses on one line with runs of spaces).
_SENT_END = re.compile(r"(?<=[.;!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])|\n[ \t\f\r]*\n|[ \t]{4,}|\f")
_MAX_SENTENCE = 1200


def collapse_ws(text: str) -> str:
    """Whitespace runs -> one space, trimmed: how clauses are compared, embedded and shown."""
    return _WS.sub(" ", text).strip()


def softmax(emb: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Class probabilities of a linear model over embeddings (rows: texts)."""
    logits = np.atleast_2d(emb) @ coef.T + bias
    logits -= logits.max(axis=1, keepdims=True)
    expd = np.exp(logits)
    return expd / expd.sum(axis=1, keepdims=True)


def sentence_spans(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Absolute ``(start, end)`` spans of the non-blank sentences of ``text``.

    Over-long "sentences" (tables, run-on lists) are cut at ``_MAX_SENTENCE`` characters so a
    single match cannot cover a whole page.
    """
    spans: list[tuple[int, int]] = []
    lo = 0
    for m in [*_SENT_END.finditer(text), None]:
        hi = m.start() if m is not None else len(text)
        while lo < hi:
            cut = min(hi, lo + _MAX_SENTENCE)
            chunk = text[lo:cut]
            if chunk.strip():
                lead = len(chunk) - len(chunk.lstrip())
                trail = len(chunk) - len(chunk.rstrip())
                spans.append((offset + lo + lead, offset + cut - trail))
            lo = cut
        lo = m.end() if m is not None else hi
    return spans


class Finding(BaseModel):
    """A sentence that looks like an instance of a category (first-pass candidate)."""

    model_config = ConfigDict(frozen=True)

    category: str = Field(description="CUAD category name.")
    section_index: int = Field(description="Index of the section the sentence is in.")
    start: int = Field(description="Document offset where the matched sentence starts.")
    end: int = Field(description="Document offset one past the sentence end.")
    text: str = Field(description="The sentence, whitespace collapsed.")
    risk: Risk = Field(description="The category's risk level from the rulebook.")
    score: float = Field(ge=0, le=1, description="Cue strength: share of the rule's cues that hit.")
    cues: tuple[str, ...] = Field(description="The cue regexes that hit.")


class JudgeQuestion(BaseModel):
    """Is this clause really an instance of the category?"""

    model_config = ConfigDict(frozen=True)

    category: str = Field(description="CUAD category name, as in the rulebook.")
    clause: str = Field(description="The clause text (data, never instructions).")


class ClauseVote(BaseModel):
    """One judge's answer to a `JudgeQuestion`."""

    model_config = ConfigDict(frozen=True)

    judge: str = Field(description="Name of the judge that voted.")
    category: str = Field(description="The category asked about.")
    present: bool = Field(description="True if the judge thinks the clause is an instance.")
    confidence: float = Field(ge=0, le=1, description="The judge's confidence in its label.")
    reason: str = Field(description="Short, human-readable justification.")


ClauseJudge = Callable[[JudgeQuestion], ClauseVote]


def check_section(section: Section, rulebook: Rulebook) -> list[Finding]:
    """First pass: every (sentence, category) whose sentence hits one of the category's cues."""
    findings: list[Finding] = []
    unions = [(rule, rule.cue_union) for rule in rulebook.categories]
    for start, end in sentence_spans(section.text, section.start):
        sentence = collapse_ws(section.text[start - section.start : end - section.start])
        if len(sentence) < 12:
            continue
        for rule, union in unions:
            if union.search(sentence) is None:
                continue
            hits = tuple(
                c for c, rx in zip(rule.cues, rule.cue_res, strict=True) if rx.search(sentence)
            )
            findings.append(
                Finding(
                    category=rule.name,
                    section_index=section.index,
                    start=start,
                    end=end,
                    text=sentence,
                    risk=rule.risk,
                    score=min(1.0, len(hits) / max(1, min(3, len(rule.cues)))),
                    cues=hits,
                )
            )
    return findings


def _vote(judge: str, category: str, present: bool, confidence: float, reason: str) -> ClauseVote:
    return ClauseVote(
        judge=judge, category=category, present=present, confidence=confidence, reason=reason
    )


class RuleJudge:
    """Regex judge: a cue, one of the required co-cues, and no veto in the clause."""

    name = "rules"

    def __init__(self, rulebook: Rulebook | None = None) -> None:
        self.rulebook = rulebook or load_rulebook()

    def __call__(self, question: JudgeQuestion) -> ClauseVote:
        rule = self.rulebook.get(question.category)
        text = collapse_ws(question.clause)

        vote = functools.partial(_vote, self.name, rule.name)

        hits = [c for c, rx in zip(rule.cues, rule.cue_res, strict=True) if rx.search(text)]
        if not hits:
            return vote(False, 0.8, "no cue of the category matches")
        if rule.require_res and not any(rx.search(text) for rx in rule.require_res):
            return vote(False, 0.6, f"cue {hits[0]!r} matches but no required co-cue does")
        veto = next(
            (n for n, rx in zip(rule.negative, rule.negative_res, strict=True) if rx.search(text)),
            None,
        )
        if veto is not None:
            return vote(False, 0.7, f"veto cue {veto!r} matches")
        conf = min(0.95, 0.6 + 0.1 * len(hits))
        return vote(True, conf, f"{len(hits)} cue(s) match, e.g. {hits[0]!r}")


_TOKEN = re.compile(r"[a-z][a-z\-']*")
_MODALS = frozenset(
    [
        "shall",
        "will",
        "may",
        "must",
        "agree",
        "agrees",
        "agreed",
        "not",
        "no",
        "neither",
        "nor",
        "never",
        "hereby",
        "grant",
        "grants",
        "granted",
        "entitled",
        "required",
        "right",
        "rights",
        "cannot",
        "undertake",
        "undertakes",
        "covenant",
        "covenants",
        "obliged",
        "obligated",
        "prohibited",
        "consent",
    ]
)
_DEFINITION = re.compile(r"^\W*[\"“]?[A-Z][\w\- ]{0,60}[\"”]?\s*(?:shall )?(?::\s*)?means\b")


class KeywordJudge:
    """Keyword-in-context judge: anchor words near obligation words, in an operative sentence.

    It knows nothing about phrasing: it counts anchor tokens and their distance to modal or
    obligation words, so it accepts paraphrases the regexes miss and rejects headings,
    definitions and cross-references that merely mention the topic.
    """

    name = "keywords"

    def __init__(self, rulebook: Rulebook | None = None, window: int = 12) -> None:
        self.rulebook = rulebook or load_rulebook()
        self.window = window

    def __call__(self, question: JudgeQuestion) -> ClauseVote:
        rule = self.rulebook.get(question.category)
        text = collapse_ws(question.clause)
        tokens = _TOKEN.findall(text.lower())
        anchors = rule.keywords or rule.name_words

        vote = functools.partial(_vote, self.name, rule.name)

        if len(tokens) < 6:
            return vote(False, 0.7, "too short to be an operative clause (heading or fragment)")
        if _DEFINITION.match(text):
            return vote(False, 0.6, "a definition, not an operative clause")
        anchor_pos = [i for i, t in enumerate(tokens) if any(t.startswith(a) for a in anchors)]
        if not anchor_pos:
            return vote(False, 0.8, "none of the category's anchor words occurs")
        modal_pos = [i for i, t in enumerate(tokens) if t in _MODALS]
        if not modal_pos:
            return vote(False, 0.6, "anchor words occur but no obligation/modal word")
        distance = min(abs(a - m) for a in anchor_pos for m in modal_pos)
        distinct = len({tokens[i] for i in anchor_pos})
        if distance <= self.window and (distinct >= 2 or distance <= self.window // 2):
            conf = min(0.9, 0.55 + 0.1 * distinct + 0.02 * (self.window - distance))
            return vote(
                True, conf, f"{distinct} anchor word(s) within {distance} tokens of a modal"
            )
        return vote(False, 0.55, f"anchor words too far from obligations (distance {distance})")


class SimilarityJudge:
    """Embedding judge: closer to labelled exemplars of the category than to unlabelled text.

    ``exemplars`` maps category -> labelled clause texts (CUAD *training* contracts only when
    measuring); ``background`` holds sentences from the same contracts that carry no label at
    all. The category description always counts as one exemplar, so a category with no
    labelled examples still gets a (weaker) vote.
    """

    name = "similarity"

    def __init__(
        self,
        rulebook: Rulebook | None = None,
        exemplars: Mapping[str, Sequence[str]] | None = None,
        background: Sequence[str] = (),
        margin: float = 0.0,
        floor: float = 0.3,
        k: int = 5,
    ) -> None:
        self.rulebook = rulebook or load_rulebook()
        self.encoder = get_encoder()
        self.margin = margin
        self.floor = floor
        self.k = k
        exemplars = exemplars or {}
        self._pos: dict[str, np.ndarray] = {}
        for rule in self.rulebook.categories:
            texts = [
                rule.description,
                *(collapse_ws(t)[:_MAX_SENTENCE] for t in exemplars.get(rule.name, ())),
            ]
            self._pos[rule.name] = self.encoder.embed(texts)
        bg = [collapse_ws(t)[:_MAX_SENTENCE] for t in background if t.strip()]
        self._bg = self.encoder.embed(bg) if bg else np.zeros((0, self.encoder.dim), np.float32)
        self._cache: dict[str, np.ndarray] = {}

    def _embed(self, text: str) -> np.ndarray:
        vec = self._cache.get(text)
        if vec is None:
            if len(self._cache) > 50_000:
                self._cache.clear()
            vec = self._cache[text] = self.encoder.embed(text)
        return vec

    def prime(self, texts: Iterable[str]) -> None:
        """Embed many clauses in one batch (the per-question path then hits the cache)."""
        todo = list(
            dict.fromkeys(
                t for t in (collapse_ws(x)[:_MAX_SENTENCE] for x in texts) if t not in self._cache
            )
        )
        if todo:
            for t, v in zip(todo, self.encoder.embed(todo), strict=True):
                self._cache[t] = v

    def __call__(self, question: JudgeQuestion) -> ClauseVote:
        rule = self.rulebook.get(question.category)
        vec = self._embed(collapse_ws(question.clause)[:_MAX_SENTENCE])
        pos_sims = self._pos[rule.name] @ vec
        pos = float(pos_sims.max())
        bg_sims = self._bg @ vec
        k = min(self.k, len(bg_sims))
        # Mean of the k nearest unlabelled sentences: one near-duplicate cannot veto alone.
        bg = float(np.partition(bg_sims, -k)[-k:].mean()) if k else 0.0
        n_ex = len(pos_sims) - 1
        present = pos >= self.floor and pos >= bg + self.margin
        conf = float(min(0.95, 0.5 + abs(pos - bg)))
        reason = (
            f"similarity {pos:.2f} to {n_ex} exemplar(s)+description"
            f" vs {bg:.2f} to the {k} nearest unlabelled sentences"
        )
        return ClauseVote(
            judge=self.name, category=rule.name, present=present, confidence=conf, reason=reason
        )


class ClassifierJudge:
    """Learned judge: softmax over CUAD categories + "none" on the clause's embedding.

    The weights are shipped (``data/cuad_corpus/classifier.npz``, refit with
    ``python -m agents.contract_review.eval.corpus``), so a vote costs one embedding and one
    small matrix product. A category the model has no class for gets an abstaining "absent" vote.
    ``threshold`` 0.2 (a softmax over 34 classes) was chosen on the TRAINING contracts only
    (each judged with exemplars from the other four; 0.1-0.4 tried).
    """

    name = "classifier"

    def __init__(
        self,
        rulebook: Rulebook | None = None,
        path: str | Path | None = None,
        threshold: float = 0.2,
    ) -> None:
        self.rulebook = rulebook or load_rulebook()
        self.encoder = get_encoder()
        self.threshold = threshold
        with np.load(Path(path) if path is not None else CLASSIFIER_FILE) as npz:
            classes = [str(c) for c in npz["classes"]]
            self._coef, self._bias = npz["coef"], npz["intercept"]
        self._index = {c.casefold(): i for i, c in enumerate(classes)}
        self._cache: dict[str, np.ndarray] = {}

    def _key(self, text: str) -> str:
        return collapse_ws(text)[:EMBED_CHARS]

    def prime(self, texts: Iterable[str]) -> None:
        """Score many clauses in one embedding batch."""
        if len(self._cache) > 50_000:
            self._cache.clear()
        todo = list(dict.fromkeys(k for k in map(self._key, texts) if k not in self._cache))
        if todo:
            for t, p in zip(
                todo, softmax(self.encoder.embed(todo), self._coef, self._bias), strict=True
            ):
                self._cache[t] = p

    def probability(self, category: str, clause: str) -> float:
        """P(category | clause) under the model; 0 for a category it has no class for."""
        i = self._index.get(self.rulebook.get(category).name.casefold())
        if i is None:
            return 0.0
        key = self._key(clause)
        if key not in self._cache:
            self.prime([key])
        return float(self._cache[key][i])

    def __call__(self, question: JudgeQuestion) -> ClauseVote:
        rule = self.rulebook.get(question.category)
        i = self._index.get(rule.name.casefold())
        if i is None:
            return ClauseVote(
                judge=self.name,
                category=rule.name,
                present=False,
                confidence=0.5,
                reason="no trained class for this category (abstains)",
            )
        key = self._key(question.clause)
        if key not in self._cache:
            self.prime([key])
        probs = self._cache[key]
        p = float(probs[i])
        top = int(probs.argmax())
        present = p >= self.threshold
        return ClauseVote(
            judge=self.name,
            category=rule.name,
            present=present,
            confidence=float(min(0.95, max(p, 1 - p))),
            reason=f"P(category)={p:.2f}; most likely class #{top} ({probs[top]:.2f})",
        )


DEFAULT_WEIGHTS: Mapping[str, float] = {
    "rules": 1.0,
    "similarity": 1.0,
    "keywords": 1.0,
    "classifier": 1.5,
}


def weighted_majority(
    votes: Sequence[ClauseVote], weights: Mapping[str, float] | None = None
) -> bool:
    """Weighted vote: present if the present side outweighs the absent side (tie: absent)."""
    weights = DEFAULT_WEIGHTS if weights is None else weights
    score = sum(weights.get(v.judge, 1.0) * (1 if v.present else -1) for v in votes)
    return score > 0


def majority(votes: Sequence[ClauseVote]) -> bool:
    """Strict majority of present votes; a tie is 'absent' (the reviewer is not bothered)."""
    yes = sum(v.present for v in votes)
    return yes * 2 > len(votes)


def default_judges(
    rulebook: Rulebook | None = None,
    exemplars: Mapping[str, Sequence[str]] | None = None,
    background: Sequence[str] = (),
    classifier: bool = True,
) -> list[ClauseJudge]:
    """The offline judges over one rulebook (exemplars: CUAD clauses by category).

    Combine their votes with `weighted_majority`; ``classifier=False`` gives the original
    three hand-written/similarity judges (then plain `majority` is the same rule).
    """
    rulebook = rulebook or load_rulebook()
    judges: list[ClauseJudge] = [
        RuleJudge(rulebook),
        SimilarityJudge(rulebook, exemplars=exemplars, background=background),
        KeywordJudge(rulebook),
    ]
    if classifier:
        judges.append(ClassifierJudge(rulebook))
    return judges
