"""Hand-off tickets: a conversation passed to a person, in the store's SQLite file.

The engine side of escalation (the ADK tool that opens a ticket is `tools.tickets`).

One table `handoff_tickets` (its own, next to the store's tables) plus an append-only
`handoff_ticket_events` audit trail. A partial UNIQUE index allows one *open* ticket per
session, so opening is idempotent and atomic across threads and processes: a second
request in the same session (or a retry after a crash) returns the ticket already open.

The user and session always come from the ADK session (`tool_context`), never from text
or model arguments. Example::

    tickets = TicketStore()
    t, created = tickets.open(user_id="alice", session_id="s1", reason="requested",
                              summary="I was charged twice | talk to a human")
    tickets.close(t.id, actor="ops")
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coordinator.errors import UsageError
from coordinator.settings import get_settings

__all__ = ["Ticket", "TicketStore", "parse_ticket_id", "summarize_conversation"]

SUMMARY_TURNS = 6  # user turns kept in the extractive summary
SUMMARY_CHARS = 160  # per turn

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff_tickets (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    session_id TEXT NOT NULL,
    reason     TEXT NOT NULL,
    summary    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at TEXT NOT NULL,
    closed_at  TEXT
);
DROP INDEX IF EXISTS handoff_one_open_per_session;
CREATE UNIQUE INDEX IF NOT EXISTS handoff_one_open_per_user_session
    ON handoff_tickets (user_id, session_id) WHERE status = 'open';
CREATE TABLE IF NOT EXISTS handoff_ticket_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id INTEGER NOT NULL REFERENCES handoff_tickets (id),
    ts        REAL NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS handoff_events_no_update BEFORE UPDATE ON handoff_ticket_events
BEGIN SELECT RAISE(ABORT, 'the ticket audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS handoff_events_no_delete BEFORE DELETE ON handoff_ticket_events
BEGIN SELECT RAISE(ABORT, 'the ticket audit trail is append-only'); END;
"""


class Ticket(BaseModel):
    """One hand-off ticket."""

    model_config = ConfigDict(frozen=True)

    id: int
    number: str = Field(description="What the user is told, e.g. T-00042.")
    user_id: str = Field(description="From the authenticated session, never from text.")
    session_id: str
    reason: str = Field(description="requested, frustration or repeated_failure.")
    summary: str = Field(description="Extractive summary: the user's recent turns.")
    status: Literal["open", "closed"]
    created_at: datetime
    closed_at: datetime | None = None


def _number(ticket_id: int) -> str:
    return f"T-{ticket_id:05d}"


def parse_ticket_id(value: str | int) -> int:
    """`T-00042`, `42` -> 42; anything else is a one-line `UsageError`."""
    text = str(value).strip().upper().removeprefix("T-")
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"bad ticket id {value!r}: expected a number like 42 or T-00042")
    return int(text)


def _row(r: sqlite3.Row) -> Ticket:
    data = dict(r)
    return Ticket(number=_number(data["id"]), **data)


class TicketStore:
    """Tickets in the store's SQLite file (default `get_settings().store_path`)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else get_settings().store_path
        self._ready = False

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            if not self._ready:
                conn.executescript(_SCHEMA)
                self._ready = True
            conn.execute("BEGIN IMMEDIATE")  # one writer at a time, across processes
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        finally:
            conn.close()

    def open(
        self, *, user_id: str, session_id: str, reason: str, summary: str, actor: str = "system"
    ) -> tuple[Ticket, bool]:
        """The session's open ticket, creating it if there is none: `(ticket, created)`.

        Keyed by user *and* session: session ids are names clients pick, and another
        user's session of the same name must get its own ticket, never this one."""
        if not user_id or not session_id:
            raise UsageError("a ticket needs an authenticated user and a session")
        with self._tx() as conn:
            existing = conn.execute(
                "SELECT * FROM handoff_tickets WHERE user_id = ? AND session_id = ? "
                "AND status = 'open'",
                (user_id, session_id),
            ).fetchone()
            if existing is not None:
                return _row(existing), False
            now = datetime.now(UTC).isoformat(timespec="seconds")
            cur = conn.execute(
                "INSERT INTO handoff_tickets (user_id, session_id, reason, summary, status, "
                "created_at) VALUES (?, ?, ?, ?, 'open', ?)",
                (user_id, session_id, reason, summary[:2000], now),
            )
            conn.execute(
                "INSERT INTO handoff_ticket_events (ticket_id, ts, action, actor) "
                "VALUES (?, ?, 'open', ?)",
                (cur.lastrowid, time.time(), actor),
            )
            row = conn.execute(
                "SELECT * FROM handoff_tickets WHERE id = ?", (cur.lastrowid,)
            ).fetchone()
            return _row(row), True

    def get(self, ticket_id: int) -> Ticket | None:
        with self._tx() as conn:
            row = conn.execute(
                "SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
        return None if row is None else _row(row)

    def list(self, *, user_id: str | None = None, status: str | None = None) -> list[Ticket]:
        where, args = [], []
        if user_id is not None:
            where.append("user_id = ?")
            args.append(user_id)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM handoff_tickets"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._tx() as conn:
            return [_row(r) for r in conn.execute(sql + " ORDER BY id", args).fetchall()]

    def close(self, ticket_id: int, *, actor: str = "operator") -> Ticket:
        """Close a ticket (idempotent: closing a closed ticket changes nothing)."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
            if row is None:
                raise UsageError(f"no ticket {_number(ticket_id)} in {self.path}")
            if row["status"] == "open":
                conn.execute(
                    "UPDATE handoff_tickets SET status = 'closed', closed_at = ? WHERE id = ?",
                    (datetime.now(UTC).isoformat(timespec="seconds"), ticket_id),
                )
                conn.execute(
                    "INSERT INTO handoff_ticket_events (ticket_id, ts, action, actor) "
                    "VALUES (?, ?, 'close', ?)",
                    (ticket_id, time.time(), actor),
                )
            row = conn.execute(
                "SELECT * FROM handoff_tickets WHERE id = ?", (ticket_id,)
            ).fetchone()
        return _row(row)

    def audit(self, ticket_id: int) -> list[dict[str, Any]]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT ts, action, actor FROM handoff_ticket_events WHERE ticket_id = ? "
                "ORDER BY id",
                (ticket_id,),
            ).fetchall()
        return [dict(r) for r in rows]


def summarize_conversation(events: list[Any]) -> str:
    """Extractive: the user's last turns, each shortened, oldest first."""
    turns: list[str] = []
    for event in events:
        if getattr(event, "author", None) != "user" or event.content is None:
            continue
        text = " ".join(
            " ".join(p.text.split()) for p in event.content.parts or [] if getattr(p, "text", None)
        )
        if text:
            turns.append(text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…")
    return " | ".join(turns[-SUMMARY_TURNS:])
