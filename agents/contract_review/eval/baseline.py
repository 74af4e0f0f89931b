"""A plain baseline for document-level clause presence: logistic regression on tf-idf.

One scikit-learn `LogisticRegression` per category on the whole contract's tf-idf (word
unigrams and bigrams, sublinear term frequency, class-balanced weights), its C and decision
threshold chosen per category by cross-validation on the training contracts only (the
vectorizer refitted inside every fold), then refitted on all of them. It is what a careful
engineer would try first with no rules and no embeddings, trained on exactly the contracts
the presence model was fitted on, so the two are compared on equal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["C_GRID", "THRESHOLDS", "TfidfBaseline", "fit_baseline"]

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer  # deferred: fitting only

    return TfidfVectorizer(
        sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_df=0.95, dtype=np.float32
    )


def _fit_one(x, y: np.ndarray, c: float):
    """A fitted classifier, or the training prevalence when ``y`` holds one class only."""
    from sklearn.linear_model import LogisticRegression  # deferred: fitting only

    if y.min() == y.max():
        return float(y.mean())
    return LogisticRegression(C=c, class_weight="balanced", solver="liblinear", random_state=0).fit(
        x, y
    )


def _proba(model, x) -> np.ndarray:
    if isinstance(model, float):
        return np.full(x.shape[0], model)
    return model.predict_proba(x)[:, 1]


def _f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & gold).sum())
    denom = float(pred.sum() + gold.sum())
    return 2 * tp / denom if denom else 0.0


@dataclass
class TfidfBaseline:
    """The fitted baseline: one vectorizer, per category a model, its C and threshold."""

    categories: list[str]
    vectorizer: object
    models: list
    c: list[float]
    thresholds: list[float]

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Contracts x categories, True where the category is predicted present."""
        x = self.vectorizer.transform(texts)
        return np.stack(
            [_proba(m, x) >= t for m, t in zip(self.models, self.thresholds, strict=True)], axis=1
        )


def fit_baseline(
    texts: Sequence[str], gold: np.ndarray, categories: Sequence[str], folds: int = 5, seed: int = 0
) -> TfidfBaseline:
    """Fit on ``texts`` (contracts) with ``gold`` labels (contracts x categories, bool)."""
    gold = np.asarray(gold, bool)
    fold_of = np.random.default_rng(seed).permutation(len(texts)) % folds
    oof = np.zeros((len(C_GRID), *gold.shape))
    for k in range(folds):
        tr, te = np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)
        if not len(te):  # fewer contracts than folds (a test sample)
            continue
        vec = _vectorizer()
        x_tr = vec.fit_transform([texts[i] for i in tr])
        x_te = vec.transform([texts[i] for i in te])
        for ci, c in enumerate(C_GRID):
            for j in range(gold.shape[1]):
                oof[ci, te, j] = _proba(_fit_one(x_tr, gold[tr, j], c), x_te)
    chosen_c, chosen_t = [], []
    for j in range(gold.shape[1]):
        scores = [
            (_f1(oof[ci, :, j] >= t, gold[:, j]), -ci, -ti)
            for ci in range(len(C_GRID))
            for ti, t in enumerate(THRESHOLDS)
        ]
        _, ci, ti = max(scores)  # best CV F1; ties: smaller C, lower threshold
        chosen_c.append(C_GRID[-ci])
        chosen_t.append(float(THRESHOLDS[-ti]))
    vec = _vectorizer()
    x = vec.fit_transform(texts)
    models = [_fit_one(x, gold[:, j], c) for j, c in enumerate(chosen_c)]
    return TfidfBaseline(list(categories), vec, models, chosen_c, chosen_t)
