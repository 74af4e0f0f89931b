"""The programmatic API: `Coordinator().ask(...)` / `await ....ask_async(...)`.

    from coordinator import Coordinator
    c = Coordinator()
    r = c.ask("I was charged twice for my subscription", user_id="alice")
    print(r.route, r.method, r.confidence, r.text)

The coordinator wraps an ADK `Runner` around the root agent; sessions live in the ADK
session service from settings (SQLite by default), so a `session_id` continues a chat.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from google.adk.agents import BaseAgent
from google.adk.agents.context_cache_config import ContextCacheConfig
from google.adk.agents.invocation_context import LlmCallsLimitExceededError
from google.adk.agents.run_config import RunConfig
from google.adk.apps import App
from google.adk.errors.already_exists_error import AlreadyExistsError
from google.adk.events import Event
from google.adk.runners import Runner
from google.adk.sessions import BaseSessionService
from google.genai import types
from pydantic import BaseModel, Field

from coordinator.app_spec import load_app
from coordinator.deferred import DeferredAgent, build_deferred, walk
from coordinator.errors import ModelError, UsageError, as_storage_error
from coordinator.inputs.request_text import validate_request
from coordinator.parallel.progress import PROGRESS_KEY
from coordinator.routing.cascade import LAST_DECISION_KEY, TRANSFER_TOOL
from coordinator.routing.multi_intent import PARTS_USAGE_KEY, ROUTES_KEY, MultiIntentAgent
from coordinator.serving.guard import RequestGuardPlugin
from coordinator.serving.sessions import make_session_service
from coordinator.serving.warmup import warm_up
from coordinator.settings import Settings, get_settings

__all__ = ["Coordinator", "Reply", "ReplyUsage", "StreamEvent", "validate_request"]

APP_NAME = "support"
# A chat turn is routing + one specialist with a few tool rounds; a model stuck emitting
# malformed calls must stop early. (Fan-out branches are budgeted by the engine itself.)
MAX_LLM_CALLS_PER_TURN = 25


class ReplyUsage(BaseModel):
    """Model usage one `Reply` reports (offline calls are counted too, and labelled).

    Not `coordinator.models.usage.Usage`, which costs and combines branch work inside the engine."""

    llm_calls: int = Field(0, description="Model calls made (0 when the cascade routed).")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens: int = 0
    offline: bool = Field(True, description="True when every call went to a local model.")


class Reply(BaseModel):
    """What one request produced."""

    text: str = Field(description="The final answer shown to the user.")
    route: str = Field(description="The agent that answered (the first, with several asks).")
    routes: list[str] = Field(
        default_factory=list,
        description="Every route that handled the turn, in order (several for multi-intent).",
    )
    confidence: float = Field(description="Router confidence for the chosen route.")
    method: Literal[
        "embedding", "classifier", "llm", "fallback", "pending", "clarify", "escalation", "multi"
    ] = Field(description="What decided the route (clarify: the coordinator asked a question).")
    usage: ReplyUsage = Field(default_factory=ReplyUsage)
    latency_ms: float = Field(description="Wall time of the whole request.")
    session_id: str
    user_id: str
    offline: bool = Field(description="True when answered by the local offline models.")


class StreamEvent(BaseModel):
    """One progress event from `Coordinator.stream` (routing, tool call, partial, final)."""

    kind: Literal["session", "route", "tool_call", "tool_result", "partial", "final"]
    author: str = Field(description="The agent the event came from.")
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, int] | None = Field(None, description="Tokens of the model call, if any.")


def _usage_of(event: Event) -> dict[str, int] | None:
    meta = event.usage_metadata
    if meta is None:
        return None
    return {
        "prompt_tokens": meta.prompt_token_count or 0,
        "completion_tokens": meta.candidates_token_count or 0,
    }


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _specialist_names(top: BaseAgent) -> set[str]:
    """Names an event of `top`'s subtree may carry, deferred agents' declared ones too."""
    names = set()
    for agent in walk(top, build=False):
        names.add(agent.name)
        if isinstance(agent, DeferredAgent):
            names |= agent.inner_names
    return names


class _SessionTurns:
    """One turn at a time per (user, session) in this process, per event loop (the sync
    API runs each call on a loop of its own; an asyncio lock belongs to one loop)."""

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[str, str], list[Any]]
        ] = weakref.WeakKeyDictionary()

    @asynccontextmanager
    async def hold(self, user_id: str, session_id: str | None) -> AsyncIterator[None]:
        if not session_id:  # a new session of its own: nothing to wait for
            yield
            return
        table = self._tables.setdefault(asyncio.get_running_loop(), {})
        entry = table.setdefault((user_id, session_id), [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                table.pop((user_id, session_id), None)


class Coordinator:
    """Runs an agent tree: the app's (`COORDINATOR_APP`) or any root agent you pass.

    One instance serves many users and sessions::

        Coordinator().ask("I was charged twice", user_id="alice")        # the support app
        Coordinator(my_root_agent).ask("hello", user_id="alice")         # your own agents

    With your own agent, `app_name` defaults to the agent's name and only your `plugins`
    run (the request guard always does): the app's plugins belong to the app's agents.
    """

    def __init__(
        self,
        agent: BaseAgent | None = None,
        *,
        settings: Settings | None = None,
        session_service: BaseSessionService | None = None,
        app_name: str | None = None,
        warm_up: bool = True,
        plugins: list | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        if agent is None:
            app_spec = load_app(self.settings)  # the one seam to the agents (COORDINATOR_APP)
            self.settings.ensure_data_dir()  # an unusable data dir: one clear ConfigError
            agent = app_spec.build_root_agent(self.settings)
            if plugins is None:  # the app's own plugins (e.g. side-effect reporting)
                plugins = app_spec.build_plugins()
            app_name = app_name or APP_NAME
        elif not isinstance(agent, BaseAgent):
            raise UsageError(f"Coordinator(agent): an ADK agent, got {type(agent).__name__}")
        else:
            app_name = app_name or agent.name
        plugins = list(plugins or [])
        if session_service is None:
            session_service = make_session_service(self.settings)
        self.agent = agent
        self.app_name = app_name
        self.session_service = session_service
        self._turns = _SessionTurns()
        self.app = App(
            name=app_name,
            root_agent=agent,
            # Each transfer swaps instructions and tools; give each agent its own cache
            # (used by Gemini; ignored by the offline models).
            context_cache_config=ContextCacheConfig(),
            plugins=[RequestGuardPlugin(self.settings.max_request_chars), *plugins],
        )
        self.runner = Runner(app=self.app, session_service=session_service)
        # Pipeline specialists (contract_review = split -> ... -> aggregate) answer through
        # their stages; a reply is attributed to the routed, top-level specialist.
        self._specialist_of: dict[str, str | None] = {}
        self._map_specialists()
        # Agents that hand work on (multi-intent) rather than answer: not a route themselves.
        self._coordinating = {a.name for a in agent.sub_agents if isinstance(a, MultiIntentAgent)}
        if warm_up:
            build_deferred(agent)  # a server pays for every specialist now, not mid-request
            self._warm_up()

    def _map_specialists(self) -> None:
        for top in self.agent.sub_agents:
            for name in _specialist_names(top):
                self._specialist_of[name] = top.name

    def _specialist(self, author: str) -> str | None:
        """The routed, top-level specialist an event's author belongs to (None: the root or
        a stranger); an agent built since the map was made is found on its first event."""
        if author not in self._specialist_of:
            self._map_specialists()
            self._specialist_of.setdefault(author, None)
        return self._specialist_of[author]

    def _warm_up(self) -> None:
        """Pay ADK's one-time lazy imports and schema builds at construction ("model
        load"), not inside the first request's latency.

        Inside a running event loop (`python -m asyncio`, a notebook, a server's startup)
        `anyio.run` would fail, so the warm-up runs on its own loop in a worker thread."""
        if _loop_running():
            worker = threading.Thread(target=anyio.run, args=(warm_up,), name="adk-warm-up")
            worker.start()
            worker.join()
        else:
            anyio.run(warm_up)

    @property
    def offline(self) -> bool:
        return not self.settings.use_remote_models

    async def _session(self, user_id: str, session_id: str | None):
        if session_id:
            session = await self.session_service.get_session(
                app_name=self.app_name, user_id=user_id, session_id=session_id
            )
            if session is not None:
                return session
        try:
            return await self.session_service.create_session(
                app_name=self.app_name, user_id=user_id, session_id=session_id or uuid.uuid4().hex
            )
        except AlreadyExistsError:  # another process created it between our get and create
            session = await self.session_service.get_session(
                app_name=self.app_name, user_id=user_id, session_id=session_id or ""
            )
            if session is None:
                raise
            return session

    async def open_session(self, text: str, user_id: str, session_id: str | None):
        """Validate a request and get (or create) its session: `(clean_text, session)`."""
        text = validate_request(text, self.settings.max_request_chars)
        if not isinstance(user_id, str) or not user_id.strip():
            raise UsageError("user_id must be a non-empty string")
        return text, await self._session(user_id, session_id)

    async def run_events(self, text: str, session) -> AsyncIterator[Event]:
        """Raw ADK events of one validated request in `session`."""
        message = types.Content(role="user", parts=[types.Part(text=text)])
        run_config = RunConfig(max_llm_calls=MAX_LLM_CALLS_PER_TURN)
        last: Event | None = None
        try:
            async for event in self.runner.run_async(
                user_id=session.user_id,
                session_id=session.id,
                new_message=message,
                run_config=run_config,
            ):
                last = event
                yield event
        except LlmCallsLimitExceededError:
            # A model stuck in a loop (e.g. malformed tool calls): answer honestly and
            # record the answer, so the session reads as a finished turn.
            yield await self._stopped(session, last)
        except Exception as exc:  # model/backend failure: say so, keep the session intact
            storage = as_storage_error(exc)
            if storage is not None:  # a full disk or read-only store is not the model's fault
                raise storage from exc
            raise ModelError(f"{type(exc).__name__}: {exc}") from exc

    async def _stopped(self, session, last: Event | None) -> Event:
        fresh = await self.session_service.get_session(
            app_name=self.app_name, user_id=session.user_id, session_id=session.id
        )
        event = Event(
            author=last.author if last is not None else self.agent.name,
            invocation_id=last.invocation_id if last is not None else "",
            content=types.Content(
                role="model",
                parts=[
                    types.Part(
                        text="Sorry, I stopped working on this request: the model needed more "
                        f"than {MAX_LLM_CALLS_PER_TURN} calls without reaching an answer. "
                        "Please rephrase or try again."
                    )
                ],
            ),
        )
        return await self.session_service.append_event(fresh, event)

    async def stream(
        self, text: str, *, user_id: str = "user", session_id: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Progress of one request as it happens: the routing decision, tool calls and
        results, partial (e.g. per-branch) results, then the final answer.

        Turns of one session run one after another in this process: a second turn waits
        for the first, then sees its events (ADK would refuse the stale session)."""
        async with self._turns.hold(user_id, session_id):
            async for event in self._stream(text, user_id=user_id, session_id=session_id):
                yield event

    async def _stream(
        self, text: str, *, user_id: str, session_id: str | None
    ) -> AsyncIterator[StreamEvent]:
        text, session = await self.open_session(text, user_id, session_id)
        yield StreamEvent(kind="session", author="coordinator", data={"session_id": session.id})
        # Final answers are held back and yielded last: a stage's progress event can
        # follow its answer in ADK's order, and a consumer may stop at the first `final`.
        finals: list[StreamEvent] = []
        async for event in self.run_events(text, session):
            usage = _usage_of(event)
            delta = event.actions.state_delta if event.actions else {}
            content_parts = (event.content.parts if event.content else None) or []
            transfers = any(
                p.function_call is not None and p.function_call.name == TRANSFER_TOOL
                for p in content_parts
            )
            if delta.get(LAST_DECISION_KEY) and not transfers:
                # A decision answered by the coordinator itself (a clarifying question).
                yield StreamEvent(
                    kind="route", author=event.author, data=dict(delta[LAST_DECISION_KEY])
                )
            if delta.get(ROUTES_KEY):
                yield StreamEvent(
                    kind="partial",
                    author=event.author,
                    data={
                        "routes": list(delta[ROUTES_KEY]),
                        "parts_usage": dict(delta.get(PARTS_USAGE_KEY) or {}),
                    },
                )
            for part in (event.content.parts if event.content else None) or []:
                if part.function_call is not None:
                    call = part.function_call
                    if call.name == TRANSFER_TOOL:
                        decision = dict(delta.get(LAST_DECISION_KEY) or {})
                        decision["route"] = (call.args or {}).get("agent_name")
                        yield StreamEvent(
                            kind="route", author=event.author, data=decision, usage=usage
                        )
                    else:
                        yield StreamEvent(
                            kind="tool_call",
                            author=event.author,
                            data={"name": call.name, "args": dict(call.args or {})},
                            usage=usage,
                        )
                    usage = None
                elif part.function_response is not None:
                    fr = part.function_response
                    if fr.name != TRANSFER_TOOL:
                        yield StreamEvent(
                            kind="tool_result",
                            author=event.author,
                            data={"name": fr.name, "response": dict(fr.response or {})},
                        )
                elif part.text and not part.thought:
                    ev = StreamEvent(
                        kind="final" if event.is_final_response() else "partial",
                        author=event.author,
                        text=part.text,
                        usage=usage,
                    )
                    if ev.kind == "final":
                        finals.append(ev)
                    else:
                        yield ev
                    usage = None
            if usage is not None:  # usage on an event with no visible parts
                yield StreamEvent(kind="partial", author=event.author, usage=usage)
            progress = delta.get(PROGRESS_KEY) if delta else None
            if progress:
                yield StreamEvent(kind="partial", author=event.author, data=dict(progress))
        for ev in finals:
            yield ev

    async def ask_async(
        self,
        text: str,
        *,
        user_id: str = "user",
        session_id: str | None = None,
        on_event: Callable[[StreamEvent], Any] | None = None,
    ) -> Reply:
        """Run one request to completion and return the `Reply`.

        `on_event` sees every `StreamEvent` as it happens (the CLI draws progress with it).
        """
        t0 = time.perf_counter()
        usage = ReplyUsage(offline=self.offline)
        final: list[str] = []
        route: str | None = None
        routes: list[str] = []
        decision: dict[str, Any] = {}
        sid = session_id or ""
        async for ev in self.stream(text, user_id=user_id, session_id=session_id):
            if on_event is not None:
                on_event(ev)
            if ev.kind == "session":
                sid = ev.data["session_id"]
            elif ev.kind == "route":
                decision = ev.data
            elif ev.kind == "final":
                final.append(ev.text)
            if ev.data.get("routes") and ev.kind == "partial":
                routes.extend(r for r in ev.data["routes"] if r not in routes)
                spent = ev.data.get("parts_usage") or {}  # model calls made inside the parts
                usage.llm_calls += int(spent.get("llm_calls", 0))
                usage.prompt_tokens += int(spent.get("prompt_tokens", 0))
                usage.completion_tokens += int(spent.get("completion_tokens", 0))
            specialist = self._specialist(ev.author)
            if specialist is not None and specialist not in self._coordinating:
                route = specialist
                if specialist not in routes:
                    routes.append(specialist)
            if ev.usage is not None:
                usage.llm_calls += 1
                usage.prompt_tokens += ev.usage.get("prompt_tokens", 0)
                usage.completion_tokens += ev.usage.get("completion_tokens", 0)
        usage.tokens = usage.prompt_tokens + usage.completion_tokens
        route = routes[0] if routes else route or decision.get("route") or self.agent.name
        return Reply(
            text="\n".join(t.strip() for t in final if t.strip()) or "(no answer)",
            route=route,
            routes=routes or [route],
            confidence=float(decision.get("confidence") or 0.0),
            method=decision.get("method") or "fallback",
            usage=usage,
            latency_ms=round((time.perf_counter() - t0) * 1000, 2),
            session_id=sid,
            user_id=user_id,
            offline=self.offline,
        )

    def ask(
        self,
        text: str,
        *,
        user_id: str = "user",
        session_id: str | None = None,
        on_event: Callable[[StreamEvent], Any] | None = None,
    ) -> Reply:
        """Synchronous `ask_async`; inside a running event loop use `await ask_async(...)`."""
        if _loop_running():
            raise UsageError(
                "Coordinator.ask() blocks, and an event loop is running here: "
                "use `await coordinator.ask_async(...)` instead"
            )
        return anyio.run(
            lambda: self.ask_async(text, user_id=user_id, session_id=session_id, on_event=on_event)
        )
