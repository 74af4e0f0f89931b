"""`coordinator bench fanout`: three columns measured in one run, one definition of
efficiency, N = 256 and 1000 unless --n says otherwise. No timing is asserted here."""

from __future__ import annotations

import json

import pytest

from coordinator.bench import fanout
from coordinator.cli import main


@pytest.mark.anyio
async def test_measure_reports_adk_ours_and_gather_side_by_side():
    record = await fanout.measure(12, 0.01, repeat=2)
    assert record["n"] == 12 and record["ideal_s"] == 0.01 and record["repeat"] == 2
    for column in fanout.COLUMNS:
        runs = record[f"{column}_runs_s"]
        assert len(runs) == 2 and all(r > 0 for r in runs)
        assert min(runs) <= record[f"{column}_s"] <= max(runs)  # the median of the runs
        # one definition for every column: ideal / median wall
        assert record[f"{column}_efficiency"] == pytest.approx(
            record["ideal_s"] / record[f"{column}_s"],
            rel=0.02,  # both are rounded
        )
    assert record["adk_error"] is None  # 12 calls fit ADK's limit of 500
    assert record["ours_result"] == "12/12 results; 516 chars"
    assert "same for every column" in record["efficiency"]


@pytest.mark.anyio
async def test_a_concurrency_limit_bounds_ours_and_gather_alike():
    record = await fanout.measure(6, 0.02, concurrency=2, repeat=1)
    assert record["concurrency"] == 2 and record["ideal_s"] == pytest.approx(0.06)
    # three rounds of 20 ms cannot finish sooner than 60 ms, with or without the engine
    assert record["ours_s"] >= 0.06 and record["gather_s"] >= 0.06


def test_cli_takes_several_n_and_prints_every_column(capsys):
    assert (
        main(
            [
                "bench",
                "fanout",
                "--n",
                "3",
                "--n",
                "5",
                "--latency",
                "0.01",
                "--repeat",
                "1",
                "--json",
            ]
        )
        == 0
    )
    records = json.loads(capsys.readouterr().out)
    assert [r["n"] for r in records] == [3, 5]
    assert all(r["gather_efficiency"] and r["ours_efficiency"] for r in records)

    assert main(["bench", "fanout", "--n", "4", "--latency", "0.01", "--repeat", "1"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "gather eff" in out and "efficiency = ideal / wall" in out


def test_default_sizes_are_256_and_1000():
    assert fanout.DEFAULT_SIZES == (256, 1000)
