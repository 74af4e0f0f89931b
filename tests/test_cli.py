"""CLI behaviour on bad input: one clear line, exit code 2, never a traceback."""

from __future__ import annotations

import io
import sys

import pytest

from coordinator.cli import main


def _run(argv, capsys, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_request_is_a_usage_error(text, capsys):
    code, out, err = _run(["ask", text], capsys)
    assert code == 2
    assert "empty request" in err
    assert "Traceback" not in err and out == ""


def test_huge_request_is_refused_with_the_limit(capsys):
    code, _, err = _run(["ask", "x" * 100_000], capsys)
    assert code == 2
    assert "100,000 characters" in err and "limit" in err
    assert len(err.strip().splitlines()) == 1


def test_non_utf8_stdin_is_a_usage_error(capsys, monkeypatch):
    code, _, err = _run(["ask", "-"], capsys, stdin=b"\xff\xfe\xfa bad", monkeypatch=monkeypatch)
    assert code == 2
    assert "not UTF-8" in err


def test_unknown_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ask", "hi", "--bogus"])
    assert exc.value.code == 2


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ("ask", "bench"):
        assert word in out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_bench_voting_plot_writes_a_png_and_reports_the_sweep(tmp_path, capsys):
    out = tmp_path / "voting.png"
    code = main(["bench", "voting", "--questions", "60", "--json", "--plot", str(out)])
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    record = json.loads(capsys.readouterr().out)
    sweep = record["plot"]["sweep"]
    assert [s["judges"] for s in sweep] == [3, 5, 7, 9]
    assert all(s["lazy"] <= s["all"] and s["identical"] == 1.0 for s in sweep)


def test_ask_with_a_model_dir_that_is_not_one_is_a_usage_error(tmp_path, capsys):
    code = main(["ask", "hello", "--model", str(tmp_path)])
    assert code == 2
    assert "not a trained router dir" in capsys.readouterr().err


def test_ask_uses_a_trained_router_model(tmp_path, capsys):
    """A model trained on extra labelled rows routes what the built-in routes cannot."""
    import csv
    import json

    rows = [
        "the telescope mount drifts off target during tracking",
        "my telescope eyepiece image is blurry at high magnification",
        "telescope collimation is off after transport",
        "the star tracker loses alignment with the telescope",
        "telescope focuser slips under the weight of the camera",
        "the telescope goto mount slews to the wrong star",
    ]
    data = tmp_path / "extra.csv"
    with data.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "route"])
        w.writerows([r, "technical_support"] for r in rows * 2)
    model = tmp_path / "router"
    assert main(["routes", "train", "--data", str(data), "--out", str(model)]) == 0
    capsys.readouterr()
    ask = ["ask", "the telescope eyepiece image is blurry", "--json", "--user", "alice"]

    assert main(ask) == 0
    default = json.loads(capsys.readouterr().out)
    assert main([*ask, "--model", str(model)]) == 0
    trained = json.loads(capsys.readouterr().out)
    assert default["route"] == "general"  # the built-in routes know no telescopes
    assert trained["route"] == "technical_support" and trained["method"] == "classifier"


def test_python_dash_m_coordinator_is_the_cli():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "coordinator", "ask", "   "],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "empty request" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_only_the_process_own_command_line_freezes_the_garbage_collector(capsys):
    """`coordinator ...` skips shutdown's collections (start-up cut); a caller of
    `main([...])`, like this test process, keeps its collector untouched."""
    import gc
    import subprocess

    before = gc.get_freeze_count()
    main(["ask", ""])
    capsys.readouterr()
    assert gc.get_freeze_count() == before
    probe = (
        "import gc, sys\n"
        "from coordinator.cli import main\n"
        "sys.argv = ['coordinator', 'ask', '']\n"
        "code = main()\n"
        "print(code, gc.get_freeze_count() > 0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.split() == ["2", "True"], done.stderr
    assert "empty request" in done.stderr


def test_ask_and_review_run_with_fewer_collections_and_restore_the_caller_s(
    capsys, monkeypatch, tmp_path
):
    """The one-shot commands raise the collector's thresholds (start-up cut) only while
    they run: a caller of `main([...])` gets its own back, after an error too."""
    import gc

    import coordinator.parallel.review
    from coordinator.cli._gc import ONE_SHOT_THRESHOLD
    from coordinator.errors import UsageError

    seen = []

    def review(*args, **kwargs):
        seen.append(gc.get_threshold())
        raise UsageError("stop here")

    monkeypatch.setattr(coordinator.parallel.review, "run_review_sync", review)
    doc = tmp_path / "snippet.py"
    doc.write_text("import os\nos.system(input())\n", encoding="utf-8")
    before = gc.get_threshold()
    code = main(["review", str(doc), "--kind", "security"])
    _, err = capsys.readouterr()
    assert code == 2 and "stop here" in err
    assert seen == [ONE_SHOT_THRESHOLD]
    assert gc.get_threshold() == before != ONE_SHOT_THRESHOLD

    import coordinator.api

    class Coordinator:  # `ask` builds the coordinator: record the thresholds there
        def __init__(self, **kwargs):
            seen.append(gc.get_threshold())
            raise UsageError("stop here")

    monkeypatch.setattr(coordinator.api, "Coordinator", Coordinator)
    assert main(["ask", "show my last invoice"]) == 2
    assert seen == [ONE_SHOT_THRESHOLD, ONE_SHOT_THRESHOLD]
    assert gc.get_threshold() == before
