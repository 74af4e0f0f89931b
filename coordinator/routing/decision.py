"""What a router decides, and what a router is: the types the routers and the cascade share.

Kept apart from `coordinator.routing.router` (which builds routers) so that a router
implementation such as `coordinator.routing.classifier` can return a `Decision` without importing
the module that chooses between implementations.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from coordinator.routing.routes import RouteSet

__all__ = ["Decision", "Method", "Router"]

Method = Literal[
    "embedding", "classifier", "llm", "fallback", "pending", "clarify", "escalation", "multi"
]


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
