"""Session storage through ADK's own session services.

SQLite file in the data dir by default (sessions survive restarts); any SQLAlchemy URL
(COORDINATOR_SESSION_DB, else COORDINATOR_DATABASE_URL, e.g. `postgresql+psycopg://...`)
selects ADK's `DatabaseSessionService` for scale-out, where several stateless replicas
share one database.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from google.adk.errors import StaleSessionError
from google.adk.events import Event
from google.adk.sessions import BaseSessionService, Session
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from starlette.exceptions import HTTPException

from coordinator.errors import ConfigError, as_storage_error
from coordinator.settings import Settings, get_settings

__all__ = [
    "ClientWriteError",
    "SerializedSqliteSessionService",
    "SessionBusyError",
    "SessionLimitError",
    "check_client_write",
    "make_session_service",
]


class SessionBusyError(StaleSessionError, HTTPException):
    """Another turn wrote to this session after this turn read it.

    ADK raises `StaleSessionError`, which every HTTP server turns into a 500. This is
    also a Starlette `HTTPException` (409), so `adk api_server`/`adk web` and
    `coordinator serve` answer "busy, retry" instead; Python callers can still catch
    `StaleSessionError`.
    """

    def __init__(self, session_id: str) -> None:
        message = (
            f"session {session_id!r} is busy: another turn is running in it; "
            "retry when that turn has finished"
        )
        HTTPException.__init__(self, status_code=409, detail=message)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.detail)


class ClientWriteError(ValueError, HTTPException):
    """A client tried to write what only the server may write (400 over HTTP).

    A `ValueError` for Python callers and a Starlette `HTTPException` for `adk
    api_server`/`adk web`/`coordinator serve`, like `SessionBusyError`.
    """

    def __init__(self, detail: str) -> None:
        HTTPException.__init__(self, status_code=400, detail=detail)
        self.args = (detail,)

    def __str__(self) -> str:
        return str(self.detail)


class SessionLimitError(RuntimeError, HTTPException):
    """A user already has the most live sessions allowed (429 over HTTP).

    Without a cap one caller can create sessions until the disk is full; each costs a
    row and its events for ever. Deleting sessions frees places.
    """

    def __init__(self, user_id: str, cap: int) -> None:
        detail = (
            f"user {user_id!r} already has {cap} sessions in this app, the most allowed "
            "(COORDINATOR_MAX_SESSIONS_PER_USER); delete one first"
        )
        HTTPException.__init__(self, status_code=429, detail=detail)
        self.args = (detail,)

    def __str__(self) -> str:
        return str(self.detail)


_CREATING: ContextVar[tuple[str, str, int] | None] = ContextVar(
    "coordinator_creating_session", default=None
)
"""(app, user, cap) while a capped `create_session` runs: the store checks the count
inside the transaction that inserts the session."""


def _cap_lock_key(app: str, user: str) -> int:
    """A signed 64-bit advisory-lock key for one (app, user)'s session count."""
    digest = hashlib.sha256(f"session-cap\x1f{app}\x1f{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _reserved(state: dict | None) -> list[str]:
    """Prefixed keys (`confirm:proposal`, `coordinator:pending`, `app:`, `temp:`, ...)."""
    return sorted(k for k in (state or {}) if not isinstance(k, str) or ":" in k)


def check_client_write(event: Event) -> None:
    """Refuse a user-authored event that would forge server state.

    Every HTTP server hands the client's `stateDelta` (run or PATCH) to the store as a
    `user` event. Confirmation and routing trust prefixed state keys (a refund proposal,
    the pending agent, an escalation, "told" markers), so none may come from a client;
    ADK's own rewind events are the server's and pass. (A client-chosen `invocationId`
    needs nothing here: ADK 2.13 drops a message that reuses a session's invocation id
    and refuses a function response mixed with text; tests/test_attacks.py checks both.)
    """
    if event.author != "user" or (event.actions and event.actions.rewind_before_invocation_id):
        return
    bad = _reserved(event.actions.state_delta if event.actions else None)
    if bad:
        raise ClientWriteError(
            f"state key {str(bad[0])[:80]!r} is written only by the server: a client may set "
            "plain keys (letters, digits, _) only"
        )


class _ClientChecked:
    """Mixin for the store classes: `check_client_write` on every write from outside, and
    (for the HTTP servers' stores) at most `max_sessions_per_user` sessions per app and
    user. Each store counts in the transaction that inserts the session (SQLite:
    `_get_db_connection`, SQLAlchemy: `_rollback_on_exception_session`), so concurrent
    creates at the cap cannot both succeed."""

    max_sessions_per_user: int | None = None

    async def create_session(self, *, app_name, user_id, state=None, session_id=None, **kw):
        bad = _reserved(state)
        if bad:
            raise ClientWriteError(
                f"state key {str(bad[0])[:80]!r} is written only by the server: a new session "
                "may start with plain keys (letters, digits, _) only"
            )
        cap = self.max_sessions_per_user
        token = _CREATING.set(None if cap is None else (app_name, user_id, cap))
        try:
            return await super().create_session(
                app_name=app_name, user_id=user_id, state=state, session_id=session_id, **kw
            )
        finally:
            _CREATING.reset(token)

    async def append_event(self, session: Session, event: Event) -> Event:
        check_client_write(event)
        try:
            return await super().append_event(session, event)
        except SessionBusyError:
            raise
        except StaleSessionError as exc:  # ADK's SQLite and database services alike
            raise SessionBusyError(session.id) from exc


def _checked(base: type, mixin: type | None = None) -> type:
    """`base` with `mixin` (default `_ClientChecked`) in front (ADK's store classes,
    imported lazily)."""
    return type(f"Checked{base.__name__}", (mixin or _ClientChecked, base), {})


class _CappedInMemory(_ClientChecked):
    """In-memory store: one process, and no await between the count and the insert."""

    async def create_session(self, *, app_name, user_id, **kw):
        cap = self.max_sessions_per_user
        if cap is not None and len(self.sessions.get(app_name, {}).get(user_id, {})) >= cap:
            raise SessionLimitError(user_id, cap)
        return await super().create_session(app_name=app_name, user_id=user_id, **kw)


class _CappedDatabase(_ClientChecked):
    """ADK's SQLAlchemy store: the count runs in the insert's transaction; on PostgreSQL
    under a transaction advisory lock per (app, user), so two replicas creating at the
    cap take turns (without it both would count N-1 and both insert)."""

    async def create_session(self, **kw):
        await self.prepare_tables()  # its own transactions, before the capped one
        return await super().create_session(**kw)

    @asynccontextmanager
    async def _rollback_on_exception_session(self, *, read_only: bool = False):
        async with super()._rollback_on_exception_session(read_only=read_only) as sql:
            creating = _CREATING.get()
            if creating is not None and not read_only:
                import sqlalchemy as sa  # deferred, like ADK's SQLAlchemy store itself

                app, user, cap = creating
                if self.db_engine.dialect.name == "postgresql":
                    await sql.execute(
                        sa.select(sa.func.pg_advisory_xact_lock(_cap_lock_key(app, user)))
                    )
                table = self._get_schema_classes().StorageSession
                count = await sql.scalar(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(table.app_name == app, table.user_id == user)
                )
                if count >= cap:
                    raise SessionLimitError(user, cap)
            yield sql


class SerializedSqliteSessionService(_ClientChecked, SqliteSessionService):
    """ADK's SQLite service with in-process writes taken in turn.

    ADK opens a connection per operation; 50 concurrent sessions in one process then
    fight over SQLite's write lock and some fail with "database is locked" after the
    default 5 s. Taking operations in turn per event loop removes that contention (each
    is ~1 ms in WAL mode), and a long busy timeout covers other processes on the file.
    """

    BUSY_TIMEOUT_MS = 30_000

    def __init__(self, db_path: str) -> None:
        super().__init__(db_path)
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._turns.get(loop)
        if lock is None:
            lock = self._turns[loop] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _get_db_connection(self) -> AsyncIterator:
        async with self._turn(), super()._get_db_connection() as db:
            await db.execute(f"PRAGMA busy_timeout = {self.BUSY_TIMEOUT_MS}")
            creating = _CREATING.get()
            if creating is not None:
                # The write lock before the count: another process on the file creating
                # at the cap waits for this insert's commit, then counts it.
                app, user, cap = creating
                await db.execute("BEGIN IMMEDIATE")
                async with db.execute(
                    "SELECT COUNT(*) FROM sessions WHERE app_name=? AND user_id=?", (app, user)
                ) as cursor:
                    (count,) = await cursor.fetchone()
                if count >= cap:
                    await db.rollback()
                    raise SessionLimitError(user, cap)
            yield db


def _use_wal(url: str) -> None:
    """Switch the session file to WAL journaling (persistent in the file itself).

    ADK's SQLite service commits after every event; in the default rollback-journal mode
    each commit costs several fsyncs (~150 ms a request here), in WAL about one.
    """
    import sqlite3

    from google.adk.sessions.sqlite_session_service import _parse_db_path

    path, connect_path, is_uri = _parse_db_path(url)
    if path in ("", ":memory:") or connect_path.startswith("file::memory:"):
        return
    with sqlite3.connect(connect_path, uri=is_uri) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def _redact(url: str) -> str:
    """The URL without its password (error messages end up in logs)."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def make_session_service(
    settings: Settings | None = None, url: str | None = None, *, capped: bool = False
) -> BaseSessionService:
    """The session store for `url` (default: settings' `sessions_url`); an unusable store
    is a `ConfigError` naming the setting (checked here, not at the first request).

    Used by the Python API, the CLI, `coordinator serve` and, through
    `adk_web/services.py`, by `adk web` / `adk api_server`: one store everywhere.
    `capped` (the HTTP servers) refuses a user's session beyond
    COORDINATOR_MAX_SESSIONS_PER_USER; the Python API and CLI, run by the store's owner,
    are not capped.
    """
    service = _make(settings or get_settings(), url)
    if capped:
        service.max_sessions_per_user = (settings or get_settings()).max_sessions_per_user
    return service


def _make(s: Settings, url: str | None) -> BaseSessionService:
    url = url or s.sessions_url
    if url in ("memory", "memory://"):
        from google.adk.sessions import InMemorySessionService

        return _checked(InMemorySessionService, _CappedInMemory)()
    setting = (
        "COORDINATOR_SESSION_DB" if s.session_db_url
        else "COORDINATOR_DATABASE_URL" if s.database_url
        else "COORDINATOR_DATA_DIR"
    )
    try:
        if url.startswith(("sqlite:", "sqlite+aiosqlite:")):
            if not (s.session_db_url or s.database_url):
                s.ensure_data_dir()
            _use_wal(url)
            return SerializedSqliteSessionService(url)
        from google.adk.sessions import DatabaseSessionService

        return _checked(DatabaseSessionService, _CappedDatabase)(db_url=url)
    except ConfigError:
        raise
    except Exception as exc:  # bad URL, missing driver, unopenable file: one line
        storage = as_storage_error(exc)  # a full or read-only disk is not a bad setting
        if storage is not None and re.search(r"disk is full|disk full|No space|read-only",
                                             str(storage)):
            raise storage from None
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{setting}={_redact(url)}: unusable session store: {detail}") from None
