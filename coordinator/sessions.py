"""Session storage through ADK's own session services.

SQLite file in the data dir by default (sessions survive restarts); any SQLAlchemy URL
(COORDINATOR_SESSION_DB, else COORDINATOR_DATABASE_URL, e.g. `postgresql+psycopg://...`)
selects ADK's `DatabaseSessionService` for scale-out, where several stateless replicas
share one database.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
    """Mixin for the store classes: `check_client_write` on every write from outside."""

    async def create_session(self, *, app_name, user_id, state=None, session_id=None, **kw):
        bad = _reserved(state)
        if bad:
            raise ClientWriteError(
                f"state key {str(bad[0])[:80]!r} is written only by the server: a new session "
                "may start with plain keys (letters, digits, _) only"
            )
        return await super().create_session(
            app_name=app_name, user_id=user_id, state=state, session_id=session_id, **kw
        )

    async def append_event(self, session: Session, event: Event) -> Event:
        check_client_write(event)
        try:
            return await super().append_event(session, event)
        except SessionBusyError:
            raise
        except StaleSessionError as exc:  # ADK's SQLite and database services alike
            raise SessionBusyError(session.id) from exc


def _checked(base: type) -> type:
    """`base` with `_ClientChecked` in front (ADK's store classes, imported lazily)."""
    return type(f"Checked{base.__name__}", (_ClientChecked, base), {})


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
    settings: Settings | None = None, url: str | None = None
) -> BaseSessionService:
    """The session store for `url` (default: settings' `sessions_url`); an unusable store
    is a `ConfigError` naming the setting (checked here, not at the first request).

    Used by the Python API, the CLI, `coordinator serve` and, through
    `adk_web/services.py`, by `adk web` / `adk api_server`: one store everywhere.
    """
    s = settings or get_settings()
    url = url or s.sessions_url
    if url in ("memory", "memory://"):
        from google.adk.sessions import InMemorySessionService

        return _checked(InMemorySessionService)()
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

        return _checked(DatabaseSessionService)(db_url=url)
    except ConfigError:
        raise
    except Exception as exc:  # bad URL, missing driver, unopenable file: one line
        storage = as_storage_error(exc)  # a full or read-only disk is not a bad setting
        if storage is not None and re.search(r"disk is full|disk full|No space|read-only",
                                             str(storage)):
            raise storage from None
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{setting}={_redact(url)}: unusable session store: {detail}") from None
