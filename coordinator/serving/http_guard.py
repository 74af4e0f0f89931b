"""ASGI guards in front of ADK's FastAPI app: `coordinator serve` and `adk web`/`api_server`.

ADK's HTTP API trusts the user id in every URL and body; this guard makes the bearer
token's user the only one a request may act as, and bounds what one request, one user
and one session can cost. In order, for every HTTP request except `GET /health`:

1. route allow-list (ADK's production API only: list-apps, sessions,
   artifacts, memory, /run, /run_sse); dev/eval/builder/debug/docs routes and the
   /run_live websocket -> 404 / closed;
2. bearer credentials -> user id, else 401;
3. per-user token bucket -> 429 with Retry-After;
4. app name must be a served app -> 404 (nothing is created for unknown names);
   user id in the path or body must be the caller -> 403; ids checked -> 400;
5. body size -> 413, a body still arriving after `body_timeout` -> 408, more unfinished
   bodies per user than `user_concurrency` -> 429 (slowloris; a stalled request *head*
   is cut off before this, by `coordinator.serving.header_timeout`); JSON shape of /run and
   session bodies -> 400/422 (stateDelta size, key count and key names, no
   client-supplied events, no mixed functionResponse+text);
6. per-user requests in flight -> 429; a second turn in a busy session -> 409;
7. large requests take one of a few "heavy" slots (queueing), so a flood of 60k-char
   reviews cannot starve a small request or /health.

`DevGuard` is the same core for `adk web` / `adk api_server` (installed by
`coordinator.serving.adk_services.install()`): no authentication (the user id in the URL or body
is trusted, as ADK does) and no route allow-list (the dev UI needs its routes), no rate
or in-flight limits, but steps 4-6's checks on ids, apps, bodies, state and busy sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coordinator.serving.auth import USER_ID, Authenticator
from coordinator.settings import Settings

if TYPE_CHECKING:
    from coordinator.serving.turn_lease import TurnLeases

__all__ = ["DevGuard", "GuardLimits", "RequestGuard", "ServeGuard", "TokenBucket"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_P = r"/apps/(?P<app>[^/]+)/users/(?P<user>[^/]+)"
_S = _P + r"/sessions/(?P<session>[^/]+)"
_ROUTES: list[tuple[frozenset[str], re.Pattern[str]]] = [
    (frozenset(m.split()), re.compile(f"^{p}$"))
    for m, p in [
        ("GET", r"/list-apps"),
        ("GET POST", _P + r"/sessions"),
        ("GET POST DELETE PATCH", _S),
        ("GET POST", _S + r"/artifacts"),
        ("GET DELETE", _S + r"/artifacts/.+"),
        ("PATCH", _P + r"/memory"),
        ("POST", r"/run"),
        ("POST", r"/run_sse"),
    ]
]
_IDS = re.compile(
    r"^(?:/dev)?/apps/(?P<app>[^/]+)"
    r"(?:/users/(?P<user>[^/]+)(?:/sessions/(?P<session>[^/]+))?)?(?:/|$)"
)
"""Where ids sit in any ADK path, dev routes included (for the guard without allow-list)."""
_SESSION_PATH = re.compile(f"^{_P}/sessions(?:/[^/]+)?$")
_RUN_PATHS = ("/run", "/run_sse")
_STATE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""Client state keys: plain names only. `app:`/`user:`/`temp:` and the coordinator's own
`prefix:` keys (pending agent, reports) are written by the server, never by a client."""


@dataclass
class GuardLimits:
    max_body_bytes: int = 1_000_000
    max_state_delta_bytes: int = 16_000
    max_state_delta_keys: int = 32
    rate_per_minute: float = 120.0
    rate_burst: int = 30
    user_concurrency: int = 4
    heavy_concurrency: int = 2
    heavy_bytes: int = 8_000
    heavy_offload: bool = True
    body_timeout: float = 30.0

    @classmethod
    def from_settings(cls, s: Settings) -> GuardLimits:
        return cls(
            max_body_bytes=s.max_body_bytes,
            max_state_delta_bytes=s.max_state_delta_bytes,
            max_state_delta_keys=s.max_state_delta_keys,
            rate_per_minute=s.rate_per_minute,
            rate_burst=s.rate_burst,
            user_concurrency=s.user_concurrency,
            heavy_concurrency=s.heavy_concurrency,
            heavy_bytes=s.heavy_bytes,
            heavy_offload=s.heavy_offload,
            body_timeout=s.body_timeout,
        )


@dataclass
class TokenBucket:
    """Per-key token bucket: `burst` requests at once, refilled at `per_minute`."""

    per_minute: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _state: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 if a request may go now, else seconds until one may."""
        now = self.clock()
        rate = self.per_minute / 60.0
        tokens, last = self._state.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / rate


class _Refusal(Exception):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


async def _respond(send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _check_id(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not USER_ID.match(value):
        raise _Refusal(
            400, f"invalid {kind}: use 1-128 letters, digits or _.@+- (not starting with one)"
        )
    return value


def _check_state(limits: GuardLimits, name: str, state: Any) -> None:
    if state is None:
        return
    if not isinstance(state, dict):
        raise _Refusal(422, f"{name} must be a JSON object")
    if len(state) > limits.max_state_delta_keys:
        raise _Refusal(
            413, f"{name} has {len(state)} keys; at most {limits.max_state_delta_keys} allowed"
        )
    for key in state:
        if not _STATE_KEY.match(key):
            raise _Refusal(
                400,
                f"{name} key {key[:80]!r} is not allowed: use a plain name (letters, digits, _); "
                "prefixed keys (app:, user:, temp:, ...) are written only by the server",
            )
    size = len(json.dumps(state, ensure_ascii=False).encode())
    if size > limits.max_state_delta_bytes:
        raise _Refusal(
            413, f"{name} is {size} bytes; at most {limits.max_state_delta_bytes} allowed"
        )


def _check_message(message: Any) -> None:
    if message is None:
        return
    if not isinstance(message, dict):
        raise _Refusal(422, "newMessage must be a JSON object")
    parts = message.get("parts") or []
    if not isinstance(parts, list):
        raise _Refusal(422, "newMessage.parts must be a list")
    has_response = any(
        isinstance(p, dict) and (p.get("functionResponse") or p.get("function_response"))
        for p in parts
    )
    has_other = any(
        isinstance(p, dict) and not (p.get("functionResponse") or p.get("function_response"))
        for p in parts
    )
    if has_response and has_other:
        raise _Refusal(
            400,
            "newMessage mixes a functionResponse with other parts: send the tool result "
            "(e.g. a confirmation) on its own, then any text in a new message",
        )


def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


class RequestGuard:
    """The shared ASGI core: bounds on ids, bodies, state and sessions for ADK's app.

    `auth` None trusts the user id a request names; `allow_list` False lets every
    route through (ids found anywhere in the path are still checked); `throttle` False
    drops the per-user rate / in-flight limits and heavy-request slots. `apps` is the
    served app names, or a predicate asked per request (the dev server's agents
    directory can change while it runs).
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        auth: Authenticator | None,
        apps: Collection[str] | Callable[[str], bool],
        limits: GuardLimits,
        allow_list: bool = True,
        throttle: bool = True,
        turns: TurnLeases | None = None,
    ) -> None:
        self.app = app
        self.turns = turns
        self.auth = auth
        self.known_app = apps if callable(apps) else frozenset(apps).__contains__
        self.limits = limits
        self.allow_list = allow_list
        self.throttle = throttle
        self.bucket = TokenBucket(limits.rate_per_minute, limits.rate_burst)
        self._in_flight: defaultdict[str, int] = defaultdict(int)
        self._reading: defaultdict[str, int] = defaultdict(int)
        self._busy_sessions: set[tuple[str, str, str]] = set()
        self._heavy: asyncio.Semaphore | None = None
        self._worker: _WorkerLoop | None = None

    def _heavy_slots(self) -> asyncio.Semaphore:
        if self._heavy is None:  # created on the server's loop
            self._heavy = asyncio.Semaphore(self.limits.heavy_concurrency)
        return self._heavy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and self.allow_list:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})  # /run_live not served
            return
        if scope["type"] != "http" or (scope["method"] == "GET" and scope["path"] == "/health"):
            await self.app(scope, receive, send)
            return
        try:
            await self._guarded(scope, receive, send)
        except _Refusal as r:
            await _respond(send, r.status, r.detail, r.headers)

    def _route(self, scope: Scope) -> dict[str, str]:
        method, path = scope["method"], scope["path"]
        if not self.allow_list:
            m = _IDS.match(path)
            return {k: v for k, v in m.groupdict().items() if v is not None} if m else {}
        for methods, pattern in _ROUTES:
            m = pattern.match(path)
            if m and (method in methods or (method == "HEAD" and "GET" in methods)):
                return {k: v for k, v in m.groupdict().items() if v is not None}
        raise _Refusal(404, f"not found: {method} {path[:200]} is not served here")

    def _user(self, scope: Scope) -> str | None:
        if self.auth is None:
            return None
        header = None
        for key, value in scope.get("headers") or []:
            if key == b"authorization":
                header = value.decode("latin-1")
        user = self.auth.user_for(header)
        if user is None:
            raise _Refusal(
                401, "missing or invalid credentials", {"www-authenticate": 'Bearer realm="adk"'}
            )
        return user

    def _check_ids(self, principal: str | None, app: Any, user: Any, session: Any) -> str:
        if app is not None and not (isinstance(app, str) and self.known_app(app)):
            raise _Refusal(404, f"unknown app {str(app)[:80]!r}")
        if user is not None:
            _check_id("user id", user)
            if principal is not None and user != principal:
                raise _Refusal(403, "you may only act as your own user id")
        if session is not None:
            _check_id("session id", session)
        return user if principal is None else principal

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.limits.max_body_bytes
        for key, value in scope.get("headers") or []:
            if key == b"content-length" and value.isdigit() and int(value) > limit:
                raise _Refusal(413, f"request body is {int(value)} bytes; at most {limit}")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refusal(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refusal(413, f"request body is over {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _read_body_bounded(
        self, scope: Scope, receive: Receive, principal: str | None
    ) -> bytes:
        """`_read_body` within `body_timeout`, and (with auth) at most `user_concurrency`
        unfinished bodies per caller: a client trickling bodies cannot hold connections
        and memory for ever, nor open them without limit. (Without auth, loopback only,
        there is no caller to count by; the timeout still holds.)"""
        if principal is not None:
            if self._reading[principal] >= self.limits.user_concurrency:
                raise _Refusal(
                    429,
                    f"{self.limits.user_concurrency} request bodies of yours are still "
                    "arriving; finish or close them first",
                    {"retry-after": "1"},
                )
            self._reading[principal] += 1
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                return await self._read_body(scope, receive)
        except TimeoutError:
            raise _Refusal(
                408, f"request body not received within {self.limits.body_timeout:g} s"
            ) from None
        finally:
            if principal is not None:
                self._reading[principal] -= 1
                if not self._reading[principal]:
                    del self._reading[principal]

    def _check_body(self, path: str, method: str, ids: dict[str, str], body: bytes) -> dict:
        session_path = bool(_SESSION_PATH.match(path))
        if not self.allow_list and path not in _RUN_PATHS and not session_path:
            return {}  # dev routes (builder uploads, evals): size-bounded, otherwise ADK's
        if not body.strip():
            if path in _RUN_PATHS:
                raise _Refusal(422, "request body must be a JSON object")
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Refusal(400, f"request body is not valid JSON: {exc}") from None
        except RecursionError:  # "[[[[..." within the size limit; would be a 500
            raise _Refusal(400, "request body is not valid JSON: nested too deeply") from None
        if not isinstance(data, dict):
            raise _Refusal(422, "request body must be a JSON object")
        if path in _RUN_PATHS:
            _check_state(self.limits, "stateDelta", _field(data, "stateDelta", "state_delta"))
            _check_message(_field(data, "newMessage", "new_message"))
        elif session_path:
            if data.get("events"):
                raise _Refusal(400, "sessions cannot be created with client-supplied events")
            _check_state(self.limits, "state", data.get("state"))
            _check_state(self.limits, "stateDelta", _field(data, "stateDelta", "state_delta"))
        return data

    def _rate(self, user: str) -> None:
        wait = self.bucket.take(user)
        if wait > 0:
            raise _Refusal(
                429,
                "too many requests; slow down",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        ids = self._route(scope)
        principal = self._user(scope)
        if principal is not None and self.throttle:
            self._rate(principal)
        user = self._check_ids(principal, ids.get("app"), ids.get("user"), ids.get("session"))
        body = b""
        session_key = None
        consumed = method in ("POST", "PATCH", "PUT")
        if consumed:
            body = await self._read_body_bounded(scope, receive, principal)
            data = self._check_body(path, method, ids, body)
            if path in _RUN_PATHS:
                app = _field(data, "appName", "app_name")
                if app is None:
                    raise _Refusal(422, "appName is required")
                user = self._check_ids(
                    principal,
                    app,
                    _check_id("user id", _field(data, "userId", "user_id")),
                    _check_id("session id", _field(data, "sessionId", "session_id")),
                )
                session_key = (app, user, _field(data, "sessionId", "session_id"))
        key = user or "-"
        if principal is None and self.throttle:
            self._rate(key)
        if self.throttle and self._in_flight[key] >= self.limits.user_concurrency:
            raise _Refusal(
                429,
                f"{self.limits.user_concurrency} requests of yours are already running; "
                "retry when one has finished",
                {"retry-after": "1"},
            )
        if session_key is not None and session_key in self._busy_sessions:
            raise _Refusal(
                409,
                f"session {session_key[2]!r} is busy: another turn is running in it; "
                "retry when that turn has finished",
            )
        if session_key is not None:
            self._busy_sessions.add(session_key)  # before any await: one turn per process
            try:
                leased = await self._lease(session_key)
            except BaseException:
                self._busy_sessions.discard(session_key)
                raise
            if not leased:
                self._busy_sessions.discard(session_key)
                raise _Refusal(
                    409,
                    f"session {session_key[2]!r} is busy: another turn is running in it on "
                    "another server; retry when that turn has finished",
                )
        self._in_flight[key] += 1
        released = session_key is None

        async def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            if self.turns is not None:
                # A failed release means the lease's connection is gone, and the lease with it.
                with contextlib.suppress(Exception):
                    await self.turns.release(session_key)
            # After the lease: a file lock is per process, so a turn of this process that
            # started in between would otherwise run on a lease already given back.
            self._busy_sessions.discard(session_key)

        async def send_then_free(message: dict[str, Any]) -> None:
            # The session is free before the client sees the end of the answer: a client
            # that sends the next turn at once (to this server or another) must not find
            # it still busy. Every event is stored by then (ADK appends before it answers).
            if message["type"] == "http.response.body" and not message.get("more_body"):
                await release()
            await send(message)

        out = send if session_key is None else send_then_free
        try:
            # Replayed even when empty: the request's one `http.request` is read, and a
            # client's receive() after it would wait for a disconnect that never comes.
            replay = _replay(body, receive) if consumed else receive
            heavy = len(body) > self.limits.heavy_bytes
            if self.throttle and session_key is not None and heavy:
                async with self._heavy_slots():
                    if self.limits.heavy_offload:
                        if self._worker is None:
                            self._worker = _WorkerLoop()
                        await self._worker.serve(self.app, scope, replay, out)
                    else:
                        await self.app(scope, replay, out)
            else:
                await self.app(scope, replay, out)
        finally:
            self._in_flight[key] -= 1
            if not self._in_flight[key]:
                del self._in_flight[key]
            await release()

    async def _lease(self, session_key: tuple[str, str, str]) -> bool:
        """The session's turn lease across processes and replicas
        (`coordinator.serving.turn_lease`)."""
        if self.turns is None:
            return True
        try:
            return await self.turns.try_acquire(session_key)
        except Exception as exc:  # the database is unreachable: say so, do not run blind
            raise _Refusal(503, f"session store unavailable: {type(exc).__name__}") from None


class ServeGuard(RequestGuard):
    """`coordinator serve`: everything above; `auth=None` only for `--insecure-local`."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        auth: Authenticator | None,
        apps: Collection[str],
        limits: GuardLimits,
        turns: TurnLeases | None = None,
    ) -> None:
        super().__init__(app, auth=auth, apps=apps, limits=limits, turns=turns)


class DevGuard(RequestGuard):
    """`adk web` / `adk api_server`: the bounds without authentication or allow-list.

    Local development only (there is still no auth); what it adds is that a request
    cannot store 20 MB of state, forge the coordinator's own state keys (a pending
    confirmation), crash a turn with a mixed message, or start a second turn in a busy
    session.
    """

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        *,
        apps: Collection[str] | Callable[[str], bool],
        limits: GuardLimits,
        turns: TurnLeases | None = None,
    ) -> None:
        super().__init__(
            app, auth=None, apps=apps, limits=limits, allow_list=False, throttle=False, turns=turns
        )


class _WorkerLoop:
    """An event loop on its own thread for large requests.

    The offline review models are CPU-bound Python running on the event loop; on the
    server's loop a review's branches take their turns between every step of a small
    request. On another thread the interpreter switches threads every few ms, so the
    server's own loop (small requests, /health) keeps getting time whatever reviews run.
    The request's receive/send still run on the server's loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self.loop.run_forever, name="heavy-requests", daemon=True)
        thread.start()

    async def serve(self, app, scope: Scope, receive: Receive, send: Send) -> None:
        main = asyncio.get_running_loop()

        async def on_main(coro):
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, main))

        async def worker_receive() -> dict[str, Any]:
            return await on_main(receive())

        async def worker_send(message: dict[str, Any]) -> None:
            await on_main(send(message))

        future = asyncio.run_coroutine_threadsafe(
            app(scope, worker_receive, worker_send), self.loop
        )
        try:
            await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the already-read body on, then the client's own events."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
