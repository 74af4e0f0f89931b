"""Typos put right against the routes' own words before a message is routed.

"whats the diference between my invoce and the pricng" misses the billing words the router
learnt ("invoice", "pricing"), so it is routed unsure or to the wrong specialist. A word is
corrected only when it is in no dictionary of the message's language (nor English, nor
the routes' own words) and is one edit (insert, delete, substitute, or swap two
neighbours: optimal string alignment) from a word the routes use; of several such words
the most used one wins, and a tie leaves the word as typed. Words shorter than
`MIN_WORD` letters are never touched: at four letters too many real words are one edit
apart. The dictionaries are pyspellchecker's word-frequency lists, loaded on first use
(0.1-0.4 s per language, once per process).
"""

from __future__ import annotations

import functools
import re
from collections import Counter

from coordinator.routing.routes import RouteSet

__all__ = ["LANGUAGES", "MIN_WORD", "Speller"]

MIN_WORD = 5  # letters
LANGUAGES = ("en", "es", "fr", "de", "pt", "it")  # dictionaries consulted
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


@functools.lru_cache(maxsize=len(LANGUAGES))
def _dictionary(lang: str):
    from spellchecker import SpellChecker  # deferred: only a message with an unknown word pays

    return SpellChecker(language=lang, case_sensitive=False, distance=1)


def _is_word(folded: str, lang: str | None) -> bool:
    """True when a dictionary of `lang` (unknown: all six) or English has the word."""
    langs = ("en", lang) if lang in LANGUAGES else LANGUAGES
    return any(folded in _dictionary(code) for code in langs)


class Speller:
    """Corrects typos to the vocabulary of a route set (see module doc)."""

    def __init__(self, routes: RouteSet) -> None:
        counts: Counter[str] = Counter()
        for route in routes.routes:
            for text in (*route.utterances, route.description):
                counts.update(w.casefold() for w in _WORD.findall(text))
        self.counts = counts
        self._known = [w for w in counts if len(w) >= MIN_WORD - 1]

    def word(self, word: str, lang: str | None = None) -> str:
        """`word` itself, or the route word it is a typo of."""
        folded = word.casefold()
        if len(folded) < MIN_WORD or folded in self.counts:
            return word
        from rapidfuzz import process  # deferred: import cost only when a word is checked
        from rapidfuzz.distance import OSA

        near = process.extract(folded, self._known, scorer=OSA.distance, score_cutoff=1, limit=None)
        if not near or _is_word(folded, lang):
            return word
        best = max(self.counts[w] for w, _, _ in near)
        chosen = [w for w, _, _ in near if self.counts[w] == best]
        return chosen[0] if len(chosen) == 1 else word

    def correct(self, text: str, lang: str | None = None) -> str:
        """`text` with each correctable word replaced, everything else as typed."""
        return _WORD.sub(lambda m: self.word(m.group(), lang), text)
