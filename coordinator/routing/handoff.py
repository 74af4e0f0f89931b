"""Hand-off tickets: a conversation passed to a person, in the store's database.

The engine side of escalation (the ADK tool that opens a ticket is `tools.tickets`).

One table `handoff_tickets` (its own, next to the store's tables: the store's SQLite file,
or COORDINATOR_DATABASE_URL) plus an append-only `handoff_ticket_events` audit trail. A
partial UNIQUE index allows one *open* ticket per session, so opening is idempotent and
atomic across threads, processes and replicas: a second request in the same session (or a
retry after a crash) returns the ticket already open.

The user and session always come from the ADK session (`tool_context`), never from text
or model arguments. Example::

    tickets = TicketStore()
    t, created = tickets.open(user_id="alice", session_id="s1", reason="requested",
                              summary="I was charged twice | talk to a human")
    tickets.close(t.id, actor="ops")
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coordinator.errors import UsageError
from coordinator.settings import get_settings
from coordinator.storage.database import append_only, ensure_schema, get_engine, locate, redact

__all__ = ["Ticket", "TicketStore", "parse_ticket_id", "summarize_conversation"]

SUMMARY_TURNS = 6  # user turns kept in the extractive summary
SUMMARY_CHARS = 160  # per turn

def _tables():
    md = sa.MetaData()
    tickets = sa.Table(
        "handoff_tickets", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("status", sa.Text, sa.CheckConstraint("status IN ('open', 'closed')"),
                  nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("closed_at", sa.Text),
        sqlite_autoincrement=True,
    )
    sa.Index(
        "handoff_one_open_per_user_session", tickets.c.user_id, tickets.c.session_id,
        unique=True,
        sqlite_where=tickets.c.status == "open",
        postgresql_where=tickets.c.status == "open",
    )
    sa.Table(
        "handoff_ticket_events", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("handoff_tickets.id"), nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    return md


_MD = None


def _t(name: str):
    global _MD
    if _MD is None:
        _MD = _tables()
    return _MD.tables[name]


def _step_create(conn) -> None:
    """Version 1: both tables, one open ticket per (user, session), an append-only trail."""
    # The first release's index allowed one open ticket per session name, across users.
    conn.exec_driver_sql("DROP INDEX IF EXISTS handoff_one_open_per_session")
    _t("handoff_tickets").metadata.create_all(conn, checkfirst=True)
    if conn.dialect.name == "sqlite":  # the trigger names files made before versions have
        for verb in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS handoff_events_no_{verb.lower()} BEFORE {verb} "
                "ON handoff_ticket_events BEGIN SELECT RAISE(ABORT, "
                "'the ticket audit trail is append-only'); END"
            )
    else:
        append_only(conn, "handoff_ticket_events")


SCHEMA_STEPS = (_step_create,)


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


def _row(r: Any) -> Ticket:
    data = dict(r._mapping)
    return Ticket(number=_number(data["id"]), **data)


class TicketStore:
    """Tickets in the store's database: a SQLite file (default `get_settings().store_path`)
    or COORDINATOR_DATABASE_URL."""

    def __init__(self, path: str | Path | None = None) -> None:
        settings = get_settings()
        self.path, self.url = locate(path, default=settings.store_path, url=settings.database_url)
        self._ready = False

    @property
    def where(self) -> str:
        return str(self.path) if self.path is not None else redact(self.url)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction; SQLite: BEGIN IMMEDIATE (one writer at a time, across processes)."""
        engine = get_engine(self.url)
        if not self._ready:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            ensure_schema(engine, "tickets", SCHEMA_STEPS)
            self._ready = True
        with engine.connect() as conn:
            conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    def _open_ticket(self, user_id: str, session_id: str) -> Any:
        t = _t("handoff_tickets")
        return select(t).where(t.c.user_id == user_id, t.c.session_id == session_id,
                               t.c.status == "open")

    def open(
        self, *, user_id: str, session_id: str, reason: str, summary: str, actor: str = "system"
    ) -> tuple[Ticket, bool]:
        """The session's open ticket, creating it if there is none: `(ticket, created)`.

        Keyed by user *and* session: session ids are names clients pick, and another
        user's session of the same name must get its own ticket, never this one. Two
        replicas opening at once: the partial UNIQUE index lets one insert win, the other
        returns the winner's ticket."""
        if not user_id or not session_id:
            raise UsageError("a ticket needs an authenticated user and a session")
        tickets, events = _t("handoff_tickets"), _t("handoff_ticket_events")
        try:
            with self._tx() as conn:
                existing = conn.execute(self._open_ticket(user_id, session_id)).first()
                if existing is not None:
                    return _row(existing), False
                now = datetime.now(UTC).isoformat(timespec="seconds")
                result = conn.execute(tickets.insert().values(
                    user_id=user_id, session_id=session_id, reason=reason,
                    summary=summary[:2000], status="open", created_at=now,
                ))
                ticket_id = result.inserted_primary_key[0]
                conn.execute(events.insert().values(
                    ticket_id=ticket_id, ts=time.time(), action="open", actor=actor
                ))
                row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).one()
                return _row(row), True
        except IntegrityError:
            with self._tx() as conn:
                existing = conn.execute(self._open_ticket(user_id, session_id)).first()
            if existing is None:
                raise
            return _row(existing), False

    def get(self, ticket_id: int) -> Ticket | None:
        t = _t("handoff_tickets")
        with self._tx() as conn:
            row = conn.execute(select(t).where(t.c.id == ticket_id)).first()
        return None if row is None else _row(row)

    def list(self, *, user_id: str | None = None, status: str | None = None) -> list[Ticket]:
        t = _t("handoff_tickets")
        stmt = select(t)
        if user_id is not None:
            stmt = stmt.where(t.c.user_id == user_id)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        with self._tx() as conn:
            return [_row(r) for r in conn.execute(stmt.order_by(t.c.id)).all()]

    def close(self, ticket_id: int, *, actor: str = "operator") -> Ticket:
        """Close a ticket (idempotent: closing a closed ticket changes nothing)."""
        tickets, events = _t("handoff_tickets"), _t("handoff_ticket_events")
        with self._tx() as conn:
            stmt = select(tickets).where(tickets.c.id == ticket_id).with_for_update()
            row = conn.execute(stmt).first()
            if row is None:
                raise UsageError(f"no ticket {_number(ticket_id)} in {self.where}")
            if row.status == "open":
                conn.execute(
                    tickets.update().where(tickets.c.id == ticket_id).values(
                        status="closed",
                        closed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    )
                )
                conn.execute(events.insert().values(
                    ticket_id=ticket_id, ts=time.time(), action="close", actor=actor
                ))
            row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).one()
        return _row(row)

    def audit(self, ticket_id: int) -> list[dict[str, Any]]:
        e = _t("handoff_ticket_events")
        with self._tx() as conn:
            rows = conn.execute(
                select(e.c.ts, e.c.action, e.c.actor).where(e.c.ticket_id == ticket_id)
                .order_by(e.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]


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
