"""`coordinator bench load` with tiny numbers: the report has its keys and every session's
history is complete (one user event per turn plus every yielded event, no duplicates)."""

from __future__ import annotations

import json

from coordinator.cli import main

KEYS = {
    "sessions",
    "turns",
    "concurrency",
    "requests",
    "ok",
    "errors",
    "error_examples",
    "wall_s",
    "throughput_rps",
    "latency_ms",
    "routes",
    "history_complete",
    "incomplete_sessions",
    "failed_sessions",
    "events_stored",
    "session_store",
}


def test_bench_load_reports_throughput_latency_and_complete_histories(capsys, tmp_path):
    code = main(
        [
            "bench",
            "load",
            "--sessions",
            "6",
            "--concurrency",
            "3",
            "--turns",
            "2",
            "--json",
            "--data-dir",
            str(tmp_path / "load"),
        ]
    )
    out = capsys.readouterr().out
    report = json.loads(out)
    assert set(report) == KEYS
    assert code == 0
    assert report["requests"] == report["ok"] == 12 and report["errors"] == {}
    assert report["history_complete"] is True and report["incomplete_sessions"] == []
    assert set(report["latency_ms"]) == {"p50", "p95", "max", "mean"}
    assert (
        0
        < report["latency_ms"]["p50"]
        <= report["latency_ms"]["p95"]
        <= report["latency_ms"]["max"]
    )
    assert report["throughput_rps"] > 0 and sum(report["routes"].values()) == 12
    # Every turn stores at least the user event, the routing call and its response.
    assert report["events_stored"] >= 12 * 3
    assert str(tmp_path / "load") in report["session_store"]


def test_bench_load_rejects_nonsense_numbers(capsys):
    assert main(["bench", "load", "--sessions", "0"]) == 2
    assert "need --sessions" in capsys.readouterr().err
