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
