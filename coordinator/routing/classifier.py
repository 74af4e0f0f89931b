"""A trained route classifier with data-calibrated out-of-scope detection.

Why two signals: a softmax classifier always names *some* route, even for "what's the
weather" — its probability says which route fits best, not whether any fits. So:

* **which route**: logistic regression on the request's features, probabilities
  temperature-scaled on cross-validated logits (so 0.9 means right ~90% of the time);
* **whether in scope**: `sqrt(p_top) * sim_top`, where `sim_top` is the mean of the top-k
  cosine similarities to the predicted route's training examples. Far-from-everything
  requests score low even when the classifier is sure.

Features (`features=`): `hybrid` (the default) concatenates character 2-5-gram tf-idf
(`coordinator.routing.charfeatures`: robust to typos, shares stems across languages) with the
WordLlama embedding (meaning, synonyms), each block weighted so the joint vector stays unit
length; `embedding` is the embedding alone (the previous router, kept for comparison).

The threshold on that score is the `1 - target_retention` quantile of the *held-out*
(cross-validated) scores of in-scope examples, stored with the model: asking for 95%
retention keeps about 95% of in-scope traffic and rejects what is less typical than that.

Training data = the routes' utterances plus optional labelled rows `(text, route)`; rows
labelled with the fallback route are out-of-scope examples: never trained on, used to
report the expected OOS recall. The fallback route's own utterances (if the routes file
gives it any) are negatives: a request nearer to them than to its best route's examples
loses that margin from its in-scope score (held-out scores are computed the same way, so
the threshold still keeps the target share of in-scope traffic).

Outlier exposure (`outliers=`, see `coordinator.routing.outliers`): a corpus of generic requests
trains an extra "none of these" class. Off-topic requests then give their probability to
that class (lowering `p_top`) and sit near its examples (lowering `sim_top` by the margin
above), so both factors of the score fall. The corpus rows never count as in-scope: the
threshold still keeps the target share of *in-scope* held-out scores, and their own
held-out scores report the expected OOS recall (`metrics.outlier_recall`).

Per-route calibration: routes differ in how tight their examples are, so each route's bar
is its own held-out retention quantile, over the examples the none class leaves (it keeps as
near the target as they allow), shrunk toward the global bar by its number of examples
(`t_r = (n_r t_r' + m t) / (n_r + m)`); a route with few examples keeps roughly
the global bar. Routing compares a request's score with its predicted route's bar.

A saved model is `router.npz` (plain numpy arrays incl. the char vocabulary as a string
array, no pickle, so loading needs neither scikit-learn nor trust) + `manifest.json`
(routes fingerprint, features, threshold, metrics).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from coordinator.errors import ConfigError, UsageError
from coordinator.inputs.input_files import read_bounded
from coordinator.routing.charfeatures import CharFeatures
from coordinator.routing.decision import Decision
from coordinator.routing.encoder import routing_encoder
from coordinator.routing.outliers import synthetic_noise
from coordinator.routing.routes import RouteSet

__all__ = [
    "MANIFEST",
    "OUTLIER_WEIGHT",
    "WEIGHTS",
    "ClassifierRouter",
    "Manifest",
    "read_manifest",
    "threshold_for_retention",
    "write_threshold",
]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
WEIGHTS = "router.npz"
_FORMAT = 2
# The "none of these" class's total training weight, in units of an average route's.
OUTLIER_WEIGHT = 2.0
# The score of a request whose most likely class is "none of these": below every bar.
NONE_WINS = -1.0
# Pseudo-count of the global bar in each route's shrunk bar (see the module docstring).
ROUTE_SHRINK = 10
Features = Literal["embedding", "hybrid"]
# Share of the joint vector's squared norm given to the char n-grams in `hybrid`.
CHAR_WEIGHT = 0.5


class Manifest(BaseModel):
    """What a saved router was trained on and how it decides (JSON beside the weights)."""

    format: int = Field(_FORMAT, description="Model dir format version.")
    method: str = Field("classifier", description="Router method stored in this dir.")
    routes_fingerprint: str = Field(description="RouteSet.fingerprint() at training time.")
    routes: list[str] = Field(description="Routes the classifier scores.")
    fallback: str = Field(description="Fallback route name.")
    encoder: str = Field(description="Sentence encoder the features come from.")
    features: str = Field("embedding", description="embedding, or hybrid (+ char n-grams).")
    char_weight: float = Field(0.0, description="Char n-grams' share of the joint vector.")
    threshold: float = Field(description="In-scope score threshold (below -> fallback).")
    target_retention: float = Field(description="In-scope share the threshold keeps (CV).")
    temperature: float = Field(description="Softmax temperature fitted on CV logits.")
    k: int = Field(description="Top-k similarities averaged for the in-scope score.")
    created: str = Field(description="UTC time of training.")
    n_train: int = Field(description="Training examples (in scope).")
    metrics: dict[str, Any] = Field(default_factory=dict, description="CV metrics.")
    n_outliers: int = Field(0, description="Outlier-exposure examples (the none class).")


def threshold_for_retention(scores: Sequence[float] | np.ndarray, retention: float) -> float:
    """Score threshold keeping `retention` of `scores` (held-out in-scope scores)."""
    if not 0.0 < retention <= 1.0:
        raise UsageError(f"target retention must be in (0, 1], got {retention}")
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        raise UsageError("no held-out scores to calibrate a threshold from")
    # The largest bar that still keeps at least `retention` of the scores.
    ordered = np.sort(arr)
    idx = min(int(np.floor((1.0 - retention) * ordered.size + 1e-9)), ordered.size - 1)
    return float(ordered[idx])


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising held-out negative log-likelihood (grid search, deterministic)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.geomspace(0.05, 20.0, 80):
        p = _softmax(logits / t)[np.arange(len(y)), y]
        nll = -np.log(np.clip(p, 1e-12, None)).mean()
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


class _Rows:
    """Rows of a CSR matrix as plain numpy arrays: routing needs row-times-vector products
    only, and importing SciPy for them would double `coordinator ask`'s start-up."""

    def __init__(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> None:
        self.data, self.indices, self.indptr = data, indices, indptr

    @classmethod
    def of(cls, xc) -> _Rows:
        return cls(np.asarray(xc.data), np.asarray(xc.indices), np.asarray(xc.indptr))

    def take(self, rows: np.ndarray) -> _Rows:
        starts, ends = self.indptr[rows], self.indptr[rows + 1]
        lengths = ends - starts
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        idx = idx + np.arange(int(lengths.sum()))
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return _Rows(self.data[idx], self.indices[idx], indptr)

    def dot(self, q: np.ndarray) -> np.ndarray:
        """(rows,) products of every row with the dense vector `q`."""
        prod = self.data * q[self.indices]
        sums = np.add.reduceat(prod, self.indptr[:-1]) if prod.size else np.zeros(0)
        out = np.zeros(len(self.indptr) - 1, dtype=np.float32)
        nonempty = self.indptr[1:] > self.indptr[:-1]
        out[nonempty] = sums[nonempty] if prod.size else 0.0
        return out


class ClassifierRouter:
    """Logistic regression on char n-grams + embeddings, similarity-based OOS rejection.

    Example::

        router = ClassifierRouter(load_routes(), examples=[("refund order 7", "refund")],
                                  outliers=["tell me a joke", "who won the 1998 world cup"])
        router.save("model/")
        same = ClassifierRouter.load("model/", load_routes())
    """

    method = "classifier"

    def __init__(
        self,
        routes: RouteSet,
        *,
        examples: Sequence[tuple[str, str]] = (),
        outliers: Sequence[str] = (),
        outlier_weight: float = OUTLIER_WEIGHT,
        encoder=None,
        threshold: float | None = None,
        target_retention: float = 0.95,
        k: int = 3,
        c: float = 10.0,
        seed: int = 0,
        folds: int = 5,
        features: Features = "hybrid",
        char_weight: float = CHAR_WEIGHT,
        _state: dict[str, Any] | None = None,
    ) -> None:
        self.routes = routes
        self.encoder = encoder or routing_encoder()
        if _state is not None:
            self._restore(_state)
        else:
            if features not in ("embedding", "hybrid"):
                raise UsageError(f"unknown features {features!r}; use embedding or hybrid")
            if outlier_weight <= 0:
                raise UsageError(f"outlier weight must be positive, got {outlier_weight}")
            self.features = features
            self.char_weight = char_weight if features == "hybrid" else 0.0
            self._train(examples, outliers, outlier_weight, target_retention, k, c, seed, folds)
        if threshold is not None:
            self.threshold = float(threshold)

    # --- features ----------------------------------------------------------------------------

    @property
    def _a(self) -> float:  # char block scale
        return float(np.sqrt(self.char_weight))

    @property
    def _b(self) -> float:  # embedding block scale
        return float(np.sqrt(1.0 - self.char_weight))

    def _design(self, x: np.ndarray, xc):
        """The joint feature matrix logistic regression is trained on."""
        if self._chars is None:
            return x
        # deferred: scipy/scikit-learn (~1 s) only when a model is built or trained, not loaded
        from scipy.sparse import csr_matrix, hstack

        return hstack([xc * self._a, csr_matrix(x * self._b)], format="csr")

    def _block_sims(self, x: np.ndarray, xc, xc_t) -> np.ndarray:
        """Joint cosine similarities of training rows (`x`, `xc`) to every stored example."""
        sims = x @ self._x.T * (self._b**2)  # incl. the negatives
        if self._chars is not None:
            sims += (xc @ xc_t).toarray() * (self._a**2)
        return sims

    def _query(self, text: str) -> tuple[np.ndarray, tuple]:
        """(logits incl. the none class, probe) of one request; the probe feeds `_probe_score`."""
        v = self.encoder.embed(text)
        logits = self._coef @ v + self._bias
        q = None
        if self._chars is not None:
            idx, val = self._chars.transform_one(text)
            if idx.size:
                logits = logits + self._coef_char[:, idx] @ val
                q = np.zeros(self._chars.dim, dtype=np.float32)
                q[idx] = val
        return logits, (v, q)

    def _rows_of(self, group: int) -> tuple[np.ndarray, _Rows | None]:
        """Embeddings and char rows of one route's examples (-1: the negatives), cached:
        a request is compared with its best route's examples only, never all of them."""
        hit = self._blocks.get(group)
        if hit is None:
            rows = self._neg if group < 0 else self._groups[group]
            xc = self._xc.take(rows) if self._xc is not None else None
            hit = self._blocks[group] = (self._x[rows], xc)
        return hit

    def _probe_sims(self, group: int, probe: tuple) -> np.ndarray:
        v, q = probe
        x, xc = self._rows_of(group)
        sims = (x @ v) * (self._b**2)
        if q is not None and xc is not None:
            sims = sims + xc.dot(q) * (self._a**2)
        return sims

    def _probe_score(self, p_top: float, pred: int, probe: tuple) -> float:
        near = self._topk(self._probe_sims(pred, probe))
        other = self._topk(self._probe_sims(-1, probe)) if self._neg.size else None
        return self._score(p_top, near, other)

    # --- training ----------------------------------------------------------------------------

    def _train(
        self,
        examples: Sequence[tuple[str, str]],
        outliers: Sequence[str],
        outlier_weight: float,
        retention: float,
        k: int,
        c: float,
        seed: int,
        folds: int,
    ) -> None:
        # deferred: scikit-learn only when training (a cached model loads without it)
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        names = [r.name for r in self.routes.scored]
        index = {n: i for i, n in enumerate(names)}
        texts: list[str] = []
        labels: list[int] = []
        oos: list[str] = []
        for r in self.routes.scored:
            texts.extend(r.utterances)
            labels.extend([index[r.name]] * len(r.utterances))
        for text, route in examples:
            if not route or route == self.routes.fallback:
                oos.append(text)
            elif route in index:
                texts.append(text)
                labels.append(index[route])
            else:
                raise UsageError(f"training row names unknown route {route!r} (text {text!r})")
        # de-duplicate (text, label) pairs, keep order
        pairs = list(dict.fromkeys(zip(texts, labels, strict=True)))
        texts = [t for t, _ in pairs]
        y = np.asarray([lab for _, lab in pairs])
        present = sorted(set(y.tolist()))
        if len(present) < 2:
            raise UsageError("a classifier needs examples for at least two routes")
        seen = set(texts)
        fallback = self.routes.get(self.routes.fallback)
        fb_utterances = fallback.utterances if fallback else ()
        fb_neg = [u for u in dict.fromkeys(fb_utterances) if u not in seen]
        seen |= set(fb_neg)
        if outliers:  # plus junk no question corpus holds (see `synthetic_noise`)
            outliers = [*outliers, *synthetic_noise(max(50, len(outliers) // 15), seed=seed)]
        exposure = [t for t in dict.fromkeys(outliers) if t not in seen]
        n_in, n_fb, n_out = len(texts), len(fb_neg), len(exposure)
        none = len(names) if n_out else None  # the "none of these" class, trained only with OE
        n_cls = len(names) + (1 if n_out else 0)

        # Rows: in-scope | fallback utterances (negatives) | exposure. The first two are
        # stored for the similarity factor; exposure only trains the none class (a corpus
        # of thousands would cost megabytes on disk and a millisecond a request).
        all_texts = texts + fb_neg + exposure
        n_store = n_in + n_fb
        # Stored as float16 (half the bytes; cosines to ~3 decimals): round now, so a
        # loaded model decides exactly as the one trained in memory.
        x_all = self.encoder.embed(all_texts).astype(np.float16).astype(np.float32)
        self._x = x_all[:n_store]
        self._y = np.concatenate([y, np.full(n_fb, -1)]).astype(np.int64)
        self.names = names
        self.k = k
        self.target_retention = retention
        self.n_outliers = n_out
        self._groups = [np.flatnonzero(self._y == i) for i in range(len(names))]
        self._neg = np.flatnonzero(self._y == -1)
        chars = CharFeatures.fit(texts + exposure) if self.features == "hybrid" else None
        self._chars = chars
        xc_all = chars.transform(all_texts) if chars is not None else None

        # Logistic regression rows: in-scope + exposure (label `none`), exposure weighted so
        # the none class weighs `outlier_weight` average routes, whatever the corpus size.
        fit_rows = np.concatenate([np.arange(n_in), np.arange(n_in + n_fb, n_in + n_fb + n_out)])
        y_fit = np.concatenate([y, np.full(n_out, none if none is not None else -1)])
        w_fit = np.ones(len(fit_rows))
        if n_out:
            w_fit[n_in:] = outlier_weight * (n_in / len(present)) / n_out
        x_fit = x_all[fit_rows]
        xc_fit = xc_all[fit_rows] if xc_all is not None else None
        design = self._design(x_fit, xc_fit)

        def make() -> LogisticRegression:
            return LogisticRegression(C=c, max_iter=3000)

        # Held-out logits: k-fold when every class has >= 2 examples, else in-sample.
        counts = np.bincount(y_fit, minlength=n_cls)[sorted(set(y_fit.tolist()))]
        n_splits = int(min(folds, counts.min()))
        cv_logits = np.full((len(y_fit), n_cls), -1e9)
        if n_splits >= 2:
            skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            for tr, te in skf.split(x_fit, y_fit):
                m = make().fit(design[tr], y_fit[tr], sample_weight=w_fit[tr])
                coef, bias = self._coef_of(m)
                cv_logits[np.ix_(te, m.classes_)] = design[te] @ coef.T + bias
            held_out = True
        else:
            held_out = False
        model = make().fit(design, y_fit, sample_weight=w_fit)
        coef, bias = self._coef_of(model)
        dim = self._x.shape[1]
        n_char = chars.dim if chars is not None else 0
        self._coef = np.zeros((n_cls, dim), dtype=np.float32)
        self._coef_char = np.zeros((n_cls, n_char), dtype=np.float32)
        self._bias = np.full(n_cls, -1e9, dtype=np.float32)  # routes without data
        if chars is not None:  # fold the block scales into the weights
            self._coef_char[model.classes_] = coef[:, :n_char] * self._a
            self._coef[model.classes_] = coef[:, n_char:] * self._b
        else:
            self._coef[model.classes_] = coef
        self._bias[model.classes_] = bias
        if not held_out:
            cv_logits = np.asarray(design @ coef.T + bias)
        self.temperature = _fit_temperature(cv_logits, y_fit)
        cv_p = _softmax(cv_logits / self.temperature)
        cv_pred = cv_p[:, : len(names)].argmax(axis=1)

        # Held-out in-scope score of every fitted row (an example never supports itself).
        xc_store = xc_all[:n_store] if xc_all is not None else None
        xc_t = xc_store.T.tocsr() if xc_store is not None else None
        fit_scores = np.zeros(len(fit_rows))
        for start in range(0, len(fit_rows), 512):  # blocks: n x n sims never all in memory
            block = np.arange(start, min(start + 512, len(fit_rows)))
            rows = fit_rows[block]
            sims = self._block_sims(x_all[rows], xc_all[rows] if xc_all is not None else None, xc_t)
            own = rows < n_store  # stored rows (in-scope) never support themselves
            sims[np.flatnonzero(own), rows[own]] = -np.inf
            for j, i in enumerate(block):
                fit_scores[i] = self._in_scope(cv_p[i, cv_pred[i]], sims[j], cv_pred[i])
        # How much likelier "none of these" is than the best route (log ratio), held out.
        top = cv_p[np.arange(len(y_fit)), cv_pred]
        ratio = (
            np.log(np.clip(cv_p[:, none], 1e-12, None)) - np.log(np.clip(top, 1e-12, None))
            if none is not None
            else np.full(len(y_fit), -np.inf)
        )
        self.cv_raw, self.cv_none = fit_scores[:n_in], ratio[:n_in]
        self.outlier_cv_raw, self.outlier_cv_none = fit_scores[n_in:], ratio[n_in:]
        self.cv_labels = y
        self._xc = _Rows.of(xc_store) if xc_store is not None else None
        self._blocks: dict[int, tuple[np.ndarray, _Rows | None]] = {}
        self.retain(retention)
        self.oos_scores = np.asarray([self.in_scope_score(t)[1] for t in oos])
        self.metrics = self._metrics(held_out, n_splits, cv_pred[:n_in], y, len(oos))

    def _metrics(self, held_out: bool, n_splits: int, cv_pred, y, n_oos: int) -> dict[str, Any]:
        kept = self._passes(self.cv_scores, self._bars(self.cv_labels))
        exp_rejected = (
            ~self._passes(self.outlier_cv_scores, self.threshold) if self.n_outliers else None
        )
        return {
            "held_out": held_out,
            "cv_folds": n_splits if held_out else 0,
            "cv_accuracy": round(float((cv_pred == y).mean()), 4),
            "cv_retention": round(float(kept.mean()), 4),
            "cv_in_scope_accuracy": round(float(((cv_pred == y) & kept).mean()), 4),
            "outlier_examples": self.n_outliers,
            "outlier_recall": (
                round(float(exp_rejected.mean()), 4) if exp_rejected is not None else None
            ),
            "oos_examples": n_oos,
            "oos_recall": (
                round(float((~self._passes(self.oos_scores, self.threshold)).mean()), 4)
                if n_oos
                else None
            ),
            "per_route_examples": {
                n: int(c)
                for n, c in zip(self.names, np.bincount(y, minlength=len(self.names)), strict=True)
            },
            "route_bars": {
                n: round(float(self.threshold + o), 4)
                for n, o in zip(self.names, self.route_offsets, strict=True)
            },
        }

    @staticmethod
    def _coef_of(model) -> tuple[np.ndarray, np.ndarray]:
        coef, bias = model.coef_, model.intercept_
        if coef.shape[0] == 1:  # binary LR stores one row: class 1 vs class 0
            coef = np.vstack([-coef[0] / 2, coef[0] / 2])
            bias = np.asarray([-bias[0] / 2, bias[0] / 2])
        return coef.astype(np.float32), bias.astype(np.float32)

    def _topk(self, s: np.ndarray) -> float | None:
        s = s[np.isfinite(s)]
        if s.size == 0:
            return None
        kk = min(self.k, s.size)
        return float(np.partition(s, s.size - kk)[-kk:].mean())

    @staticmethod
    def _score(p_top: float, near: float | None, other: float | None) -> float:
        if near is None:
            return 0.0
        # Closer to the negatives' examples than to the route's: lose the difference twice.
        if other is not None and other > near:
            near -= other - near
        return float(np.sqrt(max(p_top, 0.0)) * max(near, 0.0))

    def _in_scope(self, p_top: float, sims_row: np.ndarray, pred: int) -> float:
        """The in-scope score from similarities to every stored example (training, CV)."""
        near = self._topk(sims_row[self._groups[pred]])
        other = self._topk(sims_row[self._neg]) if self._neg.size else None
        return self._score(p_top, near, other)

    # --- calibration -------------------------------------------------------------------------

    def _none_margin(self, retention: float) -> float:
        """How much likelier than the best route the none class must be to claim a request:
        the margin that claims at most half the rejection budget of held-out in-scope
        examples (never less than 0: none must at least be the likeliest class)."""
        finite = self.cv_none[np.isfinite(self.cv_none)]
        if finite.size == 0:
            return float("inf")
        return max(0.0, float(np.quantile(self.cv_none, 1.0 - (1.0 - retention) / 2)))

    def _with_none(self, raw: np.ndarray, none: np.ndarray, margin: float) -> np.ndarray:
        return np.where(none > margin, NONE_WINS, raw)

    def calibrate(self, retention: float) -> float:
        """Global threshold for another retention target, from the stored held-out scores
        (with the none margin that retention implies)."""
        scores = self._with_none(self.cv_raw, self.cv_none, self._none_margin(retention))
        return threshold_for_retention(scores, retention)

    def retain(self, retention: float) -> float:
        """Set the none margin, the global bar and each route's shrunk bar so that about
        `retention` of held-out in-scope examples are kept."""
        self.none_margin = self._none_margin(retention)
        self.cv_scores = self._with_none(self.cv_raw, self.cv_none, self.none_margin)
        self.outlier_cv_scores = self._with_none(
            self.outlier_cv_raw, self.outlier_cv_none, self.none_margin
        )
        self.__dict__.pop("_spread", None)
        self.threshold = threshold_for_retention(self.cv_scores, retention)
        offsets = np.zeros(len(self.names), dtype=np.float64)
        for i in range(len(self.names)):
            # Among the examples the none class left: what it claims is already spent from
            # the budget (the none margin). Counting it here too sank the bar of a small route
            # below every score, so anything nearest that route passed ("tell me a joke" went
            # to escalation at 0.75).
            mine = self.cv_labels == i
            own = self.cv_scores[mine & (self.cv_scores >= 0)]
            if own.size:
                # the share of the route to keep among them: the target, as far as it can be
                t_r = threshold_for_retention(own, min(1.0, retention * mine.sum() / own.size))
                offsets[i] = own.size * (t_r - self.threshold) / (own.size + ROUTE_SHRINK)
        self.route_offsets = offsets
        return self.threshold

    @staticmethod
    def _passes(scores, bars):
        """In scope: at or above the bar, and not claimed by the none class."""
        return (np.asarray(scores) >= 0) & (np.asarray(scores) >= bars)

    @functools.cached_property
    def _spread(self) -> float:
        ok = self.cv_scores[self.cv_scores >= 0]
        return max(float(np.std(ok)) if ok.size else 0.0, 1e-3) / 4

    def _bars(self, routes: np.ndarray) -> np.ndarray:
        return self.threshold + self.route_offsets[routes]

    def in_scope_score(self, text: str) -> tuple[str, float]:
        """Best route and its score *relative to the global bar* (route offsets removed), so
        one number compares with `threshold` whatever route the request went to."""
        logits, probe = self._query(text)
        p = _softmax(logits / self.temperature)
        best = int(p[: len(self.names)].argmax())
        score = self._scored(p, best, probe)
        if score < 0:
            return self.names[best], score
        return self.names[best], score - float(self.route_offsets[best])

    def _scored(self, p: np.ndarray, best: int, probe: tuple) -> float:
        """The in-scope score of a request with class probabilities `p` (incl. none)."""
        if (
            len(p) > len(self.names)
            and np.log(max(p[-1], 1e-12)) - np.log(max(p[best], 1e-12)) > self.none_margin
        ):
            return NONE_WINS
        return self._probe_score(float(p[best]), best, probe)

    # --- routing -------------------------------------------------------------------------------

    def scores(self, text: str) -> dict[str, float]:
        """Calibrated probability per route, among the routes (the none class left out)."""
        p = _softmax(self._query(text)[0] / self.temperature)[: len(self.names)]
        return dict(zip(self.names, (p / max(float(p.sum()), 1e-12)).tolist(), strict=True))

    def route(self, text: str) -> Decision:
        t0 = time.perf_counter()
        logits, probe = self._query(text)
        p = _softmax(logits / self.temperature)
        best = int(p[: len(self.names)].argmax())
        score = self._scored(p, best, probe)
        bar = self.threshold + float(self.route_offsets[best])
        confident = bool(self._passes(score, bar))
        # Probability of the route, discounted by how typical the request is (0.5x at the bar).
        # Among routes only: the none class acts through the score above, so confidences and
        # margins mean what they meant without exposure (split and clarify rules use them).
        routes_p = p[: len(self.names)] / max(float(p[: len(self.names)].sum()), 1e-12)
        typical = 1.0 / (1.0 + np.exp(-(max(score, 0.0) - bar) / self._spread))
        return Decision(
            route=self.names[best] if confident else self.routes.fallback,
            confidence=round(float(routes_p[best]) * float(typical), 4),
            scores={n: round(float(s), 4) for n, s in zip(self.names, routes_p, strict=True)},
            method="classifier",
            confident=bool(confident),
            candidate=self.names[best],
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    # --- persistence --------------------------------------------------------------------------

    def manifest(self) -> Manifest:
        return Manifest(
            routes_fingerprint=self.routes.fingerprint(),
            routes=list(self.names),
            fallback=self.routes.fallback,
            encoder=getattr(self.encoder, "name", type(self.encoder).__name__),
            features=self.features,
            char_weight=self.char_weight,
            threshold=float(self.threshold),  # exact: calibrate() must reproduce it
            target_retention=self.target_retention,
            temperature=self.temperature,
            k=self.k,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            n_train=int((self._y >= 0).sum()),
            metrics=self.metrics,
            n_outliers=self.n_outliers,
        )

    def save(self, model_dir: str | Path) -> Path:
        """Write `router.npz` + `manifest.json` into `model_dir` (created)."""
        out = Path(model_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {
            "x": self._x.astype(np.float16),  # cosines to 3 decimals; half the bytes
            "y": self._y,
            "coef": self._coef,
            "bias": self._bias,
            "cv_scores": self.cv_scores,
            "cv_raw": self.cv_raw,
            "cv_none": self.cv_none,
            "outlier_cv_raw": self.outlier_cv_raw,
            "outlier_cv_none": self.outlier_cv_none,
            "none_margin": np.asarray(self.none_margin),
            "cv_labels": self.cv_labels,
            "route_offsets": self.route_offsets,
            "outlier_cv_scores": self.outlier_cv_scores,
            "oos_scores": self.oos_scores,
        }
        if self._chars is not None and self._xc is not None:
            state |= {
                "char_vocab": self._chars.vocabulary,
                "char_idf": self._chars.idf,
                "coef_char": self._coef_char,
                "xc_data": self._xc.data,
                "xc_indices": self._xc.indices,
                "xc_indptr": self._xc.indptr,
            }
        np.savez_compressed(out / WEIGHTS, **state)
        (out / MANIFEST).write_text(self.manifest().model_dump_json(indent=2) + "\n")
        return out

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        routes: RouteSet,
        *,
        encoder=None,
        threshold: float | None = None,
    ) -> ClassifierRouter:
        """Load a model dir written by `save()`; its routes must exist in `routes`."""
        d = Path(model_dir)
        manifest = read_manifest(d)
        if not (d / WEIGHTS).is_file():
            raise ConfigError(f"missing {WEIGHTS} (not a trained router dir)", path=str(d))
        unknown = [n for n in manifest.routes if n not in {r.name for r in routes.scored}]
        if unknown:
            raise ConfigError(
                f"model was trained on routes {unknown} that the routes file does not define",
                path=str(d / MANIFEST),
                where="routes",
            )
        if manifest.routes_fingerprint != routes.fingerprint():
            log.info("router model %s was trained on a different revision of the routes", d)
        try:
            with np.load(d / WEIGHTS, allow_pickle=False) as arrays:
                state: dict[str, Any] = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"unreadable {WEIGHTS}: {exc}", path=str(d)) from None
        state["manifest"] = manifest
        return cls(routes, encoder=encoder, threshold=threshold, _state=state)

    def _restore(self, state: dict[str, Any]) -> None:
        m: Manifest = state["manifest"]
        self.features = m.features
        self.char_weight = m.char_weight
        self.names = list(m.routes)
        self.k = m.k
        self.temperature = m.temperature
        self.threshold = m.threshold
        self.target_retention = m.target_retention
        self.metrics = dict(m.metrics)
        self.n_outliers = m.n_outliers
        self._x = np.asarray(state["x"], dtype=np.float32)
        self._y = state["y"]
        self._coef = state["coef"]
        self._bias = state["bias"]
        self.cv_scores = state["cv_scores"]
        self.oos_scores = state["oos_scores"]
        n = len(self.names)
        # format 1 (no per-route bars, no exposure) loads with zero offsets
        self.route_offsets = state.get("route_offsets", np.zeros(n))
        self.cv_labels = state.get("cv_labels", np.zeros(len(self.cv_scores), dtype=np.int64))
        self.outlier_cv_scores = state.get("outlier_cv_scores", np.zeros(0))
        self.cv_raw = state.get("cv_raw", self.cv_scores)
        self.cv_none = state.get("cv_none", np.full(len(self.cv_scores), -np.inf))
        self.outlier_cv_raw = state.get("outlier_cv_raw", self.outlier_cv_scores)
        self.outlier_cv_none = state.get(
            "outlier_cv_none", np.full(len(self.outlier_cv_raw), -np.inf)
        )
        self.none_margin = float(state.get("none_margin", np.inf))
        self._groups = [np.flatnonzero(self._y == i) for i in range(n)]
        self._neg = np.flatnonzero(self._y == -1)
        self._blocks = {}
        if m.features == "hybrid":
            self._chars = CharFeatures(state["char_vocab"], state["char_idf"])
            self._xc = _Rows(state["xc_data"], state["xc_indices"], state["xc_indptr"])
            self._coef_char = state["coef_char"]
        else:
            self._chars = None
            self._xc = None
            self._coef_char = np.zeros((len(self._bias), 0), dtype=np.float32)


MAX_MANIFEST_BYTES = 4_000_000


def read_manifest(model_dir: str | Path) -> Manifest:
    """The manifest of a model dir, or `ConfigError` naming the file."""
    path = Path(model_dir) / MANIFEST
    try:  # bounded, regular files only: a hostile model dir fails in one line
        data = read_bounded(path, MAX_MANIFEST_BYTES, missing="no such file")
    except UsageError as exc:
        if str(exc).endswith(": no such file"):
            raise ConfigError(
                "no manifest.json: not a trained router dir", path=str(model_dir)
            ) from None
        raise ConfigError(f"not a trained router dir: {exc}") from None
    try:
        return Manifest.model_validate_json(data)
    except ValueError as exc:
        raise ConfigError(f"invalid manifest: {str(exc).splitlines()[0]}", path=str(path)) from None


def write_threshold(model_dir: str | Path, threshold: float, retention: float | None) -> Path:
    """Update the stored threshold (used by `routes retune --apply`)."""
    m = read_manifest(model_dir)
    update: dict[str, Any] = {"threshold": round(float(threshold), 6)}
    if retention is not None:
        update["target_retention"] = retention
    path = Path(model_dir) / MANIFEST
    path.write_text(m.model_copy(update=update).model_dump_json(indent=2) + "\n")
    return path
