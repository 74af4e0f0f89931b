"""Routers: text -> (route, confidence, per-route scores), behind one interface.

Every router returns a `Decision`. `confident` is False when the best score is under the
router's threshold; the cascade then asks the LLM (if a real one is configured) or sends
the request to the fallback route. Thresholds are *calibrated from data*, never a magic
constant: `EmbeddingRouter` holds out each route utterance in turn (leave-one-out) and
sets the threshold so that a target share of in-scope utterances is still accepted;
`ClassifierRouter` (coordinator.routing.classifier) does the same with cross-validated scores.

Methods: `embedding` (nearest examples), `classifier` (trained, calibrated, saved with
`coordinator routes train`), `llm` (Gemini names the route; not available offline) and
`auto` (a trained model dir if given, else a classifier when the routes have enough
utterances, else embedding). See `build_router`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np

from coordinator.errors import UsageError
from coordinator.routing.classifier import ClassifierRouter
from coordinator.routing.decision import Decision, Method, Router
from coordinator.routing.encoder import routing_encoder
from coordinator.routing.routes import RouteSet
from coordinator.settings import get_settings

log = logging.getLogger(__name__)

__all__ = [
    "METHODS",
    "Decision",
    "EmbeddingRouter",
    "LlmRouter",
    "Method",
    "Router",
    "build_router",
]

METHODS = ("auto", "embedding", "classifier", "llm")
# `auto` trains a classifier in memory when every route has at least this many utterances.
AUTO_MIN_UTTERANCES = 8


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
        self.routes = routes
        self.encoder = encoder or routing_encoder()
        self.k = k
        self._names = [r.name for r in routes.scored]
        texts: list[str] = []
        labels: list[int] = []
        for i, r in enumerate(routes.scored):
            texts.extend(r.utterances)
            labels.extend([i] * len(r.utterances))
        self._matrix = self.encoder.embed(texts)
        self._labels = np.asarray(labels)
        self._groups = [np.flatnonzero(self._labels == i) for i in range(len(self._names))]
        self.target_retention = target_retention
        self.threshold = threshold if threshold is not None else self._calibrate(target_retention)

    def _route_scores(self, sims: np.ndarray) -> np.ndarray:
        out = np.full(len(self._names), -1.0, dtype=np.float32)
        for i, idx in enumerate(self._groups):
            s = sims[idx]
            s = s[np.isfinite(s)]
            if s.size:
                k = min(self.k, s.size)
                out[i] = float(np.partition(s, s.size - k)[-k:].mean())
        return out

    @functools.cached_property
    def cv_scores(self) -> np.ndarray:
        """Leave-one-out top scores of the utterances (each held out from its own route)."""
        sims_all = self._matrix @ self._matrix.T
        tops = []
        for j in range(len(self._labels)):
            sims = sims_all[j].copy()
            sims[j] = -np.inf  # hold the example out
            tops.append(self._route_scores(sims).max())
        return np.asarray(tops, dtype=np.float64)

    def _calibrate(self, retention: float) -> float:
        """Leave-one-out: the score quantile that keeps `retention` of in-scope examples."""
        return float(np.quantile(self.cv_scores, 1.0 - retention))

    def in_scope_score(self, text: str) -> tuple[str, float]:
        """Best route and the score the threshold is compared with."""
        scores = self.scores(text)
        best = max(scores, key=scores.__getitem__)
        return best, scores[best]

    def calibrate(self, retention: float) -> float:
        """Threshold keeping `retention` of held-out (leave-one-out) utterances."""
        return self._calibrate(retention)

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


class LlmRouter:
    """Asks a model to name the route (Gemini via ADK's `BaseLlm`; unavailable offline).

    The prompt lists route names and descriptions; the answer is matched to a route name,
    anything else becomes the fallback (an LLM naming an unknown route never crashes).
    """

    method = "llm"

    def __init__(self, routes: RouteSet, *, llm=None) -> None:
        if llm is None:
            # deferred: coordinator.models.roles imports ADK's model classes; only this method needs
            # them
            from coordinator.models.roles import remote_model

            llm = remote_model("router", get_settings())
            if llm is None:
                raise UsageError(
                    "router method 'llm' needs a real model: set GOOGLE_API_KEY (or Vertex "
                    "settings) and COORDINATOR_MODE=auto|gemini, or a LiteLLM name in "
                    "COORDINATOR_MODEL_ROUTER; offline use embedding, classifier or auto"
                )
        self.routes = routes
        self.llm = llm
        listing = "\n".join(f"- {n}: {routes.description(n)}" for n in routes.names)
        self.instruction = (
            "You route customer requests to exactly one destination. Destinations:\n"
            f"{listing}\n"
            f"Answer with the destination name only. If none fits, answer {routes.fallback}."
        )

    def _ask(self, text: str) -> str:
        # deferred: ADK's request type (with the ADK import) only for the llm method
        from google.adk.models.llm_request import LlmRequest
        from google.genai import types

        request = LlmRequest(
            model=getattr(self.llm, "model", None),
            contents=[types.Content(role="user", parts=[types.Part(text=text)])],
            config=types.GenerateContentConfig(system_instruction=self.instruction, temperature=0),
        )

        async def call() -> str:
            out = ""
            async for resp in self.llm.generate_content_async(request, stream=False):
                if resp.content and resp.content.parts:
                    out += "".join(p.text or "" for p in resp.content.parts)
            return out

        # route() is sync and may be called from inside an event loop: use a worker thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, call()).result()

    def route(self, text: str) -> Decision:
        t0 = time.perf_counter()
        answer = self._ask(text).strip().strip("`'\".").lower()
        names = {n.lower(): n for n in self.routes.names}
        chosen = names.get(answer) or next(
            (n for low, n in names.items() if low in answer.split()), None
        )
        known = chosen is not None
        route = chosen if known else self.routes.fallback
        return Decision(
            route=route,
            confidence=1.0 if known else 0.0,
            scores={n: float(n == route) for n in self.routes.names},
            method="llm" if known else "fallback",
            confident=known and route != self.routes.fallback,
            candidate=route,
            latency_ms=(time.perf_counter() - t0) * 1000,
        )


def build_router(
    routes: RouteSet,
    *,
    method: str = "auto",
    threshold: float | None = None,
    model_dir: str | Path | None = None,
    target_retention: float = 0.95,
):
    """The router for `method`.

    * `embedding`: nearest-examples similarity (works from a handful of utterances).
    * `classifier`: the trained model in `model_dir`, else one trained now on the utterances.
    * `llm`: the configured Gemini model names the route (not available offline).
    * `auto`: the model in `model_dir` if given; else a classifier when every route has
      `AUTO_MIN_UTTERANCES` utterances; else embedding.
    """
    if method not in METHODS:
        raise UsageError(f"unknown router method {method!r}; choose one of {', '.join(METHODS)}")
    if method == "llm":
        return LlmRouter(routes)
    if method == "embedding":
        return EmbeddingRouter(routes, threshold=threshold, target_retention=target_retention)
    if model_dir is not None:
        return ClassifierRouter.load(model_dir, routes, threshold=threshold)
    enough = min(len(r.utterances) for r in routes.scored) >= AUTO_MIN_UTTERANCES
    if method == "classifier" or (enough and len(routes.scored) >= 2):
        router = copy.copy(_trained_classifier(routes, target_retention))
        if threshold is not None:
            router.threshold = float(threshold)
        return router
    return EmbeddingRouter(routes, threshold=threshold, target_retention=target_retention)


@functools.lru_cache(maxsize=8)
def _trained_classifier(routes: RouteSet, target_retention: float):
    """One training per route definition, cached in memory and in the data dir.

    Training costs seconds (scikit-learn import + cross-validation); loading the cached
    arrays costs milliseconds, so every later process (adk web, api_server replicas, the
    CLI) starts fast. The cache key is the routes' fingerprint: editing the routes retrains.
    """
    encoder = routing_encoder().name.replace("/", "_")
    key = f"{routes.fingerprint()}-{encoder}-hybrid-r{target_retention:g}"
    cache = get_settings().data_dir / "router-cache" / key
    if cache.is_dir():
        try:
            return ClassifierRouter.load(cache, routes)
        except Exception:  # a damaged cache is rebuilt, never fatal
            log.warning("router cache %s unreadable; retraining", cache)
    router = ClassifierRouter(routes, target_retention=target_retention)
    try:
        tmp = cache.with_name(f"{key}.tmp-{os.getpid()}")
        router.save(tmp)
        os.replace(tmp, cache)  # atomic: concurrent processes never see half a model
    except OSError as exc:
        if not cache.is_dir():
            log.warning("could not cache the trained router in %s: %s", cache, exc)
        shutil.rmtree(tmp, ignore_errors=True)
    return router
