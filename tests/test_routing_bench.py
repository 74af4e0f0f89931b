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


def _csv(path: Path, rows: dict[str, list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for label, texts in rows.items():
            w.writerows([t, label] for t in texts)
    return path


BANK = {  # in scope: 10 texts per label, so a 30% test split leaves 3 per label
    label: [f"{t} number {i}" for i in range(4) for t in texts][:10]
    for label, texts in INTENTS.items()
}
ASSISTANT = {  # another bot's requests: out of scope for BANK; one duplicates a BANK text
    "alarm": [f"wake me up at {h} am" for h in range(1, 11)],
    "weather": [f"will it rain in city {i}" for i in range(9)] + ["WHERE is my  new card number 0"],
}


def test_oos_from_takes_out_of_scope_rows_from_the_other_sets_test_split(tmp_path):
    bank, other = _csv(tmp_path / "bank.csv", BANK), _csv(tmp_path / "assistant.csv", ASSISTANT)
    data = load_dataset(str(bank), oos=0, oos_from=str(other), seed=1)
    trained = {t for t, _ in data["train"]}
    oos = [t for t, lab in data["test"] if lab == FALLBACK]
    assert {lab for _, lab in data["train"]} == set(INTENTS)  # every label stays in scope
    assert data["held_out"] == []
    other_test = {t for t, _ in load_dataset(str(other), oos=0, seed=1)["test"]}
    assert oos and set(oos) <= other_test  # only the other set's *test* rows
    assert not set(oos) & trained
    in_test = [t for t, lab in data["test"] if lab != FALLBACK]
    assert len(oos) == len(in_test) // 3  # default: a quarter of the test set
    assert data == load_dataset(str(bank), oos_from=str(other), seed=1)  # seeded


def test_oos_from_drops_duplicates_of_in_scope_and_exposure_texts(tmp_path):
    bank, other = _csv(tmp_path / "bank.csv", BANK), _csv(tmp_path / "assistant.csv", ASSISTANT)
    exposure = ["wake me up at 1 am", "will it rain in city 0"]
    pool: set[str] = set()
    for seed in range(20):  # a seed whose test split holds the duplicate
        data = load_dataset(
            str(bank), oos_from=str(other), oos_sample=100, not_oos=exposure, seed=seed
        )
        oos = {t for t, lab in data["test"] if lab == FALLBACK}
        assert "WHERE is my  new card number 0" not in oos  # same as a BANK text but for case
        assert not oos & set(exposure)
        assert len(oos) == data["oos_from"]["pool"]  # --oos-sample above the pool: all of it
        pool |= oos
        if data["oos_from"]["duplicates_of_in_scope_removed"]:
            break
    else:
        pytest.fail("no seed put the duplicate in the other set's test split")
    few = load_dataset(str(bank), oos_from=str(other), oos_sample=2, seed=seed)
    assert sum(lab == FALLBACK for _, lab in few["test"]) == 2


def test_cli_bad_oos_from_is_one_line_exit_2(tmp_path):
    bank, other = _csv(tmp_path / "bank.csv", BANK), _csv(tmp_path / "assistant.csv", ASSISTANT)
    dup = _csv(tmp_path / "dup.csv", {"a": BANK["lost_card"], "b": BANK["card_arrival"]})
    for args, says in (
        (["--oos-from", str(tmp_path / "nope.csv")], "--oos-from"),
        (["--dataset", str(bank), "--oos-from", str(bank)], "another dataset"),
        (["--oos-from", "bitext"], "another dataset"),
        (["--oos-from", "banking77"], "--oos-from-dir"),
        (["--oos-from", "hwu64", "--oos-from-dir", str(tmp_path / "missing")], "not found"),
        (["--oos-from", str(other), "--oos", "3"], "drop --oos"),
        (["--oos-from", str(other), "--oos-sample", "0"], "--oos-sample"),
        (["--oos-sample", "5"], "needs --oos-from"),
        (["--oos-from-dir", str(tmp_path)], "needs --oos-from"),
        (["--dataset", str(bank), "--oos-from", str(dup)], "no test rows left"),
    ):
        r = _cli(*args, "--no-semantic-router")
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert says in r.stderr, (args, r.stderr)


@pytest.mark.slow
def test_cli_oos_from_reports_the_other_sets_rows_as_out_of_scope(tmp_path):
    bank, other = _csv(tmp_path / "bank.csv", BANK), _csv(tmp_path / "assistant.csv", ASSISTANT)
    r = _cli(
        "--dataset", str(bank), "--oos-from", str(other), "--per-route", "2",
        "--no-full", "--no-semantic-router", "--json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["held_out_as_oos"] == [] and out["routes"] == sorted(INTENTS)
    assert out["oos_from"]["dataset"] == "assistant.csv"
    assert out["n_test_oos"] == (out["n_test"] - out["n_test_oos"]) // 3
    assert all(x["oos_recall"] is not None for x in out["results"])
