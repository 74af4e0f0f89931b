"""`coordinator bench startup`: the plumbing (pairing, alternation, data dirs, the child's own
CPU time, errors, output), with cheap stand-in commands. Its timings are the benchmark's
business, not the tests'."""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import pytest

from coordinator.bench import startup
from coordinator.bench.startup import Command, build_commands, measure
from coordinator.cli import main
from coordinator.errors import CoordinatorError, UsageError

pytestmark = pytest.mark.skipif(not hasattr(os, "wait4"), reason="os.wait4 is Unix only")

# A child that appends "name data_dir entries-in-data-dir" to LOG, then leaves a file in its
# data dir (so a dir reused by the next run is visible).
_CHILD = """\
import os, sys
from pathlib import Path
name, log = sys.argv[1], sys.argv[2]
d = os.environ.get("COORDINATOR_DATA_DIR")
n = len(list(Path(d).iterdir())) if d and Path(d).is_dir() else -1
with open(log, "a") as f:
    f.write(f"{name} {d} {n} {os.environ.get('COORDINATOR_MODE')} "
            f"{os.environ.get('GOOGLE_API_KEY')} {os.environ.get('COORDINATOR_DATABASE_URL')}\\n")
if d:
    Path(d).mkdir(parents=True, exist_ok=True)
    (Path(d) / f"run-{n}").write_text("x")
"""


def _child(name: str, log: Path, data_dir: str | None = None) -> Command:
    return Command(name, (sys.executable, "-c", _CHILD, name, str(log)), data_dir)


def _lines(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()]


def test_pairs_alternate_and_every_command_runs_once_uncounted_first(tmp_path):
    log = tmp_path / "log"
    yard, a, b = _child("yard", log), _child("a", log), _child("b", log)
    report = measure(yard, [a, b], {"a": 2, "b": 2}, workdir=tmp_path / "w")
    order = [parts[0] for parts in _lines(log)]
    assert order == [
        "yard",
        "a",
        "b",  # uncounted warm-up
        "yard",
        "a",
        "b",
        "yard",  # round 0: a yardstick-first, b subject-first
        "a",
        "yard",
        "yard",
        "b",  # round 1: flipped
    ]
    assert [r.name for r in report.rows] == ["a", "b"]
    for row in report.rows:
        assert row.runs == len(row.samples) == len(row.yardstick) == 2
        ratios = [s.cpu_s / y.cpu_s for s, y in zip(row.samples, row.yardstick, strict=True)]
        assert row.ratio == pytest.approx(statistics.median(ratios), abs=1e-3)
        assert row.ratio_min == pytest.approx(min(ratios), abs=1e-3)
        assert row.cpu_s == pytest.approx(statistics.median(s.cpu_s for s in row.samples), abs=1e-3)
    assert report.yardstick.runs == 4  # every pair's yardstick run
    assert report.load_before is None or len(report.load_before) == 3


def test_per_subject_run_counts(tmp_path):
    log = tmp_path / "log"
    report = measure(
        _child("yard", log),
        [_child("warm", log, "warm"), _child("cold", log, "fresh")],
        {"warm": 3, "cold": 1},
        workdir=tmp_path / "w",
    )
    assert [r.runs for r in report.rows] == [3, 1]
    assert [p[0] for p in _lines(log)].count("cold") == 2  # warm-up + 1


def test_warm_dir_is_shared_and_kept_fresh_dirs_are_new_and_empty(tmp_path, monkeypatch):
    # The user's credentials and database never reach the timed processes.
    monkeypatch.setenv("GOOGLE_API_KEY", "secret")
    monkeypatch.setenv("COORDINATOR_DATABASE_URL", "postgresql://u:p@db/x")
    log = tmp_path / "log"
    measure(
        _child("yard", log),
        [_child("warm", log, "warm"), _child("cold", log, "fresh")],
        {"warm": 3, "cold": 3},
        workdir=tmp_path / "w",
    )
    rows = _lines(log)
    warm = [r for r in rows if r[0] == "warm"]
    cold = [r for r in rows if r[0] == "cold"]
    yard = [r for r in rows if r[0] == "yard"]
    assert len({r[1] for r in warm}) == 1  # one data dir ...
    assert [int(r[2]) for r in warm] == [-1, 1, 2, 3]  # ... that keeps what runs leave
    assert len({r[1] for r in cold}) == len(cold) == 4  # a new dir each run ...
    assert {r[2] for r in cold} == {"-1"}  # ... that does not exist yet (empty)
    assert not any(Path(r[1]).exists() for r in cold)  # and is removed after the run
    assert {r[1] for r in yard} == {"None"}  # no data dir for the yardstick
    assert {(r[3], r[4], r[5]) for r in rows} == {("offline", "None", "None")}


def test_cpu_time_is_the_childs_own_not_wall_time(tmp_path):
    sleeper = Command("sleep", (sys.executable, "-c", "import time; time.sleep(0.6)"))
    burner = Command(
        "burn",
        (
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass",
        ),
    )
    report = measure(sleeper, [burner], {"burn": 1}, workdir=tmp_path)
    slept = report.yardstick.samples[0]
    burnt = report.rows[0].samples[0]
    assert slept.wall_s >= 0.6 and slept.cpu_s < slept.wall_s - 0.3
    assert burnt.cpu_s >= 0.4
    assert burnt.peak_mib > 1


def test_a_failing_command_is_one_line_with_its_last_words(tmp_path):
    bad = Command(
        "bad",
        (
            sys.executable,
            "-c",
            "import sys; print('first', file=sys.stderr); sys.exit('coordinator: something broke')",
        ),
    )
    with pytest.raises(CoordinatorError, match=r"exited with 1: coordinator: something broke"):
        measure(Command("ok", (sys.executable, "-c", "pass")), [bad], {"bad": 1}, workdir=tmp_path)


def test_the_real_commands(tmp_path):
    doc = tmp_path / "contract.txt"
    yard, cmds = build_commands(
        ["ask", "ask-cold", "review", "floor"],
        text="hi there",
        user="bob",
        document=doc,
        python="py",
    )
    assert yard.argv == ("py", "-c", "import google.adk.runners") and yard.data_dir is None
    ask, cold, review, floor = cmds
    assert ask.argv == ("py", "-m", "coordinator", "ask", "hi there", "--user", "bob")
    assert (ask.data_dir, cold.data_dir, review.data_dir, floor.data_dir) == (
        "warm",
        "fresh",
        "warm",
        None,
    )
    assert cold.argv == ask.argv
    assert review.argv == ("py", "-m", "coordinator", "review", str(doc))
    assert "InMemoryRunner" in floor.argv[2] and "run_async" in floor.argv[2]
    with pytest.raises(UsageError, match="unknown subject"):
        build_commands(["nope"], text="x", user="u", document=None)
    with pytest.raises(UsageError, match="--document"):
        build_commands(["review"], text="x", user="u", document=None)


def test_the_floor_script_answers_through_adk(tmp_path):
    """The floor really runs one request: its script fails loudly if ADK's API moved."""
    _, (floor,) = build_commands(["floor"], text="x", user="u", document=None)
    report = measure(
        Command("noop", (sys.executable, "-c", "pass")), [floor], {"floor": 1}, workdir=tmp_path
    )
    assert report.rows[0].cpu_s > report.yardstick.cpu_s


def test_cli_prints_the_ratio_and_the_goal(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log"

    def cheap(names, **kw):
        return _child("yardstick", log), [_child(n, log, "warm") for n in names]

    monkeypatch.setattr(startup, "build_commands", cheap)
    assert main(["bench", "startup", "--only", "ask", "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert "CPU / yardstick" in out and "goal: warm `ask` <= 1.5 x yardstick" in out
    assert "load average before" in out
    assert main(["bench", "startup", "--only", "ask,floor", "--runs", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["rows"]] == ["ask", "floor"]
    assert data["goal"] == 1.5 and data["yardstick"]["runs"] == 2
    assert all(r["ratio"] > 0 for r in data["rows"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--runs", "0"],
        ["--only", "ask,ask"],
        ["--only", "nope"],
        ["--only", ","],
        ["--only", "review", "--document", "/nonexistent/contract.txt"],
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, capsys):
    try:
        code = main(["bench", "startup", *argv])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") <= 1


def test_default_review_document_is_one_of_the_apps_samples():
    # deferred: the seam imports the agents; only this test needs them
    from coordinator.app_spec import load_app

    doc = startup._default_document()
    assert doc in load_app().sample_documents
    assert doc.stat().st_size <= 100_000
