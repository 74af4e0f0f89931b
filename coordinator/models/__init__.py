"""Model selection: one place turns a *role* into a concrete ADK model.

Roles: "router" (the coordinator's LLM fallback), "cheap" and "strong" (complexity tiers).
With Gemini credentials (or COORDINATOR_MODE=gemini) a role maps to `Gemini(model=...)`
using the names from settings; otherwise to an `OfflineLlm` running the agent's
deterministic policy. Agents never name a model themselves.
"""

from __future__ import annotations

from typing import Literal

from google.adk.models.base_llm import BaseLlm
from google.genai import types

from coordinator.models.offline import OfflineLlm, Policy
from coordinator.settings import Settings, get_settings

__all__ = ["Role", "gemini_model", "is_offline", "resolve_model"]

Role = Literal["router", "cheap", "strong"]


def gemini_model(name: str, settings: Settings | None = None) -> BaseLlm:
    """An ADK `Gemini` model honouring the base-URL override and retrying 429/5xx."""
    from google.adk.models.google_llm import Gemini

    s = settings or get_settings()
    return Gemini(
        model=name,
        base_url=s.gemini_base_url,
        retry_options=types.HttpRetryOptions(
            attempts=max(1, s.branch_retries + 1),
            initial_delay=0.5,
            max_delay=8.0,
            http_status_codes=[408, 429, 500, 502, 503, 504],
        ),
    )


def resolve_model(
    role: Role, *, name: str, policy: Policy, settings: Settings | None = None
) -> BaseLlm:
    """The model an agent should use for `role`; `policy` is its offline behaviour."""
    s = settings or get_settings()
    if s.use_gemini:
        model_name = {"router": s.model_router, "cheap": s.model_fast, "strong": s.model_strong}[
            role
        ]
        return gemini_model(model_name, s)
    return OfflineLlm(model=f"offline/{name}", policy=policy)


def is_offline(model: BaseLlm | str) -> bool:
    return isinstance(model, OfflineLlm)
