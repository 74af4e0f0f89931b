"""The routing decision log: every decision, in SQLite, with its later outcome.

Why SQLite: one file in the data dir, queryable by `coordinator routes report/retune`, and
WAL mode lets readers (a report) run while the server writes. One connection per log,
guarded by a lock, so concurrent writers in one process are safe and `record()` stays well
under a millisecond (no per-call connect; WAL with synchronous=NORMAL).

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
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from coordinator.errors import UsageError

if TYPE_CHECKING:
    from coordinator.router import Decision

__all__ = ["DecisionLog", "DecisionRow", "parse_since"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ts            REAL    NOT NULL,
    session_id    TEXT,
    user_id       TEXT,
    invocation_id TEXT,
    text          TEXT,
    text_sha256   TEXT    NOT NULL,
    route         TEXT    NOT NULL,
    candidate     TEXT,
    confidence    REAL    NOT NULL,
    confident     INTEGER NOT NULL,
    method        TEXT    NOT NULL,
    scores        TEXT    NOT NULL,
    latency_ms    REAL    NOT NULL,
    outcome       TEXT,
    correct_route TEXT,
    outcome_ts    REAL
);
CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts);
"""

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
    """Append-only SQLite log of routing decisions (thread-safe within one process)."""

    def __init__(self, path: str | Path | None = None, *, log_text: bool | None = None) -> None:
        from coordinator.settings import get_settings

        settings = get_settings()
        self.path = Path(path) if path is not None else settings.decision_log_path
        self.log_text = settings.log_text if log_text is None else log_text
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._conn.commit()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

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
        row = (
            time.time(),
            session_id,
            user_id,
            invocation_id,
            text if self.log_text else None,
            digest,
            decision.route,
            decision.candidate,
            float(decision.confidence),
            int(bool(decision.confident)),
            decision.method,
            json.dumps(decision.scores, separators=(",", ":")),
            float(decision.latency_ms),
        )
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO decisions (ts, session_id, user_id, invocation_id, text, "
                "text_sha256, route, candidate, confidence, confident, method, scores, "
                "latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            self._conn.commit()
            return int(cur.lastrowid)

    def record_outcome(
        self, decision_id: int, outcome: str, correct_route: str | None = None
    ) -> None:
        """Attach later feedback (e.g. `resolved`, `wrong_route`) and the right route."""
        if not outcome:
            raise UsageError("outcome must be a non-empty string")
        with self._lock:
            cur = self._conn.execute(
                "UPDATE decisions SET outcome = ?, correct_route = ?, outcome_ts = ? WHERE id = ?",
                (outcome, correct_route, time.time(), int(decision_id)),
            )
            self._conn.commit()
        if cur.rowcount == 0:
            raise UsageError(f"no decision with id {decision_id} in {self.path}")

    # --- reads -----------------------------------------------------------------------------

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
        where, args = [], []
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if route is not None:
            where.append("route = ?")
            args.append(route)
        if method is not None:
            where.append("method = ?")
            args.append(method)
        if labelled_only:
            where.append("correct_route IS NOT NULL")
        sql = f"SELECT {_COLUMNS} FROM decisions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._lock:
            fetched = self._conn.execute(sql, args).fetchall()
        return [_to_row(values) for values in fetched]

    def get(self, decision_id: int) -> DecisionRow | None:
        with self._lock:
            values = self._conn.execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE id = ?", (int(decision_id),)
            ).fetchone()
        return None if values is None else _to_row(values)

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
