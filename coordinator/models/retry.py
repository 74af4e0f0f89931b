"""What is worth retrying, how long to wait, and one model call made with those rules.

408/429/5xx and timeouts are retried with exponential backoff and jitter; a server's
`Retry-After` header or google.rpc `RetryInfo` wins (capped). `RETRYABLE_STATUS` is the one
list of retryable HTTP statuses (the Gemini client's own retry options use it too).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from pydantic import BaseModel, ConfigDict, Field

from coordinator.errors import ModelError
from coordinator.models.usage import Usage
from coordinator.settings import get_settings

__all__ = [
    "RETRYABLE_STATUS",
    "RetryPolicy",
    "call_model",
    "call_with_retries",
    "is_retryable",
    "retry_after_s",
    "timed_call",
]

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_RETRYABLE_ERROR_CODES = frozenset(
    {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"}
)


def _status_of(exc: BaseException) -> int | None:
    for attr in ("code", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(exc, "response", None)
    value = getattr(response, "status_code", None)
    return value if isinstance(value, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Timeouts and 408/429/5xx (google.genai APIError/ClientError/ServerError and kin)."""
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, _ResponseError):
        return exc.retryable
    return _status_of(exc) in RETRYABLE_STATUS


_DELAY_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*s?\s*$")


def retry_after_s(exc: BaseException) -> float | None:
    """The server's requested wait: `Retry-After` header or a google.rpc.RetryInfo detail."""
    explicit = getattr(exc, "retry_after", None)
    if isinstance(explicit, int | float):
        return float(explicit)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is not None:
        try:
            raw = headers.get("retry-after") or headers.get("Retry-After")
        except Exception:  # exotic header containers: no hint
            raw = None
        if raw and (m := _DELAY_RE.match(str(raw))):
            return float(m.group(1))
    details = getattr(exc, "details", None)
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            m = _DELAY_RE.match(str(item.get("retryDelay", "")))
            if m:
                return float(m.group(1))
    return None


class _ResponseError(ModelError):
    """An LlmResponse that carried an error_code instead of content."""

    def __init__(self, code: str, message: str | None):
        self.code_text = code
        self.retryable = code in _RETRYABLE_ERROR_CODES or (
            code.isdigit() and int(code) in RETRYABLE_STATUS
        )
        super().__init__(f"{code}: {message or 'model returned an error'}")


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter; a server's retry-after wins (capped).

    Example: ``RetryPolicy(retries=3, base_delay_s=0.5)`` waits ~0.5, 1, 2 s (+/- jitter).
    """

    model_config = ConfigDict(frozen=True)

    retries: int = Field(3, ge=0, description="Retries after the first attempt.")
    base_delay_s: float = Field(0.5, ge=0, description="First backoff delay.")
    max_delay_s: float = Field(20.0, ge=0, description="Longest backoff delay.")
    jitter: float = Field(0.5, ge=0, le=1, description="+/- fraction of random jitter.")
    max_retry_after_s: float = Field(60.0, ge=0, description="Cap on honoured retry-after.")

    def delay(
        self, attempt: int, exc: BaseException | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        hinted = retry_after_s(exc) if exc is not None else None
        if hinted is not None:
            return min(hinted, self.max_retry_after_s)
        base = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))


async def call_model(model: BaseLlm, request: LlmRequest) -> LlmResponse:
    """The final (non-partial) response of one model call; an error response raises an
    exception the retry logic understands (429/5xx codes are retryable)."""
    final: LlmResponse | None = None
    async for resp in model.generate_content_async(request, stream=False):
        if resp.error_code:
            raise _ResponseError(str(resp.error_code), resp.error_message)
        if not resp.partial:
            final = resp
    if final is None:
        raise ModelError(f"{model.model}: no response")
    return final


async def call_with_retries(
    model: BaseLlm,
    request: LlmRequest,
    *,
    usage: list[Usage] | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
) -> LlmResponse:
    """A model call made *inside* a branch (e.g. one judge of a vote), with the engine's
    retry rules: 408/429/5xx and timeouts are retried with backoff, honouring retry-after.

    Every attempt, failed ones included, is appended to `usage` (calls are billed either way).
    """
    policy = policy or RetryPolicy(retries=get_settings().branch_retries)
    for attempt in range(policy.retries + 1):
        started = time.perf_counter()
        try:
            response = await call_model(model, request)
        except Exception as exc:
            ms = (time.perf_counter() - started) * 1000
            if usage is not None:
                usage.append(Usage(llm_calls=1, latency_ms=ms, critical_path_ms=ms))
            if attempt == policy.retries or not is_retryable(exc):
                raise
            await sleep(policy.delay(attempt, exc))
        else:
            ms = (time.perf_counter() - started) * 1000
            if usage is not None:
                usage.append(Usage.from_response(response, latency_ms=ms, model=model.model))
            return response
    raise AssertionError("unreachable")  # pragma: no cover


async def timed_call(model: BaseLlm, request: LlmRequest) -> tuple[LlmResponse, float]:
    """`call_model` plus its latency in milliseconds (for per-branch accounting)."""
    t0 = time.perf_counter()
    response = await call_model(model, request)
    return response, (time.perf_counter() - t0) * 1000
