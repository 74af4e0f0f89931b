"""Fault injection: wrap any `BaseLlm` so a seeded share of its calls fail the way real
model backends fail.

Why: retries, partial failure, fallbacks and honest error messages are only believable
when they are exercised. `FaultyLlm` fails a configurable `rate` of calls with one of:

- ``exception``     a plain bug-like `RuntimeError` (not retryable),
- ``rate_limit``    `google.genai.errors.ClientError` 429 RESOURCE_EXHAUSTED with a
                    `google.rpc.RetryInfo` retry delay (what Gemini sends),
- ``unavailable``   `google.genai.errors.ServerError` 503 UNAVAILABLE (+ Retry-After),
- ``timeout``       sleeps `hang_s` (past the caller's deadline), then `TimeoutError`,
- ``unknown_tool``  a well-formed function call to a tool that does not exist,
- ``bad_args``      a call to one of the request's real tools with arguments it lacks.

Decisions are seeded and independent of scheduling: call number k of a given request
(same contents) fails iff ``hash(seed, request, k) < rate``, so a run with 50 concurrent
branches injects the same faults every time, and a retry of a request draws afresh
(retries can succeed). Example::

    flaky = FaultyLlm(inner=OfflineLlm(model="x", policy=p), rate=0.3, seed=7)
    wrapped = inject_faults(root_agent, rate=1.0, kinds=("unavailable",), only={"billing"})
    flaky.injected          # [InjectedFault(kind="rate_limit", call=3, ...), ...]
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import AsyncGenerator, Collection
from typing import Any, Literal, get_args

import anyio
from google.adk.agents import BaseAgent, LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.genai import errors, types
from pydantic import BaseModel, Field, PrivateAttr, model_validator

from coordinator.deferred import walk
from coordinator.events import model_response

__all__ = [
    "ALL_FAULTS",
    "FaultKind",
    "FaultyLlm",
    "InjectedFault",
    "fault_error",
    "inject_faults",
]

FaultKind = Literal["exception", "rate_limit", "unavailable", "timeout", "unknown_tool", "bad_args"]
ALL_FAULTS: tuple[FaultKind, ...] = get_args(FaultKind)
UNKNOWN_TOOL = "admin_override"
"""The tool name a malformed call asks for (nothing in the product has it)."""


class InjectedFault(BaseModel):
    """One fault that was injected (for assertions and reports)."""

    kind: FaultKind = Field(description="Which failure was produced.")
    call: int = Field(description="1-based index of the call among all calls to this model.")
    request_key: str = Field(description="Short hash of the request contents.")


def _error_body(code: int, status: str, message: str, *details: dict[str, Any]) -> dict:
    """A google.rpc error body as Gemini sends it."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return {"error": error}


def fault_error(kind: FaultKind, *, retry_after_s: float = 0.0, model: str = "") -> Exception:
    """The exception a real backend raises for `kind` (exception kinds only)."""
    if kind == "rate_limit":
        retry_info = {
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": f"{retry_after_s:g}s",
        }
        message = f"Resource has been exhausted (injected fault, {model})."
        return errors.ClientError(429, _error_body(429, "RESOURCE_EXHAUSTED", message, retry_info))
    if kind == "unavailable":
        message = f"The model is overloaded. Please try again later. ({model})"
        exc = errors.ServerError(503, _error_body(503, "UNAVAILABLE", message))
        exc.retry_after = retry_after_s  # type: ignore[attr-defined]  (Retry-After header)
        return exc
    if kind == "timeout":
        return TimeoutError(f"injected fault: {model} did not answer in time")
    return RuntimeError(f"injected fault: {model} crashed")


def _request_key(req: LlmRequest) -> str:
    blob = [c.model_dump(mode="json", exclude_none=True) for c in req.contents]
    raw = json.dumps(blob, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def _uniform(seed: int, key: str, attempt: int) -> float:
    digest = hashlib.sha256(f"{seed}:{key}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _call_response(name: str, args: dict[str, Any]) -> LlmResponse:
    call = types.FunctionCall(name=name, args=args)
    return model_response(types.Part(function_call=call), injected_fault=True)


class FaultyLlm(BaseLlm):
    """A `BaseLlm` that forwards to `inner`, except for a seeded `rate` of failed calls."""

    model: str = Field("faulty", description="Shown in errors; defaults to faulty/<inner>.")
    inner: BaseLlm = Field(description="The model that answers when no fault is drawn.")
    rate: float = Field(0.3, ge=0, le=1, description="Share of calls that fail.")
    seed: int = Field(0, description="Seed of the fault draw.")
    kinds: tuple[FaultKind, ...] = Field(ALL_FAULTS, min_length=1, description="Faults to draw.")
    hang_s: float = Field(30.0, ge=0, description="How long a `timeout` fault sleeps.")
    retry_after_s: float = Field(0.0, ge=0, description="Delay that 429/503 faults ask for.")

    _calls: int = PrivateAttr(default=0)
    _attempts: dict[str, int] = PrivateAttr(default_factory=dict)
    _injected: list[InjectedFault] = PrivateAttr(default_factory=list)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" not in data and data.get("inner") is not None:
            data = {**data, "model": f"faulty/{getattr(data['inner'], 'model', 'model')}"}
        return data

    @property
    def calls(self) -> int:
        """Calls made so far (failed and successful)."""
        return self._calls

    @property
    def injected(self) -> list[InjectedFault]:
        """Every fault injected so far, in call order."""
        return list(self._injected)

    def draw(self, llm_request: LlmRequest) -> FaultKind | None:
        """Decide (and record) whether this call fails, and how."""
        key = _request_key(llm_request)
        with self._lock:
            self._calls += 1
            call = self._calls
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        u = _uniform(self.seed, key, attempt)
        if u >= self.rate:
            return None
        # Re-scale u within [0, rate) to pick the kind: no second random stream needed.
        kind = self.kinds[min(len(self.kinds) - 1, int(u / self.rate * len(self.kinds)))]
        with self._lock:
            self._injected.append(InjectedFault(kind=kind, call=call, request_key=key))
        return kind

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        kind = self.draw(llm_request)
        if kind is None:
            async for response in self.inner.generate_content_async(llm_request, stream):
                yield response
            return
        if kind == "timeout":
            await anyio.sleep(self.hang_s)  # the caller's deadline should fire first
        if kind in ("unknown_tool", "bad_args"):
            tools = sorted(llm_request.tools_dict)
            if kind == "bad_args" and tools:
                yield _call_response(tools[0], {"no_such_argument": "\x00" * 3 + "Ω" * 5})
            else:
                yield _call_response(UNKNOWN_TOOL, {"grant": "all", "user_id": "bob"})
            return
        raise fault_error(kind, retry_after_s=self.retry_after_s, model=self.inner.model)


def inject_faults(
    root: BaseAgent,
    *,
    rate: float = 0.3,
    seed: int = 0,
    kinds: tuple[FaultKind, ...] = ALL_FAULTS,
    only: Collection[str] | None = None,
    hang_s: float = 30.0,
    retry_after_s: float = 0.0,
) -> dict[str, FaultyLlm]:
    """Wrap the model of every `LlmAgent` in the tree (or those named in `only`), in place.

    Returns {agent name: its FaultyLlm}. Each agent gets its own seed offset so agents do
    not fail in lockstep.
    """
    wrapped: dict[str, FaultyLlm] = {}
    for i, agent in enumerate(walk(root)):
        if not isinstance(agent, LlmAgent) or (only is not None and agent.name not in only):
            continue
        inner = agent.canonical_model
        if isinstance(inner, FaultyLlm):
            inner = inner.inner
        faulty = FaultyLlm(
            inner=inner,
            rate=rate,
            seed=seed * 1000 + i,
            kinds=kinds,
            hang_s=hang_s,
            retry_after_s=retry_after_s,
        )
        agent.model = faulty
        wrapped[agent.name] = faulty
    return wrapped
