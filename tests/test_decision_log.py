"""Decision log: records, outcomes, hash-only privacy, filters, concurrent writers."""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

from coordinator.errors import UsageError
from coordinator.routing.decision_log import DecisionLog, parse_since
from coordinator.routing.router import Decision
from coordinator.settings import reset_settings


def _decision(route: str = "billing", method: str = "embedding", conf: float = 0.9) -> Decision:
    return Decision(
        route=route,
        confidence=conf,
        scores={"billing": 0.8, "refund": 0.3},
        method=method,
        confident=conf >= 0.5,
        candidate=route,
        latency_ms=0.12,
    )


def test_record_and_read_back_at_settings_path(tmp_path):
    log = DecisionLog()  # settings.decision_log_path, dir created on demand
    rid = log.record(
        _decision(),
        text="why was I charged twice",
        session_id="s1",
        user_id="u1",
        invocation_id="i1",
    )
    row = log.get(rid)
    assert row is not None
    assert log.path == tmp_path / "data" / "decisions.sqlite3"
    assert row.text == "why was I charged twice"
    assert row.text_sha256 == hashlib.sha256(b"why was I charged twice").hexdigest()
    assert (row.route, row.method, row.session_id, row.user_id) == (
        "billing",
        "embedding",
        "s1",
        "u1",
    )
    assert row.scores == {"billing": 0.8, "refund": 0.3}
    assert row.confident is True and row.latency_ms == pytest.approx(0.12)
    assert row.outcome is None


def test_outcome_is_attached_and_labelled_rows_filter(tmp_path):
    log = DecisionLog(tmp_path / "d.sqlite3")
    a = log.record(_decision(), text="a", session_id=None, user_id=None)
    log.record(_decision("refund"), text="b", session_id=None, user_id=None)
    log.record_outcome(a, "wrong_route", correct_route="refund")
    labelled = log.rows(labelled_only=True)
    assert [(r.id, r.outcome, r.correct_route) for r in labelled] == [(a, "wrong_route", "refund")]
    assert [r.text for r in log.rows(route="refund")] == ["b"]
    with pytest.raises(UsageError):
        log.record_outcome(9999, "resolved")


def test_hash_only_privacy(monkeypatch, tmp_path):
    monkeypatch.setenv("COORDINATOR_LOG_TEXT", "false")
    reset_settings()
    log = DecisionLog(tmp_path / "private.sqlite3")
    rid = log.record(_decision(), text="my card 4111 was charged", session_id="s", user_id="u")
    row = log.get(rid)
    assert row.text is None
    assert row.text_sha256 == hashlib.sha256(b"my card 4111 was charged").hexdigest()
    raw = (tmp_path / "private.sqlite3").read_bytes()
    assert b"4111" not in raw


def test_concurrent_writers_in_one_process(tmp_path):
    log = DecisionLog(tmp_path / "c.sqlite3")
    ids: list[int] = []

    def work(n: int) -> None:
        for i in range(50):
            ids.append(log.record(_decision(), text=f"{n}-{i}", session_id=str(n), user_id=None))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count() == 200
    assert len(set(ids)) == 200


def test_since_filter_and_parsing(tmp_path):
    log = DecisionLog(tmp_path / "s.sqlite3")
    log.record(_decision(), text="x", session_id=None, user_id=None)
    assert len(log.rows(since=time.time() + 60)) == 0
    assert len(log.rows(since=parse_since("1h"))) == 1
    assert parse_since("2024-01-31") < time.time()
    with pytest.raises(UsageError):
        parse_since("yesterday-ish")
