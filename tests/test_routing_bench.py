"""`coordinator bench routing`: dataset loaders (synthetic files in the public formats),
the typo generator, and the CLI on bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.bench.datasets import FALLBACK, few_shot, load_dataset
from coordinator.bench.typos import misspell, typo_copy
from coordinator.errors import UsageError

INTENTS = {
    "card_arrival": ["where is my new card", "my card has not arrived yet", "card still not here"],
    "exchange_rate": ["what is the exchange rate", "euro to dollar rate", "how much is a pound"],
    "lost_card": ["i lost my card", "my card was stolen", "cannot find my card anywhere"],
}


def _banking77(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for name, reps in (("train.csv", 4), ("test.csv", 1)):
        with (d / name).open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "category"])
            for label, texts in INTENTS.items():
                for i in range(reps):
                    w.writerows([f"{t} {i}" if reps > 1 else t, label] for t in texts)
    return d


HWU = {
    ("alarm", "set"): ["wake me up at seven", "set an alarm for six am", "alarm at noon please"],
    ("alarm", "query"): ["what alarms do i have", "list my alarms", "is my alarm on"],
    ("weather", "query"): ["will it rain today", "weather in paris", "is it cold outside"],
    ("music", "play"): ["play some jazz", "put on my playlist", "play the next song"],
}


def _hwu64(d: Path) -> Path:
    (d / "trainset").mkdir(parents=True)
    for (scenario, intent), texts in HWU.items():
        with (d / "trainset" / f"{scenario}_{intent}.csv").open("w", encoding="utf-8") as f:
            f.write(
                "answerid;scenario;intent;answer_annotation;answer_from_anno;answer_from_user\n"
            )
            for i, t in enumerate(texts * 3):
                f.write(f'{i};{scenario};{intent};"{t} {i}";"{t} {i}";"{t}"\n')
        folder = d / "testset" / "annotated" / f"{scenario}_{intent}"
        folder.mkdir(parents=True)
        rows = [{"text": t, "intent": f"{scenario}_{intent}", "entities": []} for t in texts]
        (folder / f"{scenario}_{intent}_anno_1.json").write_text(
            json.dumps({"test_data_annotation": rows})
        )
    return d


def test_banking77_format_uses_the_official_split_without_oos(tmp_path):
    data = load_dataset("banking77", data_dir=_banking77(tmp_path / "b77"), oos=0)
    assert {lab for _, lab in data["train"]} == set(INTENTS)
    assert len(data["test"]) == 9 and all(lab != FALLBACK for _, lab in data["test"])
    assert data["held_out"] == []


def test_banking77_holds_out_intents_as_out_of_scope_by_default(tmp_path):
    data = load_dataset("banking77", data_dir=_banking77(tmp_path / "b77"))
    held = set(data["held_out"])
    assert held and held < set(INTENTS)  # a quarter of 77 by default; here all but two
    assert not held & {lab for _, lab in data["train"]}
    assert any(lab == FALLBACK for _, lab in data["test"])


def test_hwu64_holds_out_a_whole_scenario_as_out_of_scope(tmp_path):
    data = load_dataset("hwu64", data_dir=_hwu64(tmp_path / "hwu"), oos=1, seed=0)
    (scenario,) = data["held_out"]
    trained = {lab for _, lab in data["train"]}
    assert not any(lab.startswith(scenario + "_") for lab in trained)
    assert any(lab == FALLBACK for _, lab in data["test"])
    assert data == load_dataset("hwu64", data_dir=tmp_path / "hwu", oos=1, seed=0)  # seeded


def test_any_csv_with_oos_rows(tmp_path):
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, texts in INTENTS.items():
            w.writerows([t, label] for t in texts * 2)
        w.writerow(["what's the weather", "oos"])
    data = load_dataset(str(path))
    assert ("what's the weather", FALLBACK) in data["test"]
    few, _ = few_shot(data["train"], 1, 0)
    assert all(len(v) == 1 for v in few.values()) and set(few) == set(INTENTS)


def test_missing_data_dir_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--data-dir"):
        load_dataset("banking77")
    with pytest.raises(UsageError, match="not found"):
        load_dataset("hwu64", data_dir=tmp_path / "nowhere")


def test_typo_copies_are_seeded_and_change_every_text():
    texts = ["how do I reset my password", "refund my order please", "where is my invoice"]
    a, b = typo_copy(texts, seed=3), typo_copy(texts, seed=3)
    assert a == b and a != typo_copy(texts, seed=4)
    assert all(x != y for x, y in zip(a, texts, strict=True))
    assert typo_copy(["12 34 ?"]) == ["12 34 ?"]  # nothing to misspell


def test_misspell_uses_every_kind_of_typo():
    import random

    rng = random.Random(0)
    out = {misspell("password", rng) for _ in range(200)}
    lengths = {len(w) for w in out}
    assert lengths == {7, 8, 9}  # dropped, swapped/neighbour, doubled
    same = [w for w in out if len(w) == 8]
    assert any(sorted(w) == sorted("password") for w in same)  # swapped neighbours
    assert any(sorted(w) != sorted("password") for w in same)  # a neighbouring key


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", "bench", "routing", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_cli_bad_dataset_is_one_line_exit_2(tmp_path):
    for args in (
        ["--dataset", "banking77"],
        ["--dataset", "hwu64", "--data-dir", str(tmp_path / "missing")],
        ["--dataset", str(tmp_path / "nope.csv")],
        ["--per-route", "ten"],
    ):
        r = _cli(*args, "--no-semantic-router")
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.slow
def test_cli_runs_on_hwu64_format_and_reports_every_column(tmp_path):
    r = _cli(
        "--dataset", "hwu64", "--data-dir", str(_hwu64(tmp_path / "hwu")),
        "--per-route", "2", "--no-semantic-router", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    systems = {(x["system"], x["setup"]) for x in out["results"]}
    assert ("ours hybrid", "few-shot 2/route") in systems
    assert ("ours classifier", "full train") in systems
    for x in out["results"]:
        assert {"accuracy", "in_scope_accuracy", "oos_recall", "typo_accuracy", "p50_ms"} <= set(x)
        assert x["oos_recall"] is not None  # hwu64 has held-out scenarios
