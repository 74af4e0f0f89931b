"""Per-request accounting: LLM calls, tokens, latency, critical path and an estimated cost.

Two ways to combine usages, because fan-outs and pipelines differ:

- ``a + b`` (or ``Usage.merge([...])``) combines *concurrent* work: counts and summed latency
  add up, the critical path is the slower of the two.
- ``a.then(b)`` combines *sequential* work: the critical paths add up too.

Example::

    u = Usage.from_response(resp, latency_ms=210.0, model="gemini-2.5-flash")
    total = Usage.merge(branch_usages)        # a fan-out
    request = split_usage.then(total)          # split, then fan out

`cost_estimate_usd` is an ESTIMATE from the list prices in `PRICES_PER_MTOK` (USD per
million tokens, public list prices at the time of writing); it is not a bill and is None
when the model's price is unknown. Offline models cost 0.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

__all__ = ["PRICES_PER_MTOK", "Usage", "estimate_cost_usd"]

# (input, output) USD per 1M tokens: public list prices, standard tier, short prompts.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.0-flash-lite": (0.075, 0.30),
}


def estimate_cost_usd(
    model: str | None, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """Estimated USD for one call from list prices; 0 offline; None when the price is unknown."""
    price = _price(model) if model else None
    if price is None:
        return None
    pin, pout = price
    return (prompt_tokens * pin + completion_tokens * pout) / 1_000_000


@functools.lru_cache(maxsize=256)
def _price(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens of `model`, looked up once per name: a fan-out
    prices every branch's call, and the prefix search sorts the table each time."""
    if model.startswith("offline/") or model in {"simulated", "scripted"}:
        return (0.0, 0.0)
    name = model.rsplit("/", 1)[-1]
    # Longest known prefix wins so "gemini-2.5-flash-lite-001" is not priced as flash.
    for known in sorted(PRICES_PER_MTOK, key=len, reverse=True):
        if name.startswith(known):
            return PRICES_PER_MTOK[known]
    return None


class Usage(BaseModel):
    """What some work cost. Immutable; combine with ``+`` (concurrent) or ``then`` (sequential)."""

    model_config = ConfigDict(frozen=True)

    llm_calls: int = Field(0, ge=0, description="Model calls made, retries included.")
    prompt_tokens: int = Field(0, ge=0, description="Input tokens (usage_metadata).")
    completion_tokens: int = Field(0, ge=0, description="Output tokens (usage_metadata).")
    latency_ms: float = Field(
        0.0, ge=0, description="Summed wall time of the work (all branches added together)."
    )
    critical_path_ms: float = Field(
        0.0, ge=0, description="Wall time of the slowest chain: what the user waits for."
    )
    cost_estimate_usd: float | None = Field(
        0.0,
        description="ESTIMATE from list prices (PRICES_PER_MTOK), not a bill; "
        "None once any part had an unknown price.",
    )

    @computed_field(description="prompt_tokens + completion_tokens.")  # type: ignore[prop-decorator]
    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_response(
        cls, response: Any, *, latency_ms: float = 0.0, model: str | None = None
    ) -> Usage:
        """One model call's usage from an LlmResponse (or anything with `usage_metadata`)."""
        meta = getattr(response, "usage_metadata", None)
        prompt = int(getattr(meta, "prompt_token_count", None) or 0)
        completion = int(getattr(meta, "candidates_token_count", None) or 0)
        return cls(
            llm_calls=1,
            prompt_tokens=prompt,
            completion_tokens=completion,
            latency_ms=latency_ms,
            critical_path_ms=latency_ms,
            cost_estimate_usd=estimate_cost_usd(model, prompt, completion),
        )

    def _sum(self, other: Usage, critical_path_ms: float) -> Usage:
        cost = (
            None
            if self.cost_estimate_usd is None or other.cost_estimate_usd is None
            else self.cost_estimate_usd + other.cost_estimate_usd
        )
        return Usage(
            llm_calls=self.llm_calls + other.llm_calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_ms=self.latency_ms + other.latency_ms,
            critical_path_ms=critical_path_ms,
            cost_estimate_usd=cost,
        )

    def __add__(self, other: Usage) -> Usage:
        """Concurrent combination: totals add, the critical path is the max."""
        if not isinstance(other, Usage):
            return NotImplemented
        return self._sum(other, max(self.critical_path_ms, other.critical_path_ms))

    def then(self, other: Usage) -> Usage:
        """Sequential combination: totals add and so do the critical paths."""
        return self._sum(other, self.critical_path_ms + other.critical_path_ms)

    def with_critical_path(self, critical_path_ms: float) -> Usage:
        """The same usage with a measured critical path (e.g. a fan-out's wall time)."""
        return self.model_copy(update={"critical_path_ms": critical_path_ms})

    @classmethod
    def merge(cls, usages: Iterable[Usage]) -> Usage:
        """Concurrent combination of many (the empty merge is zero usage)."""
        total = cls()
        for u in usages:
            total = total + u
        return total
