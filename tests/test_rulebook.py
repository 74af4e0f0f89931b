"""Rulebook: the shipped file is valid and complete; bad files fail with file/line/field."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from agents.contract_review.cuad import CUAD_DIR
from agents.contract_review.rulebook import load_rulebook
from coordinator.errors import ConfigError

GOOD_RULE = """\
  - name: Governing Law
    kind: extraction
    risk: medium
    description: Which law governs.
    cues: ['\\bgoverned by\\b']
    review: Check the law.
"""


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_default_rulebook_covers_every_cuad_category_by_exact_name() -> None:
    rb = load_rulebook()
    with (CUAD_DIR / "master_clauses.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    answers = {re.sub(r"-\s*Answer$", "", h) for h in header if h.endswith("Answer")}
    assert answers == set(rb.names)
    assert len(rb.presence) == 33
    for name in (
        "Governing Law",
        "Anti-Assignment",
        "Cap On Liability",
        "Uncapped Liability",
        "Termination For Convenience",
        "Change Of Control",
        "Liquidated Damages",
    ):
        rule = rb.get(name)
        assert rule.cues and rule.review and rule.risk in ("low", "medium", "high")
    assert rb.get("governing law").name == "Governing Law"
    with pytest.raises(KeyError, match="Not A Clause"):
        rb.get("Not A Clause")


def test_duplicate_category_names_line_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, "categories:\n" + GOOD_RULE + GOOD_RULE)
    with pytest.raises(ConfigError) as err:
        load_rulebook(path)
    msg = str(err.value)
    assert str(path) in msg and "categories[1].name" in msg and "duplicate" in msg
    assert "line 8" in msg


def test_unknown_field_is_named_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "categories:\n" + GOOD_RULE + "    colour: red\n")
    with pytest.raises(ConfigError) as err:
        load_rulebook(path)
    assert "unknown field 'colour'" in str(err.value) and "line 8" in str(err.value)


def test_bad_regex_and_bad_risk_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, "categories:\n" + GOOD_RULE.replace("\\bgoverned by\\b", "(unclosed"))
    with pytest.raises(ConfigError, match=r"categories\[0\]\.cues.*invalid regex"):
        load_rulebook(path)
    path = _write(tmp_path, "categories:\n" + GOOD_RULE.replace("risk: medium", "risk: huge"))
    with pytest.raises(ConfigError, match=r"categories\[0\]\.risk"):
        load_rulebook(path)


TERMS = "terms:\n  law: '(?:governed|construed)'\n"


def test_terms_are_written_once_and_expanded_into_every_pattern(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        TERMS + "categories:\n" + GOOD_RULE.replace("\\bgoverned by\\b", "\\b{{law}} by\\b"),
    )
    rule = load_rulebook(path).get("Governing Law")
    assert rule.cues == (r"\b(?:governed|construed) by\b",)
    assert rule.cue_union.search("This Agreement is construed by the laws of Ohio.")
    shipped = load_rulebook()
    assert shipped.terms  # the shipped file uses them, and none is left unexpanded
    assert not any(
        "{{" in p for r in shipped.categories for p in (*r.cues, *r.requires, *r.negative)
    )


def test_unknown_or_bad_terms_name_the_field_and_line(tmp_path: Path) -> None:
    body = TERMS + "categories:\n" + GOOD_RULE.replace("\\bgoverned by\\b", "{{nope}}")
    with pytest.raises(ConfigError) as err:
        load_rulebook(_write(tmp_path, body))
    msg = str(err.value)
    assert "categories[0].cues[0]: unknown term {{nope}} (terms: law)" in msg and "line 8" in msg
    bad = "terms:\n  law: '(unclosed'\ncategories:\n" + GOOD_RULE.replace(
        "\\bgoverned by\\b", "{{law}}"
    )
    with pytest.raises(ConfigError, match=r"categories\[0\]\.cues.*invalid regex '\(unclosed'"):
        load_rulebook(_write(tmp_path, bad))
    nested = "terms:\n  law: '{{law}}'\ncategories:\n" + GOOD_RULE
    with pytest.raises(ConfigError, match=r"terms\.law: must be a regex string"):
        load_rulebook(_write(tmp_path, nested))


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "categories:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError, match="malformed YAML"):
        load_rulebook(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_rulebook(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="categories"):
        load_rulebook(_write(tmp_path, "- just a list\n"))
