"""`coordinator review FILE`: JSON report keys, and one-line exit-2 errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.contract_review.cuad import CUAD_DIR
from coordinator.cli import main
from coordinator.parallel.review import detect_kind, split_request
from tests.fakes import REVIEW_REPORT_KEYS

SMALL = next(p for p in (CUAD_DIR / "contracts").glob("SOLUTIONSVENDING*.txt"))


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["review", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_contract_json_report_keys(capsys):
    code, out, err = _run(capsys, str(SMALL), "--json")
    assert code == 0, err
    report = json.loads(out)
    for key in REVIEW_REPORT_KEYS:
        assert key in report
    assert report["sections"] >= 1 and report["findings"]
    assert {"llm_calls", "tokens"} <= set(report["usage"])


def test_contract_table_output(capsys):
    code, out, _ = _run(capsys, str(SMALL), "--kind", "contract")
    assert code == 0
    assert "categories found:" in out and "model calls" in out


def test_security_json_from_stdin(capsys, monkeypatch):
    import io
    import sys

    code_text = 'import os\nos.system("ping " + input())\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(code_text.encode())))
    code, out, _ = _run(capsys, "-", "--json", "--voters", "3")
    assert code == 0
    report = json.loads(out)
    assert report["decision"] == "vulnerable"
    assert set(report) >= {"decision", "vote_split", "votes", "failed_voters"}


def test_document_without_sections_is_still_reviewed(tmp_path, capsys):
    blob = ("the supplier will deliver goods and the buyer will pay on time " * 400).strip()
    path = tmp_path / "blob.txt"
    path.write_text(blob)
    code, out, _ = _run(capsys, str(path), "--kind", "contract", "--json")
    assert code == 0
    assert json.loads(out)["sections"] > 1  # size-bounded chunks


def _one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert needle in lines[0]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"   \n\t\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "binary"),
        ("Vertrag über Lieferung".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files_exit_2(tmp_path, capsys, content, needle):
    path = tmp_path / "input.bin"
    path.write_bytes(content)
    _one_line_error(*_run(capsys, str(path))[::2], needle)


def test_five_megabyte_file_is_refused_with_its_size(tmp_path, capsys):
    path = tmp_path / "big.txt"
    path.write_bytes(b"1. Term. This Agreement lasts one year.\n" * 130_000)
    code, _, err = _run(capsys, str(path))
    _one_line_error(code, err, "5.2 MB is above the 1.0 MB limit")


def test_missing_file_and_bad_rulebook_exit_2(tmp_path, capsys):
    code, _, err = _run(capsys, str(tmp_path / "nope.txt"))
    _one_line_error(code, err, "no such file")
    bad = tmp_path / "rules.yaml"
    bad.write_text("categories:\n  - name: X\n    risk: extreme\n")
    code, _, err = _run(capsys, str(SMALL), "--kind", "contract", "--rulebook", str(bad))
    _one_line_error(code, err, str(bad))
    bad.write_text("rules: [unclosed\n")
    code, _, err = _run(capsys, str(SMALL), "--kind", "security", "--rulebook", str(bad))
    _one_line_error(code, err, "malformed YAML")
    code, _, err = _run(capsys, str(SMALL), "--kind", "security", "--voters", "0")
    _one_line_error(code, err, "--voters")


def test_request_line_and_kind_detection():
    assert split_request("Review this contract:\nTHIS AGREEMENT ...") == (
        "Review this contract:",
        "THIS AGREEMENT ...",
    )
    assert split_request("x = 1\ny = 2") == (None, "x = 1\ny = 2")
    assert detect_kind(Path(SMALL).read_text()) == "contract"
    assert detect_kind("import os\nos.system(cmd)\nx = 1\n") == "security"
