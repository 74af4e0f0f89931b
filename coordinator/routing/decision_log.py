"""The routing decision log: every decision, with its later outcome.

Where: a SQLite file in the data dir by default (WAL with synchronous=NORMAL, so readers
such as `coordinator routes report/retune` run while the server writes and a row costs no
fsync); with COORDINATOR_DATABASE_URL the `decisions` table of that one database, shared
by every replica. SQLAlchemy Core over `coordinator.storage.database`'s engine either way.

Privacy: with `settings.log_text` False only the SHA-256 of the request is stored::

    log = DecisionLog()                       # settings.decision_log_path
    rid = log.record(decision, text="refund my order", session_id="s1", user_id="u1")
    log.record_outcome(rid, "wrong_route", correct_route="refund")
    [r.route for r in log.rows(labelled_only=True)]
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from coordinator.errors import UsageError
from coordinator.settings import get_settings
from coordinator.storage.database import ensure_schema, get_engine, locate, redact

if TYPE_CHECKING:
    from coordinator.routing.decision import Decision

__all__ = ["DecisionLog", "DecisionRow", "parse_since"]

def _table():
    md = sa.MetaData()
    return sa.Table(
        "decisions", md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float, nullable=False),
        sa.Column("session_id", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("invocation_id", sa.Text),
        sa.Column("text", sa.Text),
        sa.Column("text_sha256", sa.Text, nullable=False),
        sa.Column("route", sa.Text, nullable=False),
        sa.Column("candidate", sa.Text),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("confident", sa.Integer, nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("outcome", sa.Text),
        sa.Column("correct_route", sa.Text),
        sa.Column("outcome_ts", sa.Float),
        sa.Index("decisions_ts", "ts"),
        sqlite_autoincrement=True,
    )


_TABLE = None


def _decisions():
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    return _TABLE


def _step_create(conn) -> None:
    """Version 1: the decisions table (files made before versions were recorded have it)."""
    _decisions().metadata.create_all(conn, checkfirst=True)


SCHEMA_STEPS = (_step_create,)

_COLUMNS = (
    "id, ts, session_id, user_id, invocation_id, text, text_sha256, route, candidate, "
    "confidence, confident, method, scores, latency_ms, outcome, correct_route, outcome_ts"
)

_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))


class DecisionRow(BaseModel):
    """One logged decision, as read back for reports and retuning."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Row id returned by `record()`.")
    ts: float = Field(description="Unix time of the decision.")
    session_id: str | None = Field(None, description="ADK session id.")
    user_id: str | None = Field(None, description="ADK user id.")
    invocation_id: str | None = Field(None, description="ADK invocation id.")
    text: str | None = Field(None, description="Request text (None when logging hashes only).")
    text_sha256: str = Field(description="SHA-256 hex digest of the request text.")
    route: str = Field(description="Route the request was sent to.")
    candidate: str | None = Field(None, description="Best in-scope route, even when unsure.")
    confidence: float = Field(description="Router confidence of the top route.")
    confident: bool = Field(description="Whether the router cleared its threshold.")
    method: str = Field(description="embedding, classifier, llm, fallback or pending.")
    scores: dict[str, float] = Field(default_factory=dict, description="Per-route scores.")
    latency_ms: float = Field(description="Router latency.")
    outcome: str | None = Field(None, description="Later feedback, e.g. resolved, wrong_route.")
    correct_route: str | None = Field(None, description="The route it should have gone to.")
    outcome_ts: float | None = Field(None, description="When the outcome was recorded.")


def _to_row(values: tuple) -> DecisionRow:
    data = dict(zip(_NAMES, values, strict=True))
    data["scores"] = json.loads(data["scores"] or "{}")
    data["confident"] = bool(data["confident"])
    return DecisionRow.model_validate(data)


def parse_since(value: str | float | None) -> float | None:
    """`--since` as unix time: ISO date/time, or a relative age like `30m`, `24h`, `7d`."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UsageError(
            f"--since {value!r}: expected an ISO date (2025-01-31) or an age like 24h, 7d"
        ) from None


class DecisionLog:
    """Append-only log of routing decisions (thread- and process-safe)."""

    def __init__(self, path: str | Path | None = None, *, log_text: bool | None = None) -> None:
        settings = get_settings()
        self.log_text = settings.log_text if log_text is None else log_text
        self.path, self.url = locate(
            path, default=settings.decision_log_path, url=settings.database_url
        )
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._engine = get_engine(self.url, fast_sqlite=self.path is not None)
        if self.path is not None:
            with sqlite3.connect(self.path, timeout=10.0) as conn:  # persistent in the file
                conn.execute("PRAGMA journal_mode=WAL")
            conn.close()
        ensure_schema(self._engine, "decisions", SCHEMA_STEPS)
        self._t = _decisions()

    @property
    def where(self) -> str:
        """The log's location for messages (a path, or the URL without its password)."""
        return str(self.path) if self.path is not None else redact(self.url)

    def close(self) -> None:
        """Release this log's SQLite connections (a shared database's pool stays)."""
        if self.path is not None:
            self._engine.dispose()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes ----------------------------------------------------------------------------

    def record(
        self,
        decision: Decision,
        *,
        text: str,
        session_id: str | None = None,
        user_id: str | None = None,
        invocation_id: str | None = None,
    ) -> int:
        """Store one decision; returns its id (for `record_outcome`)."""
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        values = {
            "ts": time.time(),
            "session_id": session_id,
            "user_id": user_id,
            "invocation_id": invocation_id,
            "text": text if self.log_text else None,
            "text_sha256": digest,
            "route": decision.route,
            "candidate": decision.candidate,
            "confidence": float(decision.confidence),
            "confident": int(bool(decision.confident)),
            "method": decision.method,
            "scores": json.dumps(decision.scores, separators=(",", ":")),
            "latency_ms": float(decision.latency_ms),
        }
        with self._engine.begin() as conn:
            result = conn.execute(self._t.insert().values(**values))
            return int(result.inserted_primary_key[0])

    def record_outcome(
        self, decision_id: int, outcome: str, correct_route: str | None = None
    ) -> None:
        """Attach later feedback (e.g. `resolved`, `wrong_route`) and the right route."""
        if not outcome:
            raise UsageError("outcome must be a non-empty string")
        t = self._t
        with self._engine.begin() as conn:
            result = conn.execute(
                t.update().where(t.c.id == int(decision_id))
                .values(outcome=outcome, correct_route=correct_route, outcome_ts=time.time())
            )
        if result.rowcount == 0:
            raise UsageError(f"no decision with id {decision_id} in {self.where}")

    # --- reads -----------------------------------------------------------------------------

    def _select(self):
        return sa.select(*(self._t.c[name] for name in _NAMES))

    def rows(
        self,
        *,
        since: float | None = None,
        route: str | None = None,
        method: str | None = None,
        labelled_only: bool = False,
        limit: int | None = None,
    ) -> list[DecisionRow]:
        """Decisions oldest first, optionally filtered (labelled: has a correct_route)."""
        t = self._t
        stmt = self._select()
        if since is not None:
            stmt = stmt.where(t.c.ts >= since)
        if route is not None:
            stmt = stmt.where(t.c.route == route)
        if method is not None:
            stmt = stmt.where(t.c.method == method)
        if labelled_only:
            stmt = stmt.where(t.c.correct_route.is_not(None))
        stmt = stmt.order_by(t.c.id)
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._engine.connect() as conn:
            fetched = conn.execute(stmt).all()
        return [_to_row(tuple(values)) for values in fetched]

    def get(self, decision_id: int) -> DecisionRow | None:
        with self._engine.connect() as conn:
            values = conn.execute(
                self._select().where(self._t.c.id == int(decision_id))
            ).first()
        return None if values is None else _to_row(tuple(values))

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self._t)).scalar_one())
