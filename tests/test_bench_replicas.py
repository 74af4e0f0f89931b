"""`coordinator bench load --replicas 1,2`: the benchmark starts real `coordinator serve`
replicas itself, drives them over HTTP and prints one row per configuration; failed
requests are counted, not hidden (a run with errors exits 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from coordinator.bench.replicas import (
    ReplicaConfig,
    ReplicaLoadReport,
    ReplicaRun,
    print_report,
)
from tests._servers import REPO_ROOT


def _bench(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_", "COORDINATOR_"))
    }
    (tmp_path / "home").mkdir(exist_ok=True)
    full.update(
        COORDINATOR_MODE="offline",
        HOME=str(tmp_path / "home"),  # the replicas' ~/.adk
        PYTHONPATH=str(REPO_ROOT),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "bench", "load", *args],
        cwd=tmp_path,
        env=full,
        capture_output=True,
        text=True,
        timeout=600,  # a guard against hangs, not a speed assertion
    )


def test_one_and_two_replicas_side_by_side_in_one_table(tmp_path):
    proc = _bench(
        tmp_path,
        "--replicas",
        "1,2",
        "--sessions",
        "4",
        "--turns",
        "2",
        "--concurrency",
        "4",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = ReplicaLoadReport.model_validate_json(proc.stdout)
    assert [(c.run.database, c.run.replicas) for c in report.configs] == [
        ("sqlite", 1),
        ("sqlite", 2),
    ]
    for c in report.configs:
        r = c.run
        assert r.requests == r.ok == 8 and r.errors == {}
        assert r.history_complete and r.history_unchecked == 0
        assert 0 < r.latency_ms["p50"] <= r.latency_ms["p95"] <= r.latency_ms["max"]
        assert r.throughput_rps > 0
    first, second = report.configs
    assert first.throughput_ratio == first.p95_ratio == 1.0
    assert second.throughput_ratio == round(second.run.throughput_rps / first.run.throughput_rps, 2)
    assert "round-robin" in report.balancing
    # Nothing of the run is left behind in the working directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]


def test_failed_requests_are_counted_and_fail_the_run(tmp_path):
    # Burst 2 per user per replica, no refill to speak of: each chat's second turn (and
    # the warmed-up user's chat) is answered 429.
    proc = _bench(
        tmp_path,
        "--replicas",
        "1",
        "--sessions",
        "5",
        "--turns",
        "2",
        "--concurrency",
        "5",
        "--json",
        COORDINATOR_RATE_BURST="2",
        COORDINATOR_RATE_PER_MINUTE="0.001",
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    run = json.loads(proc.stdout)["configs"][0]["run"]
    failed = sum(run["errors"].values())
    assert failed > 0 and run["ok"] > 0
    assert run["ok"] + failed == run["requests"] == 10
    assert set(run["errors"]) <= {"HTTP 429", "create: HTTP 429"}, run["errors"]


def test_table_has_a_row_per_configuration_with_errors_and_ratios(capsys):
    def run(db: str, n: int, rps: float, p95: float, errors: dict[str, int]) -> ReplicaRun:
        return ReplicaRun(
            database=db,
            replicas=n,
            requests=10,
            ok=10 - sum(errors.values()),
            errors=errors,
            wall_s=1.0,
            throughput_rps=rps,
            latency_ms={"p50": p95 / 2, "p95": p95, "max": p95},
            history_complete=True,
            history_unchecked=0,
        )

    report = ReplicaLoadReport(
        sessions=5,
        turns=2,
        concurrency=5,
        balancing="client-side round-robin",
        configs=[
            ReplicaConfig(
                run=run("sqlite", 1, 10.0, 100.0, {}), throughput_ratio=1.0, p95_ratio=1.0
            ),
            ReplicaConfig(
                run=run("postgresql://u:***@h/db", 2, 18.0, 90.0, {"HTTP 500": 3}),
                throughput_ratio=1.8,
                p95_ratio=0.9,
            ),
        ],
    )
    print_report(report)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == 2
    assert "10 / 10" in rows[0] and "1.00x" in rows[0]
    assert "7 / 10" in rows[1] and "HTTP 500 x3" in rows[1] and "1.80x" in rows[1]
    assert "0.90x" in rows[1] and "postgresql://u:***@h/db" in rows[1]
