"""Splitter: structure found, bounds respected, offsets exact, nothing lost."""

from __future__ import annotations

import pytest

from agents.contract_review.cuad import CUAD_DIR
from agents.contract_review.splitter import Section, split_document
from coordinator.errors import UsageError

CONTRACT = """MASTER SERVICES AGREEMENT\r
\r
ARTICLE I\r
DEFINITIONS\r
1.1 "Services" means the services in Exhibit A.\r
1.2 "Term" means the term in Section 5.\r
\f\r
2\r
ARTICLE II\r
OBLIGATIONS\r
2.1 Supplier shall perform the Services.  2.2 Customer shall pay the fees.\r
(a) within thirty days;\r
(b) in US dollars.\r
Section 5 Term. This Agreement lasts one year.\r
GOVERNING LAW\r
This Agreement is governed by the laws of the State of Texas.\r
"""


def _assert_exact_cover(text: str, sections: list[Section], max_chars: int) -> None:
    assert "".join(s.text for s in sections) == text
    assert sections[0].start == 0 and sections[-1].end == len(text)
    for i, s in enumerate(sections):
        assert s.index == i
        assert text[s.start : s.end] == s.text
        assert 0 < len(s.text) <= max_chars
        if i:
            assert sections[i - 1].end == s.start


def test_numbered_clauses_and_headings_are_found() -> None:
    sections = split_document(CONTRACT, max_chars=500, min_chars=0)
    numbers = [s.number for s in sections]
    for expected in ("I", "1.1", "1.2", "II", "2.1", "2.2", "(a)", "(b)", "5"):
        assert expected in numbers
    titles = [s.title for s in sections]
    assert "GOVERNING LAW" in titles and "DEFINITIONS" in titles
    inline = next(s for s in sections if s.number == "2.2")
    assert inline.text.startswith("2.2 Customer shall pay")  # split inside one physical line
    assert "2" not in numbers  # a bare page number is not a clause
    _assert_exact_cover(CONTRACT, sections, 500)


def test_small_sections_are_packed_up_to_the_bound() -> None:
    fine = split_document(CONTRACT, max_chars=500, min_chars=0)
    packed = split_document(CONTRACT, max_chars=500, min_chars=200)
    assert len(packed) < len(fine)
    _assert_exact_cover(CONTRACT, packed, 500)


def test_oversized_sections_split_on_sentence_boundaries() -> None:
    text = "1. Long clause. " + " ".join(f"Sentence number {i} is here." for i in range(400))
    sections = split_document(text, max_chars=300, min_chars=50)
    _assert_exact_cover(text, sections, 300)
    assert len(sections) > 10
    assert all(s.text.rstrip().endswith(".") for s in sections[:-1])


def test_unstructured_text_still_yields_bounded_sections() -> None:
    text = "lorem ipsum dolor sit amet " * 2000
    sections = split_document(text, max_chars=1000, min_chars=100)
    _assert_exact_cover(text, sections, 1000)
    assert all(s.number is None for s in sections)


def test_no_whitespace_at_all_is_hard_cut() -> None:
    text = "x" * 1234
    sections = split_document(text, max_chars=100, min_chars=10)
    _assert_exact_cover(text, sections, 100)


def test_real_contract_round_trips_and_finds_clauses() -> None:
    path = next((CUAD_DIR / "contracts").glob("DUOS*.txt"))
    text = path.read_text(encoding="utf-8")
    sections = split_document(text, max_chars=4000)
    _assert_exact_cover(text, sections, 4000)
    numbers = {s.number for s in sections}
    assert {"1.1", "11.2"} <= numbers or "11.1" in numbers


def test_large_input_is_handled() -> None:
    text = ("1.1 Heading. Some clause text here.  " * 40 + "\n\n") * 3000  # ~4.5 MB
    sections = split_document(text)
    _assert_exact_cover(text, sections, 4000)


@pytest.mark.parametrize("bad", ["", "   \n\t\r\n\f  "])
def test_empty_text_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        split_document(bad)


def test_bad_bounds_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="max_chars"):
        split_document("text", max_chars=10)
    with pytest.raises(UsageError, match="min_chars"):
        split_document("text", max_chars=100, min_chars=500)
