"""Yes and no, recognised in one place (en, es, fr, de, pt, it).

A rule set over the word lists of `coordinator.routing.yes_no_words`, measured on phrasing tables
(`coordinator bench confirmations`). `read_answer` reads one message and says whether it is
a yes, and if not, why not; the questions the project asks are built on it, deliberately
of different strictness:

* `is_affirmative` - may a side effect run? Only a whole-message, unambiguous yes: every
  word of it is a yes word, a courtesy or a restatement of the action, in one language,
  and nothing makes it a maybe (no "?", hedge, condition, retraction, sarcasm marker or
  ellipsis). Used by the confirmation gate in `tools/`.
* `is_refusal` - does the message decline or postpone ("no", "don't", "espera")?
* `is_yes_or_no` - is this an answer to the question a specialist is waiting on (a yes,
  a no, or a hedged yes), so the cascade keeps the conversation with that specialist
  whatever the router makes of a few words?
* `leads_with_yes` - does the user accept an offer ("shall I hand you to a person?")?

Refusing a real yes costs one more question; accepting anything else may move money. So
every unknown word refuses, and the tables count false accepts apart from false refusals.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from coordinator.routing.yes_no_words import (
    CUES,
    DISMISSIVE,
    LANGUAGES,
    OPENERS,
    SAFE_WITH_CUES,
    UNIVERSAL,
    WORDS,
)

__all__ = [
    "KINDS",
    "Verdict",
    "is_affirmative",
    "is_refusal",
    "is_yes_or_no",
    "leads_with_yes",
    "named_numbers",
    "normalise",
    "read_answer",
]

# What a reply to "shall I go ahead?" can be. Only "plain-yes" lets an action run.
KINDS = (
    "plain-yes", "hedge", "condition", "question", "retraction", "negation", "sarcasm", "other",
)
MAX_CHARS = 80  # a confirmation is a short reply, not a paragraph
MAX_WORDS = 12
ANSWER_WORDS = 6  # a reply this short that starts with yes/no answers the pending question
QUALIFIED_WORDS = 10  # ... this long, when the yes/no is qualified right after it

MAX_PHRASE = 5  # words in the longest entry of the word lists
_QUOTES = '"“”„«»‟'
# Punctuation between phrases (a hyphen only with a space beside it: "allez-y" is a word).
_SEPARATORS = re.compile(r"[,.;:!¡/|()\[\]{}<>=+*&~–—]+|\s-+|-+\s|^-+|-+$")
_ELLIPSIS = re.compile(r"\.\.|…")
# Emoji beside a worded yes: decoration. Alone they are not a yes (a thumbs-up is as often
# "seen" as "agreed", and a client sends one with a tap); these others turn it into a no.
_POSITIVE_EMOJI = set("👍👌✅✔☑🙂😊😀😃😄🙏👏💯🆗🏻🏼🏽🏾🏿")
_EMOJI_KIND = {
    **dict.fromkeys("👎❌✖🚫⛔🛑✋", "negation"),
    **dict.fromkeys("🙄😂🤣😉😏😜😝🤪😆😅😹🙃🤡", "sarcasm"),
    **dict.fromkeys("🤔🤷😬😕😐🫤😶", "hedge"),
}
_SARCASTIC_EMOTICON = re.compile(r"(?:^|\s)(?:[;:]-?p|;-?\)|xd|/s)(?=\s|$)")  # casefolded
_NUMBER = re.compile(r"#?\d{3,7}")


class Verdict(BaseModel):
    """How one message reads as the reply to a proposal."""

    model_config = ConfigDict(frozen=True)

    yes: bool = Field(description="A plain yes: the proposed action may run.")
    kind: str = Field(description="One of KINDS: plain-yes, or why it is not a yes.")
    answer: bool = Field(
        description="Shaped as an answer to a yes/no question (a yes, a no, a hedged yes)."
    )
    language: str | None = Field(None, description="The language the yes was read in.")


def normalise(text: str) -> str:
    """Casefolded words without accents; apostrophes and hyphens split words."""
    return " ".join(_words(_clean(text)))


def _clean(text: str) -> str:
    # Format characters (zero-width spaces, joiners, direction marks) hide nothing and
    # say nothing: dropped, so "yes\u200b" is "yes" and "y\u200bes" is not "y es".
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").casefold()
    return text.replace("’", "'").replace("‘", "'").replace("`", "'")


def _strip_accents(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c))


def _words(text: str) -> list[str]:
    return re.findall(r"#?\w+", _strip_accents(text).replace("'", " "))


def _segments(text: str) -> list[list[str]]:
    """The message split at punctuation, each part as words: a phrase never spans a comma
    ("no, problem" is not "no problem")."""
    return [w for part in _SEPARATORS.split(text) if (w := _words(part))]


def _phrase(entry: str) -> tuple[str, ...]:
    return tuple(_words(_clean(entry)))


def _german_spellings(entry: str) -> set[str]:
    """ä ö ü ß are often typed ae oe ue ss: read both."""
    plain = entry.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return {entry, plain}


@lru_cache(maxsize=1)
def _lexicons() -> dict[str, dict[tuple[str, ...], str]]:
    """language -> phrase (as words) -> class (core / polite / courtesy / restate)."""
    out: dict[str, dict[tuple[str, ...], str]] = {}
    for lang in LANGUAGES:
        table: dict[tuple[str, ...], str] = {}
        for group in (UNIVERSAL, WORDS[lang]):
            for cls in ("restate", "courtesy", "polite", "core"):  # the strongest class wins
                for entry in group[cls]:
                    spellings = _german_spellings(entry) if lang == "de" else {entry}
                    for spelling in spellings:
                        table[_phrase(spelling)] = cls
        out[lang] = table
    return out


def _spans(words: list[str]) -> list[tuple[int, int, tuple[str, ...]]]:
    """Every run of up to MAX_PHRASE words, as (start, end, words)."""
    n = len(words)
    return [
        (i, j, tuple(words[i:j]))
        for i in range(n)
        for j in range(i + 1, min(n, i + MAX_PHRASE) + 1)
    ]


@lru_cache(maxsize=1)
def _cues() -> list[tuple[str, frozenset[tuple[str, ...]]]]:
    return [(kind, frozenset(map(_phrase, entries))) for kind, entries in CUES.items()]


@lru_cache(maxsize=1)
def _dismissive() -> frozenset[tuple[str, ...]]:
    return frozenset(map(_phrase, DISMISSIVE))


@lru_cache(maxsize=1)
def _safe_phrases() -> frozenset[tuple[str, ...]]:
    return frozenset(map(_phrase, SAFE_WITH_CUES))


@lru_cache(maxsize=1)
def _openers() -> frozenset[tuple[str, ...]]:
    """How an answer opens: a yes/no word, or a cue that declines or qualifies ("not yet",
    "unless...", "wenn nötig"); never a question word ("how do I ..." is a new request)."""
    found = {_phrase(e) for e in OPENERS}
    for kind in ("negation", "retraction", "condition", "hedge"):
        found |= {_phrase(e) for e in CUES[kind]}
    return frozenset(found)


def _opener(words: list[str]) -> int:
    """How many words of `words` open an answer (0: it does not open like one)."""
    openers = _openers()
    return max(
        (k for k in range(1, min(len(words), MAX_PHRASE) + 1) if tuple(words[:k]) in openers),
        default=0,
    )


@lru_cache(maxsize=1)
def _refusal_cues() -> frozenset[tuple[str, ...]]:
    return frozenset(_phrase(e) for kind in ("negation", "retraction") for e in CUES[kind])


def _is_answer(words: list[str], kind: str | None, emoji: bool) -> bool:
    """Shaped as the answer to a yes/no question, not as a new request:

    * a yes/no word or a refusal/condition cue first, in a short message ("sí, pero
      espera", "not yet", "unless it costs me");
    * a yes/no word qualified right after it, in a longer one ("oui, à condition d'être
      remboursé sur ma carte", "yes, but how long does it take");
    * a few words ending in a refusal ("noch nicht", "war ein Witz");
    * a few words all of the answer vocabulary around a cue ("hmm, let me think");
    * emoji alone (a thumbs-up answers; it just does not confirm).
    """
    if not words:
        return emoji
    n, opens = len(words), _opener(words)
    if opens and n <= ANSWER_WORDS:
        return True
    if opens and n <= QUALIFIED_WORDS:
        qualified = _cue_kind([words[opens:]], frozenset())
        if qualified in ("condition", "hedge", "negation", "retraction"):
            return True
    if n <= 4 and any(tuple(words[-k:]) in _refusal_cues() for k in range(1, n + 1)):
        return True
    return kind is not None and n <= ANSWER_WORDS and set(words) <= _answer_vocabulary()


# Small words that carry no meaning of their own in a short answer ("let me think about it").
_GLUE = frozenset((
    "i", "me", "you", "it", "that", "this", "the", "a", "to", "do", "be", "just", "about",
    "one", "oh", "ah", "well", "lo", "la", "le", "el", "es", "de", "que", "te", "ce", "je",
    "tu", "vous", "il", "das", "ich", "du", "sie", "o", "eu", "di", "che", "mi",
))


@lru_cache(maxsize=1)
def _answer_vocabulary() -> frozenset[str]:
    words = {w for lex in _lexicons().values() for p in lex for w in p}
    for entries in CUES.values():
        words |= {w for e in entries for w in _phrase(e)}
    return frozenset(words | _GLUE)


def _parse(
    words: list[str], lexicon: dict[tuple[str, ...], str], allow: frozenset[tuple[str, ...]]
) -> set[str] | None:
    """The classes used by one reading of `words` as lexicon phrases (None: no reading).

    Of several readings, the one with a yes word is preferred."""
    n = len(words)
    best: list[set[frozenset[str]]] = [set() for _ in range(n + 1)]
    best[0].add(frozenset())
    for i in range(n):
        if not best[i]:
            continue
        steps: list[tuple[int, str]] = []
        if _NUMBER.fullmatch(words[i]):
            steps.append((i + 1, "restate"))
        for j in range(i + 1, min(n, i + MAX_PHRASE) + 1):
            phrase = tuple(words[i:j])
            cls = "restate" if phrase in allow else lexicon.get(phrase)
            if cls is not None:
                steps.append((j, cls))
        for j, cls in steps:
            for used in best[i]:
                best[j].add(used | {cls})
    if not best[n]:
        return None
    return set(max(best[n], key=lambda used: ("core" in used, "polite" in used)))


def _reading(segments: list[list[str]], allow: frozenset[tuple[str, ...]]) -> str | None:
    """The language in which the whole message is a yes, if any."""
    for lang in LANGUAGES:
        lexicon = _lexicons()[lang]
        used: set[str] = set()
        for words in segments:
            classes = _parse(words, lexicon, allow)
            if classes is None:
                break
            used |= classes
        else:
            if "core" in used or ("polite" in used and "restate" not in used):
                return lang
    return None


def _cue_kind(segments: list[list[str]], allow: frozenset[tuple[str, ...]]) -> str | None:
    """The first kind (in CUES order) with a cue in the message, outside the reviewed
    phrases that contain one ("no problem") and the action's own verbs."""
    found: set[tuple[str, ...]] = set()
    for words in segments:
        spans = _spans(words)
        masked = {k for i, j, p in spans if p in _safe_phrases() for k in range(i, j)}
        found |= {p for i, j, p in spans if not masked & set(range(i, j)) and p not in allow}
    return next((kind for kind, cues in _cues() if found & cues), None)


def read_answer(
    text: str | None, allow: tuple[str, ...] = (), target: str | None = None
) -> Verdict:
    """Read one message as the reply to a proposal ("Shall I refund order 1006?").

    `allow` names the action's own verbs, which may restate it without reading as a
    refusal ("yes, cancel it" confirms a cancellation; "cancel" alone confirms nothing).
    `target` is what was proposed (an order or invoice number): a yes that names another
    number ("yes, order 1001") is a yes to something else, so not to this.
    """
    if text and len(text) > 4 * MAX_CHARS:
        return Verdict(yes=False, kind="other", answer=False)  # a paragraph, not a reply
    raw = _clean(text or "").strip()
    allowed = frozenset(p for a in allow if (p := _phrase(a)))
    words = _words(raw)
    segments = _segments(_strip_emoji(raw))
    emoji = [c for c in raw if _is_emoji(c)]
    kind = _cue_kind(segments, allowed)
    answer = _is_answer(words, kind, bool(emoji))

    def no(why: str) -> Verdict:
        return Verdict(yes=False, kind=kind or why, answer=answer)

    if not raw:
        return no("other")
    if any(q in raw for q in "?¿‽⁇⁈⁉"):
        return Verdict(yes=False, kind="question", answer=answer)
    if len(raw) > MAX_CHARS or len(words) > MAX_WORDS or "\n" in raw:
        return Verdict(yes=False, kind="other", answer=False)
    if any(q in raw for q in _QUOTES):
        return no("other")  # quoted speech: someone else's yes
    if _SARCASTIC_EMOTICON.search(raw):
        return no("sarcasm")
    for c in emoji:
        if c not in _POSITIVE_EMOJI:
            return no(_EMOJI_KIND.get(c, "other"))
    if _ELLIPSIS.search(raw):
        return no("hedge")  # "yes...", "sure...": a trailing-off is not a decision
    if not words:
        return no("other")  # emoji or punctuation alone
    lang = _reading(segments, allowed)
    if lang is None:
        return no("other")
    if any(p in _dismissive() for _, _, p in _spans(words)):
        return Verdict(yes=False, kind="sarcasm", answer=True)
    if target is not None and named_numbers(raw) - {_digits(target)}:
        return Verdict(yes=False, kind="other", answer=True)
    return Verdict(yes=True, kind="plain-yes", answer=True, language=lang)


def _digits(value: str) -> str:
    return "".join(re.findall(r"\d", value)).lstrip("0")


def named_numbers(text: str) -> set[str]:
    """Order/charge numbers a message names ("yes, order 1007" -> {"1007"})."""
    return {m.lstrip("0") for m in re.findall(r"\d{3,}", normalise(text))}


def _is_emoji(c: str) -> bool:
    return unicodedata.category(c) in ("So", "Sk", "Cs") or c >= "\U0001f000"


def _strip_emoji(text: str) -> str:
    return "".join(" " if _is_emoji(c) or c == "\ufe0f" else c for c in text)


def is_affirmative(
    text: str | None, allow: tuple[str, ...] = (), target: str | None = None
) -> bool:
    """True only for a plain, unambiguous yes to the question just asked (`read_answer`)."""
    return read_answer(text, allow, target).yes


# Declining anywhere in a message, however long ("Please don't refund order 1006").
_NEGATION = re.compile(
    r"\b(no|not|nope|nah|never|dont|do not|\w+n t|wont|cannot|cancel|stop|wait|hold on|"
    r"hold off|later|tomorrow|no quiero|no gracias|nada|non|nein|nicht|kein\w*|nao|pas)\b"
)


def is_refusal(text: str | None, allow: tuple[str, ...] = ()) -> bool:
    """True when the message declines or postpones ("no", "don't refund it", "espera").

    A yes is never a refusal ("no problem, go ahead"); a short reply is one when it
    negates or retracts in any of the six languages."""
    if not text:
        return False
    verdict = read_answer(text, allow)
    if verdict.yes:
        return False
    norm = normalise(text)
    for word in allow:
        norm = re.sub(rf"\b{re.escape(normalise(word))}\b", " ", norm)
    if _NEGATION.search(norm):
        return True
    return verdict.answer and verdict.kind in ("negation", "retraction")


def leads_with_yes(text: str) -> bool:
    """A short yes (six languages): the answer to "shall I hand you to a person?".

    Looser than `is_affirmative` (a ticket is not money): a short message that starts with
    a yes word and does not take it back ("yes but quickly" hands over; "yes?" does not)."""
    verdict = read_answer(text)
    if verdict.yes:
        return True
    words = _words(_clean(text))
    return (
        len(text) <= 60
        and any(tuple(words[: len(p)]) == p for p in _yes_openers())
        and not is_refusal(text)
        and verdict.kind not in ("negation", "retraction", "sarcasm", "question")
    )


@lru_cache(maxsize=1)
def _yes_openers() -> frozenset[tuple[str, ...]]:
    """The openers that are a yes word in some language ("yes", "vale", "va bene")."""
    yes = {p for lex in _lexicons().values() for p, c in lex.items() if c == "core"}
    return frozenset(p for p in map(_phrase, OPENERS) if p in yes)


def is_yes_or_no(text: str) -> bool:
    """An answer to the pending question, whatever the router makes of its few words."""
    return read_answer(text).answer
