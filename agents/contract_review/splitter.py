"""Split a contract into size-bounded sections that follow its own structure.

Why not fixed-size chunks: a clause check and a judge both reason about one clause, so a
section should start where the document starts a clause (``ARTICLE IV``, ``Section 5``,
``11.2 No Assignment.``, ``(a)`` at a line start, an ALL-CAPS heading line). Real EDGAR
text often runs a whole article on one physical line with clauses separated by runs of
spaces, so numbered clauses are recognised after 2+ spaces as well as at line starts.

Guarantees (tested): sections are contiguous, ``text == document[start:end]``, they cover
the whole document in order (nothing lost, nothing duplicated), and every section is at most
``max_chars`` long. Small neighbours are packed together; oversized ones are cut on a
paragraph, line, sentence or word boundary, in that order of preference. One regex pass plus
bounded window searches keeps a 5 MB document well inside a second or two.

    >>> [s.number for s in split_document("1. Term. One year.\\n2. Law. Texas.", min_chars=1)]
    ['1', '2']
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from coordinator import UsageError

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MIN_CHARS", "Section", "split_document"]

DEFAULT_MAX_CHARS = 4000
DEFAULT_MIN_CHARS = 300

# A heading starts at a line start (after optional indentation) or, inline, after 2+ spaces.
# Each alternative consumes its lead character(s): far faster on megabytes than lookbehinds.
_ARTICLE = r"(?:ARTICLE|Article)\s+(?P<art{n}>[IVXLC]+|\d{{1,3}})\b"
_SECTION = r"(?:SECTION|Section|Clause|CLAUSE)\s+(?P<sec>\d{1,3}(?:\.\d{1,3})*)"
_NUMBER = r"(?P<num{n}>\d{{1,3}}(?:\.\d{{1,3}})+|\d{{1,3}}(?=\.))\.?(?=[ \t]+[A-Z(\"])"
_LETTER = r"(?P<let>\((?:[a-z]|[ivx]{1,4}|\d{1,2})\))(?=[ \t]+\S)"
_CAPS = r"(?P<caps>[A-Z][A-Z0-9&,;:'\-/ ]{2,78}[A-Z:.])[ \t]*(?=\r?\n)"
_HEADING = re.compile(
    r"[\n\r\f][ \t]*(?:"
    + "|".join([_ARTICLE.format(n=1), _SECTION, _NUMBER.format(n=1), _LETTER, _CAPS])
    + r")|[ \t]{2,}(?:"
    + "|".join([_ARTICLE.format(n=2), _NUMBER.format(n=2)])
    + ")"
)
_NUMBER_GROUPS = ("art1", "sec", "num1", "let", "art2", "num2")
_PAGE_LINE = re.compile(r"^\s*(?:page\s+)?[-–]?\s*\d{1,4}\s*[-–]?\s*(?:of\s+\d+)?\s*$", re.I)
_TITLE_END = re.compile(r"[.\r\n]|\s{3,}")
# Break preferences for oversized pieces: paragraph, line, sentence, word.
_BREAKS = (
    re.compile(r"\n[ \t\f\r]*\n|\f"),
    re.compile(r"\n"),
    re.compile(r"[.;!?][\"')\]]?(?=\s)"),
    re.compile(r"\s"),
)


class Section(BaseModel):
    """One contiguous slice of the document: ``text == document[start:end]``."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="0-based position of the section in the document.")
    number: str | None = Field(None, description="Clause number as written: '4.2', 'IV', '(a)'.")
    title: str | None = Field(None, description="Heading text of the first clause, if any.")
    text: str = Field(description="The exact document text of this section.")
    start: int = Field(description="Offset of the first character in the document.")
    end: int = Field(description="Offset one past the last character (exclusive).")


def _heading_starts(text: str) -> list[tuple[int, str | None, str | None]]:
    """(offset, number, title) for every heading, in document order."""
    out: list[tuple[int, str | None, str | None]] = []
    text = "\n" + text  # every alternative needs a lead character; offsets shift by one
    for m in _HEADING.finditer(text):
        groups = m.groupdict()
        caps = groups.get("caps")
        if caps is not None:
            words = re.findall(r"[A-Z]{2,}", caps)
            if len(words) < 1 or _PAGE_LINE.match(caps) or len(caps.strip()) < 4:
                continue
            out.append((m.start("caps") - 1, None, caps.strip()))
            continue
        number = next(
            (groups[k] for k in _NUMBER_GROUPS if groups.get(k)),
            None,
        )
        start = m.start() + (len(m.group()) - len(m.group().lstrip(" \t\n\r\f")))
        after = text[m.end() : m.end() + 120].lstrip(" \t\r\n\f.:-")
        stop = _TITLE_END.search(after)
        title = (after[: stop.start()] if stop else after).strip() or None
        if title is not None and len(title) > 80:
            title = title[:77].rstrip() + "..."
        out.append((start - 1, number, title))
    return out


def _cut_point(text: str, lo: int, hi: int, min_piece: int) -> int:
    """Best break offset in ``(lo + min_piece, hi]``: latest paragraph/line/sentence/word end."""
    floor = lo + min_piece
    for pattern in _BREAKS:
        best = -1
        for m in pattern.finditer(text, floor, hi):
            best = m.end()
        if best > floor:
            return best
    return hi


def _bound(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut ``[start, end)`` into pieces of at most ``max_chars`` on natural boundaries."""
    pieces: list[tuple[int, int]] = []
    lo = start
    while end - lo > max_chars:
        cut = _cut_point(text, lo, lo + max_chars, max_chars // 4)
        pieces.append((lo, cut))
        lo = cut
    pieces.append((lo, end))
    return pieces


def split_document(
    text: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> list[Section]:
    """Split ``text`` into contiguous sections of at most ``max_chars`` characters.

    Headings and numbered clauses start new pieces; pieces shorter than ``min_chars`` are
    packed with their neighbours while the result stays within ``max_chars``.
    Raises `UsageError` for empty or whitespace-only text or nonsensical bounds.
    """
    if not isinstance(text, str):
        raise UsageError(f"document must be a string, got {type(text).__name__}")
    if not text.strip():
        raise UsageError("document is empty (nothing but whitespace): nothing to split")
    if max_chars < 50:
        raise UsageError(f"max_chars must be at least 50, got {max_chars}")
    if not 0 <= min_chars <= max_chars:
        raise UsageError(
            f"min_chars must be between 0 and max_chars ({max_chars}), got {min_chars}"
        )

    heads = _heading_starts(text)
    bounds = heads if heads and heads[0][0] == 0 else [(0, None, None), *heads]
    # (start, end, number, title) pieces, each within max_chars.
    pieces: list[tuple[int, int, str | None, str | None]] = []
    for i, (start, number, title) in enumerate(bounds):
        end = bounds[i + 1][0] if i + 1 < len(bounds) else len(text)
        if end <= start:
            continue
        for j, (lo, hi) in enumerate(_bound(text, start, end, max_chars)):
            pieces.append((lo, hi, number if j == 0 else None, title if j == 0 else None))

    packed: list[list] = []
    for lo, hi, number, title in pieces:
        if packed:
            prev = packed[-1]
            prev_len, cur_len = prev[1] - prev[0], hi - lo
            small = prev_len < min_chars or cur_len < min_chars or not text[lo:hi].strip()
            if small and hi - prev[0] <= max_chars:
                prev[1] = hi
                if prev[2] is None and prev[3] is None and not text[prev[0] : lo].strip():
                    prev[2], prev[3] = number, title
                continue
        packed.append([lo, hi, number, title])

    return [
        Section(index=i, number=number, title=title, text=text[lo:hi], start=lo, end=hi)
        for i, (lo, hi, number, title) in enumerate(packed)
    ]
