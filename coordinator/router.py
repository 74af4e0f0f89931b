"""Routers: text -> (route, confidence, per-route scores), behind one interface.

Every router returns a `Decision`. `confident` is False when the best score is under the
router's threshold; the cascade then asks the LLM (if a real one is configured) or sends
the request to the fallback route. Thresholds are *calibrated from data*, never a magic
constant: `EmbeddingRouter` holds out each route utterance in turn (leave-one-out) and
sets the threshold so that a target share of in-scope utterances is still accepted.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from coordinator.routes import RouteSet

__all__ = ["Decision", "EmbeddingRouter", "Method", "Router", "build_router"]

Method = Literal["embedding", "classifier", "llm", "fallback", "pending"]


class Decision(BaseModel):
    """One routing decision."""

    model_config = ConfigDict(frozen=True)

    route: str = Field(description="Chosen route name (the fallback when unsure).")
    confidence: float = Field(description="Calibrated confidence in [0, 1] of the top route.")
    scores: dict[str, float] = Field(default_factory=dict, description="Score per route.")
    method: Method = Field(description="What decided: embedding, classifier, llm or fallback.")
    confident: bool = Field(True, description="Top score cleared the router's threshold.")
    candidate: str | None = Field(None, description="Best in-scope route even when unsure.")
    latency_ms: float = Field(0.0, description="Time the router took.")


@runtime_checkable
class Router(Protocol):
    """Anything that routes text. Implementations must be cheap and thread-safe."""

    routes: RouteSet
    method: str

    def route(self, text: str) -> Decision: ...


class EmbeddingRouter:
    """Nearest-examples similarity on WordLlama embeddings (offline, ~0.1 ms a query).

    A route's score is the mean of its top-`k` cosine similarities to the request, which is
    steadier than the single best match on short utterances.
    """

    method = "embedding"

    def __init__(
        self,
        routes: RouteSet,
        *,
        encoder=None,
        k: int = 3,
        threshold: float | None = None,
        target_retention: float = 0.95,
    ) -> None:
        from coordinator.encoder import get_encoder

        self.routes = routes
        self.encoder = encoder or get_encoder()
        self.k = k
        self._names = [r.name for r in routes.scored]
        texts: list[str] = []
        labels: list[int] = []
        for i, r in enumerate(routes.scored):
            texts.extend(r.utterances)
            labels.extend([i] * len(r.utterances))
        self._matrix = self.encoder.embed(texts)
        self._labels = np.asarray(labels)
        self.target_retention = target_retention
        self.threshold = threshold if threshold is not None else self._calibrate(target_retention)

    def _route_scores(self, sims: np.ndarray) -> np.ndarray:
        out = np.full(len(self._names), -1.0, dtype=np.float32)
        for i in range(len(self._names)):
            s = sims[self._labels == i]
            if s.size:
                top = np.sort(s)[-self.k :]
                out[i] = float(top.mean())
        return out

    def _calibrate(self, retention: float) -> float:
        """Leave-one-out: the score quantile that keeps `retention` of in-scope examples."""
        sims_all = self._matrix @ self._matrix.T
        tops = []
        for j in range(len(self._labels)):
            sims = sims_all[j].copy()
            sims[j] = -np.inf  # hold the example out
            scores = self._route_scores(sims)
            tops.append(scores.max())
        return float(np.quantile(np.asarray(tops), 1.0 - retention))

    def scores(self, text: str) -> dict[str, float]:
        sims = self._matrix @ self.encoder.embed(text)
        return dict(zip(self._names, self._route_scores(sims).tolist(), strict=True))

    def route(self, text: str) -> Decision:
        t0 = time.perf_counter()
        scores = self.scores(text)
        best = max(scores, key=scores.__getitem__)
        top = scores[best]
        confident = top >= self.threshold
        # Map the raw cosine onto [0, 1] around the calibrated threshold (0.5 at threshold).
        confidence = float(1.0 / (1.0 + np.exp(-(top - self.threshold) * 12.0)))
        return Decision(
            route=best if confident else self.routes.fallback,
            confidence=round(confidence, 4),
            scores={k: round(v, 4) for k, v in scores.items()},
            method="embedding",
            confident=confident,
            candidate=best,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )


def build_router(routes: RouteSet, *, method: str = "auto", threshold: float | None = None):
    """The router for `method` ("auto" picks the best available offline router)."""
    if method in ("auto", "embedding"):
        return EmbeddingRouter(routes, threshold=threshold)
    from coordinator.errors import UsageError

    raise UsageError(f"router method {method!r} is not available")
