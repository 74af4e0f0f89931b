"""Document-level clause presence at run time: shipped weights, one decision per category.

Why: the sentence pipeline (`agents.contract_review.eval.clauses.detect`) says "present" when
one candidate sentence wins the judges' vote, so it misses clauses whose wording no cue knows
(recall ~0.69). Here every sentence of the contract is scored by a sentence classifier, and a
small logistic regression per category turns document-level evidence into P(category present):

* the sentence classifier's top probabilities and how many sentences pass 0.1 / 0.3,
* the hand-written first pass (`check_section` cue candidates) and the rule / keyword judges'
  votes on them, the classifier's best probability on a cue candidate,
* whether a section heading names the category, and the document's size.

This module only loads and applies the weights (``data/cuad_corpus/presence_model.npz``,
no contract text). How they are fitted, and on which contracts, is in
`agents.contract_review.eval.presence_model`:

    python -m agents.contract_review.eval.presence_model build --dir CUAD_v1/ \\
        --exclude agents/contract_review/eval/heldout.txt
    python -m agents.contract_review.eval.heldout score --dir CUAD_v1/   # the 93 held out
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coordinator import get_encoder

from .clauses import (
    EMBED_CHARS,
    JudgeQuestion,
    KeywordJudge,
    RuleJudge,
    check_section,
    collapse_ws,
    sentence_spans,
    softmax,
)
from .rulebook import Rulebook, load_rulebook
from .splitter import Section, split_document

__all__ = [
    "FEATURES",
    "MODEL_FILE",
    "PresenceModel",
    "PresenceResult",
    "RawDoc",
    "document_features",
    "embed_sentences",
    "featurise",
    "load_presence_model",
    "presence",
    "raw_document",
]

MODEL_FILE = Path(__file__).resolve().parent / "data" / "cuad_corpus" / "presence_model.npz"
_MIN_SENTENCE = 12
FEATURES: tuple[str, ...] = (
    "logit_max_p",
    "logit_top3_p",
    "n_p_over_0.1",
    "n_p_over_0.3",
    "n_cue_candidates",
    "n_rule_yes",
    "n_keyword_yes",
    "best_vote",
    "logit_max_p_on_candidate",
    "heading_names_category",
    "log_sentences",
)


class PresenceResult(BaseModel):
    """Is a category present in the document, how sure, and the best evidence for it."""

    model_config = ConfigDict(frozen=True)

    category: str = Field(description="Rulebook category name.")
    present: bool = Field(description="probability >= the category's threshold.")
    probability: float = Field(ge=0, le=1, description="P(present) from the document model.")
    threshold: float = Field(ge=0, le=1, description="Cut-off chosen by CV on training docs.")
    evidence_section: int | None = Field(
        None, description="Index of the section holding the best evidence sentence."
    )
    evidence_text: str | None = Field(
        None, description="The sentence the sentence classifier rates highest (data only)."
    )


@dataclass(frozen=True)
class _Sentence:
    section: int
    start: int
    text: str


@dataclass(frozen=True)
class RawDoc:
    """What featurising needs besides sentence probabilities (cheap to keep per contract)."""

    sentences: tuple[_Sentence, ...]
    # per category: (sentence indices of cue candidates, rule-yes flags, keyword-yes flags)
    candidates: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    headings: dict[str, bool]


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return float(np.log(p / (1 - p)))


def _as_sections(text_or_sections: str | Sequence[Section]) -> list[Section]:
    if isinstance(text_or_sections, str):
        return split_document(text_or_sections) if text_or_sections.strip() else []
    return list(text_or_sections)


def raw_document(sections: Sequence[Section], rulebook: Rulebook, rule_judge, kw_judge) -> RawDoc:
    """Sentences, cue candidates with the rule / keyword judges' votes, heading matches."""
    sentences: list[_Sentence] = []
    by_start: dict[int, int] = {}
    for sec in sections:
        for s, e in sentence_spans(sec.text, sec.start):
            text = collapse_ws(sec.text[s - sec.start : e - sec.start])
            if len(text) >= _MIN_SENTENCE:
                by_start[s] = len(sentences)
                sentences.append(_Sentence(sec.index, s, text))
    found: dict[str, list[tuple[int, bool, bool]]] = {r.name: [] for r in rulebook.presence}
    for sec in sections:
        for f in check_section(sec, rulebook):
            if f.category not in found or f.start not in by_start:
                continue
            q = JudgeQuestion(category=f.category, clause=f.text)
            found[f.category].append(
                (by_start[f.start], rule_judge(q).present, kw_judge(q).present)
            )
    candidates = {
        cat: (
            np.array([x[0] for x in xs], dtype=np.int32),
            np.array([x[1] for x in xs], dtype=bool),
            np.array([x[2] for x in xs], dtype=bool),
        )
        for cat, xs in found.items()
    }
    headings = {}
    for rule in rulebook.presence:
        words = rule.name_words
        headings[rule.name] = any(
            sec.title
            and (
                rule.cue_union.search(sec.title) is not None
                or all(w in sec.title.lower() for w in words)
            )
            for sec in sections
        )
    return RawDoc(tuple(sentences), candidates, headings)


def document_features(
    raw: RawDoc, probs: np.ndarray, column: int | None, category: str
) -> np.ndarray:
    """The `FEATURES` vector of one category from sentence probabilities (n_sentences,)."""
    p = probs[:, column] if column is not None and len(probs) else np.zeros(len(raw.sentences))
    top = np.sort(p)[::-1][:3] if len(p) else np.zeros(1)
    idx, rule_yes, kw_yes = raw.candidates.get(
        category, (np.zeros(0, np.int32), np.zeros(0, bool), np.zeros(0, bool))
    )
    cand_p = p[idx] if len(idx) else np.zeros(0)
    vote = rule_yes.astype(float) + kw_yes + 1.5 * (cand_p >= 0.2) if len(idx) else np.zeros(1)
    return np.array(
        [
            _logit(float(top.max())),
            _logit(float(top.mean())),
            np.log1p(float((p >= 0.1).sum())),
            np.log1p(float((p >= 0.3).sum())),
            np.log1p(len(idx)),
            np.log1p(float(rule_yes.sum())),
            np.log1p(float(kw_yes.sum())),
            float(vote.max()),
            _logit(float(cand_p.max())) if len(cand_p) else _logit(0.0),
            float(raw.headings.get(category, False)),
            np.log1p(len(raw.sentences)),
        ],
        dtype=np.float64,
    )


def embed_sentences(sentences: Sequence[_Sentence]) -> np.ndarray:
    enc = get_encoder()
    if not sentences:
        return np.zeros((0, enc.dim), np.float32)
    return enc.embed([s.text[:EMBED_CHARS] for s in sentences])


class PresenceModel:
    """Shipped weights: the sentence classifier + one logistic regression per category."""

    def __init__(self, path: str | Path = MODEL_FILE) -> None:
        with np.load(Path(path)) as npz:
            self.sentence_classes = [str(c) for c in npz["sentence_classes"]]
            self.sentence_coef = npz["sentence_coef"]
            self.sentence_bias = npz["sentence_bias"]
            self.categories = [str(c) for c in npz["categories"]]
            self.mean, self.scale = npz["mean"], npz["scale"]
            self.coef, self.bias = npz["coef"], npz["bias"]
            self.thresholds = npz["thresholds"]
            self.meta = json.loads(str(npz["meta"]))
            # categories where a rule-judge "yes" on a cue candidate also means present
            self.rule_override = (
                npz["rule_override"].astype(bool)
                if "rule_override" in npz.files
                else np.zeros(len(self.categories), bool)
            )
        self._col = {c.casefold(): i for i, c in enumerate(self.sentence_classes)}
        self._row = {c.casefold(): i for i, c in enumerate(self.categories)}

    def sentence_probs(self, emb: np.ndarray) -> np.ndarray:
        return softmax(emb, self.sentence_coef, self.sentence_bias)

    def column(self, category: str) -> int | None:
        return self._col.get(category.casefold())

    def predict(self, category: str, x: np.ndarray) -> tuple[float, float] | None:
        """(probability, threshold) for one feature vector, or None for an unknown category."""
        i = self._row.get(category.casefold())
        if i is None:
            return None
        z = float(((x - self.mean[i]) / self.scale[i]) @ self.coef[i] + self.bias[i])
        return float(1 / (1 + np.exp(-z))), float(self.thresholds[i])


@lru_cache(maxsize=2)
def load_presence_model(path: str | Path = MODEL_FILE) -> PresenceModel:
    """The shipped model (cached per path)."""
    return PresenceModel(path)


def featurise(
    text_or_sections: str | Sequence[Section],
    rulebook: Rulebook | None = None,
    model: PresenceModel | None = None,
) -> tuple[dict[str, np.ndarray], RawDoc, np.ndarray]:
    """Per-category feature vectors, plus the raw document and sentence probabilities."""
    rulebook = rulebook or load_rulebook()
    model = model or load_presence_model()
    raw = raw_document(
        _as_sections(text_or_sections), rulebook, RuleJudge(rulebook), KeywordJudge(rulebook)
    )
    probs = (
        model.sentence_probs(embed_sentences(raw.sentences)) if raw.sentences else np.zeros((0, 1))
    )
    feats = {
        r.name: document_features(raw, probs, model.column(r.name), r.name)
        for r in rulebook.presence
    }
    return feats, raw, probs


def presence(
    text_or_sections: str | Sequence[Section],
    rulebook: Rulebook | None = None,
    model: PresenceModel | None = None,
) -> dict[str, PresenceResult]:
    """Presence of every presence category of ``rulebook`` in one document.

    Takes the raw text or the splitter's sections (as the contract_review agent holds them).
    Offline and fast: one embedding batch for all sentences, regexes, a dot product per
    category. A category the model was not trained on comes back absent with probability 0.
    """
    rulebook = rulebook or load_rulebook()
    model = model or load_presence_model()
    feats, raw, probs = featurise(text_or_sections, rulebook, model)
    out: dict[str, PresenceResult] = {}
    for rule in rulebook.presence:
        pred = model.predict(rule.name, feats[rule.name])
        col = model.column(rule.name)
        best: _Sentence | None = None
        if col is not None and len(probs):
            idx, rule_yes, _ = raw.candidates.get(rule.name, (np.zeros(0, int), None, None))
            # Prefer a cue candidate the rule judge accepts; else the top-rated sentence.
            pool = idx[rule_yes] if rule_yes is not None and rule_yes.any() else None
            pick = (
                int(pool[np.argmax(probs[pool, col])])
                if pool is not None
                else int(np.argmax(probs[:, col]))
            )
            best = raw.sentences[pick]
        prob, thr = pred if pred is not None else (0.0, 1.0)
        present = pred is not None and prob >= thr
        i = model._row.get(rule.name.casefold())
        if not present and i is not None and model.rule_override[i]:
            _, rule_yes, _ = raw.candidates.get(rule.name, (None, np.zeros(0, bool), None))
            present = bool(rule_yes.any())
        out[rule.name] = PresenceResult(
            category=rule.name,
            present=present,
            probability=prob,
            threshold=thr,
            evidence_section=best.section if best and present else None,
            evidence_text=best.text if best and present else None,
        )
    return out
