"""One turn per session at a time, across every process and replica that shares the sessions.

The HTTP guards answer 409 to a second turn in a session that is still running, but their
set of busy sessions lives in one process. Two replicas behind a load balancer would each
start a turn of the same session, and ADK's stale-session check fires only when the later
one appends an event: by then it may have called models, and the turn it interrupts loses
its answer. A lease taken before the turn starts closes that gap:

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) held on one dedicated
  connection per process. The server drops every lock of a connection that goes away, so
  a replica killed mid-turn frees its sessions at once; nothing is left to expire.
- SQLite (processes sharing one data dir): a POSIX byte-range lock (`lockf`) on one lock
  file beside the sessions file, at an offset hashed from the session. The kernel drops a
  process's locks when it exits, kill -9 included.

A 64-bit hash can collide; two sessions sharing a lock only means one waits for a 409 retry.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path

import anyio
from sqlalchemy.engine import make_url

from coordinator.settings import Settings
from coordinator.storage.database import is_postgres, normalize_url

__all__ = ["TurnLeases", "lease_key"]

SessionKey = tuple[str, str, str]  # (app, user, session)


def lease_key(key: SessionKey) -> int:
    """A signed 64-bit number for the session (PostgreSQL's advisory-lock key space)."""
    digest = hashlib.sha256("\x1f".join(key).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class TurnLeases:
    """`try_acquire(key)` -> True if no other process runs a turn of that session.

    Re-entrancy within one process is the guard's job (its in-memory busy set is checked
    first); this only tells processes apart.
    """

    def __init__(self, sessions_url: str) -> None:
        url = normalize_url(sessions_url, setting="COORDINATOR_SESSION_DB")
        self._postgres = is_postgres(url)
        self._url = url
        self._lock = threading.Lock()  # one connection / file handle per process
        self._conn = None
        self._fd: int | None = None
        if not self._postgres:
            path = Path(make_url(url).database or "")
            self._lock_path = path.with_name(path.name + ".turns.lock")

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnLeases | None:
        """Leases for the sessions store in `settings`; None for stores no other process
        shares (in-memory) or that ADK manages elsewhere (Vertex AI, Spanner...)."""
        url = settings.sessions_url
        if not url.startswith(("sqlite:///", "postgresql")):
            return None
        return cls(url)

    async def try_acquire(self, key: SessionKey) -> bool:
        return await anyio.to_thread.run_sync(self._acquire, lease_key(key))

    async def release(self, key: SessionKey) -> None:
        # Shielded: a cancelled request must still give its session back.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._release, lease_key(key))

    # --- PostgreSQL: advisory locks on one connection --------------------------------------

    def _pg(self):
        if self._conn is None or self._conn.closed:
            import psycopg  # deferred: only servers on PostgreSQL load the driver here

            # libpq's own URI form of the same database (`?host=/socket/dir` included).
            conninfo = make_url(self._url).set(drivername="postgresql")
            self._conn = psycopg.connect(
                conninfo.render_as_string(hide_password=False), autocommit=True
            )
        return self._conn

    def _acquire(self, number: int) -> bool:
        with self._lock:
            if self._postgres:
                return self._pg_call("SELECT pg_try_advisory_lock(%s)", number)
            return self._file_lock(number, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _release(self, number: int) -> None:
        with self._lock:
            if self._postgres:
                self._pg_call("SELECT pg_advisory_unlock(%s)", number)
            else:
                self._file_lock(number, fcntl.LOCK_UN)

    def _pg_call(self, sql: str, number: int) -> bool:
        for attempt in (1, 2):
            try:
                return bool(self._pg().execute(sql, (number,)).fetchone()[0])
            except Exception:
                # The connection went away, and with it every lock it held: reconnect once.
                # A release then has nothing left to release; an acquire starts afresh.
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        return False

    # --- SQLite: byte-range locks on one file ----------------------------------------------

    def _file_lock(self, number: int, op: int) -> bool:
        if self._fd is None:
            self._lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        offset = number & ((1 << 62) - 1)  # non-negative, within off_t
        try:
            fcntl.lockf(self._fd, op, 1, offset)
        except (BlockingIOError, PermissionError):
            return False
        return True
