"""Model selection: one place turns a *role* into a concrete ADK model.

Roles: "router" (the coordinator's LLM fallback), "cheap" and "strong" (complexity tiers).
A role whose configured name has a provider prefix (``openai/gpt-4o-mini``) maps to ADK's
`LiteLlm` (any provider LiteLLM knows; endpoint from COORDINATOR_LITELLM_API_BASE); with
Gemini credentials (or COORDINATOR_MODE=gemini) a bare name maps to `Gemini(model=...)`;
otherwise, and always with COORDINATOR_MODE=offline, to an `OfflineLlm` running the agent's
deterministic policy. Agents never name a model themselves.
"""

from __future__ import annotations

import os
from typing import Literal

from google.adk.models.base_llm import BaseLlm
from google.genai import types

from coordinator.errors import UsageError
from coordinator.models.model_names import is_litellm_name
from coordinator.models.offline import OfflineLlm, Policy
from coordinator.models.retry import RETRYABLE_STATUS
from coordinator.settings import Settings, get_settings

__all__ = [
    "Role",
    "gemini_model",
    "is_litellm_name",
    "is_offline",
    "litellm_model",
    "remote_model",
    "resolve_model",
]

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
            http_status_codes=sorted(RETRYABLE_STATUS),
        ),
    )


def litellm_model(name: str, settings: Settings | None = None) -> BaseLlm:
    """ADK's `LiteLlm` for a 'provider/model' name, with the configured endpoint and key.

    LiteLLM fetches its model-cost map from the internet at import unless told not to; the
    flag is set first, so nothing but the configured endpoint is ever contacted.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        from google.adk.models.lite_llm import LiteLlm
    except ImportError as exc:  # the optional extra is missing
        raise UsageError(
            f"model {name!r} needs LiteLLM: pip install 'adk-coordinator[litellm]' ({exc})"
        ) from None
    s = settings or get_settings()
    extra: dict[str, object] = {"num_retries": s.branch_retries}
    if s.litellm_api_base:
        extra["api_base"] = s.litellm_api_base
    if s.litellm_api_key:
        extra["api_key"] = s.litellm_api_key
    return LiteLlm(model=name, **extra)


def remote_model(role: Role, settings: Settings | None = None) -> BaseLlm | None:
    """The real model configured for `role` (LiteLLM or Gemini), or None: answer offline."""
    s = settings or get_settings()
    model_name = {"router": s.model_router, "cheap": s.model_fast, "strong": s.model_strong}[role]
    if s.mode != "offline" and is_litellm_name(model_name):
        return litellm_model(model_name, s)
    if s.use_gemini:
        return gemini_model(model_name, s)
    return None


def resolve_model(
    role: Role, *, name: str, policy: Policy, settings: Settings | None = None
) -> BaseLlm:
    """The model an agent should use for `role`; `policy` is its offline behaviour."""
    return remote_model(role, settings) or OfflineLlm(model=f"offline/{name}", policy=policy)


def is_offline(model: BaseLlm | str) -> bool:
    return isinstance(model, OfflineLlm)
