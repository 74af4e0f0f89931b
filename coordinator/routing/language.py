"""Language-aware dispatch: detect the request's language, prefer a route that speaks it.

A route may declare `languages: [es]`. A route `billing_es` declaring Spanish is the
Spanish *variant* of `billing`; when the router picks `billing` for a Spanish request,
`prefer_language` switches to `billing_es` (and keeps the decision otherwise)::

    lang = detect_language("quiero un reembolso de mi pedido")   # 'es'
    decision = prefer_language(decision, routes, lang)

Detection uses langdetect, seeded for determinism. Its probabilities are overconfident on
short inputs ("hola" -> Welsh, 0.99), so texts under a few words/letters return None.

The reply follows the user's language: a model is told to answer in it
(`answer_in_instruction`); the offline policies answer in English and say so first, in the
user's language (`offline_notice`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
from pathlib import Path

from coordinator.routing.decision import Decision
from coordinator.routing.routes import RouteSet

__all__ = [
    "LANGUAGE_NAMES",
    "OFFLINE_NOTICES",
    "answer_in_instruction",
    "detect_language",
    "language_variant",
    "offline_notice",
    "prefer_language",
]

LANGUAGE_NAMES = {
    "en": "English",
    "es": "Spanish",
    "de": "German",
    "fr": "French",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
    "pl": "Polish",
    "ca": "Catalan",
}
# One sentence per language, said before an offline (English-only) answer.
OFFLINE_NOTICES = {
    "es": "(Respondo en inglés en modo sin conexión.)",
    "de": "(Im Offline-Modus antworte ich auf Englisch.)",
    "fr": "(Hors ligne, je réponds en anglais.)",
    "pt": "(No modo offline, respondo em inglês.)",
    "it": "(In modalità offline rispondo in inglese.)",
    "nl": "(Offline antwoord ik in het Engels.)",
    "pl": "(W trybie offline odpowiadam po angielsku.)",
    "ca": "(Sense connexió, responc en anglès.)",
}

log = logging.getLogger(__name__)
_lock = threading.Lock()
_factory = None  # the process's langdetect factory, built on the first detection


class _WordProbs:
    """langdetect's n-gram -> per-language probability table, computed per n-gram on use.

    langdetect builds the whole table (~88,000 n-grams x 55 languages, ~0.2 s of CPU)
    before its first detection, although one request looks up a few hundred n-grams.
    This computes the same floats (`count / n_words[len - 1]`, 0.0 for n-grams of other
    lengths) for the n-grams a text has and remembers them. `counts(word)` gives the
    n-gram's `(profile index, count)` pairs: from the parsed profiles, or from the index
    file below (`_build_index`). The detector only asks `ngram in table` and `table[ngram]`."""

    def __init__(self, counts, n_words: list[list[int]], langsize: int) -> None:
        self._counts = counts
        self._n_words = n_words
        self._langsize = langsize
        self._memo: dict[str, list[float] | None] = {}

    def _row(self, word: str) -> list[float] | None:
        if word in self._memo:
            return self._memo[word]
        row: list[float] | None = None
        for index, count in self._counts(word):
            if row is None:
                row = [0.0] * self._langsize
            if 1 <= len(word) <= 3:
                row[index] = 1.0 * count / self._n_words[index][len(word) - 1]
        self._memo[word] = row
        return row

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self._row(word) is not None

    def __getitem__(self, word: str) -> list[float]:
        row = self._row(word)
        if row is None:
            raise KeyError(word)
        return row


def _profiles(directory: str) -> tuple[list[str], list, int]:
    """(names, parsed profiles, table width) in langdetect's own order."""
    # deferred: langdetect only once a message is long enough to be detected
    from langdetect.utils.lang_profile import LangProfile

    names = os.listdir(directory)  # langdetect's own order and table width
    profiles = []
    for name in names:
        path = os.path.join(directory, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            profiles.append(LangProfile(**json.load(f)))
    return names, profiles, len(names)


def _index_key(directory: str) -> str:
    """Changes with langdetect's version and with any profile file."""
    # deferred: as _profiles
    import langdetect

    h = hashlib.sha256(str(getattr(langdetect, "__version__", "")).encode())
    for name in os.listdir(directory):
        st = os.stat(os.path.join(directory, name))
        h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _build_index(path: Path, directory: str) -> None:
    """Write the profiles as one SQLite file: (n-gram, profile index, count) rows indexed
    by n-gram, plus the language list, table width and word counts (~0.4 s, once per data
    dir). Written aside, then renamed, so a concurrent reader never sees half a file."""
    _, profiles, width = _profiles(directory)
    meta = {
        "langlist": [p.name for p in profiles],
        "width": width,
        "n_words": [list(p.n_words) for p in profiles],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
    try:
        with contextlib.closing(sqlite3.connect(tmp)) as db:
            db.execute("PRAGMA journal_mode = OFF")  # a scratch file until renamed
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE meta (doc TEXT NOT NULL)")
            db.execute("CREATE TABLE counts (ngram TEXT NOT NULL, lang INTEGER, n INTEGER)")
            db.execute("INSERT INTO meta VALUES (?)", (json.dumps(meta),))
            for index, p in enumerate(profiles):
                db.executemany(
                    "INSERT INTO counts VALUES (?, ?, ?)",
                    ((word, index, count) for word, count in p.freq.items()),
                )
            db.execute("CREATE INDEX counts_by_ngram ON counts (ngram)")  # after: faster
            db.commit()
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _indexed_factory(directory: str):
    """The factory over the index file in the data dir (built on first use there), or
    None when the data dir cannot hold it (read-only, full): then the profiles are
    parsed in memory as before, ~0.07 s of CPU per process the index saves."""
    # deferred: as _profiles
    from langdetect.detector_factory import DetectorFactory

    # deferred: settings only when a detection needs the data dir
    from coordinator.settings import get_settings

    cache = get_settings().data_dir.resolve() / "router-cache"
    path = cache / f"langdetect-{_index_key(directory)}-v2.sqlite3"
    try:
        if not path.is_file():
            _build_index(path, directory)
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
        (doc,) = db.execute("SELECT doc FROM meta").fetchone()
    except (OSError, sqlite3.Error, TypeError) as exc:
        log.warning("langdetect index unavailable in %s (%s); parsing the profiles", path, exc)
        return None
    meta = json.loads(doc)

    def counts(word: str) -> list:
        return db.execute("SELECT lang, n FROM counts WHERE ngram = ?", (word,)).fetchall()

    factory = DetectorFactory()
    factory.langlist = meta["langlist"]
    factory.word_lang_prob_map = _WordProbs(counts, meta["n_words"], meta["width"])
    return factory


def _detector_factory(indexed: bool = True):
    """A langdetect `DetectorFactory` over the bundled profiles, seeded (deterministic),
    with the lazily computed table above; same profiles, order and results as
    `langdetect.detect_langs`."""
    global _factory
    if _factory is None or not indexed:
        # deferred: langdetect only once a message is long enough to be detected
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

        factory = _indexed_factory(PROFILES_DIRECTORY) if indexed else None
        if factory is None:
            _, profiles, width = _profiles(PROFILES_DIRECTORY)
            freqs = [p.freq for p in profiles]

            def counts(word: str) -> list:
                return [(i, f[word]) for i, f in enumerate(freqs) if word in f]

            factory = DetectorFactory()
            factory.langlist = [p.name for p in profiles]
            factory.word_lang_prob_map = _WordProbs(
                counts, [list(p.n_words) for p in profiles], width
            )
        factory.seed = 0
        if not indexed:
            return factory
        _factory = factory
    return _factory


def detect_language(
    text: str, *, min_words: int = 3, min_letters: int = 12, min_probability: float = 0.8
) -> str | None:
    """ISO 639-1 code of `text`, or None when the text is too short or the guess unsure."""
    letters = sum(ch.isalpha() for ch in text)
    if len(text.split()) < min_words or letters < min_letters:
        return None
    from langdetect.lang_detect_exception import LangDetectException  # deferred: as above

    with _lock:  # one factory and its n-gram memo per process
        try:
            detector = _detector_factory().create()
            detector.append(text)
            guesses = detector.get_probabilities()
        except LangDetectException:
            return None
    if not guesses or guesses[0].prob < min_probability:
        return None
    return guesses[0].lang.split("-")[0]


def _speaks(languages: tuple[str, ...], lang: str) -> bool:
    return not languages or lang in languages


def language_variant(routes: RouteSet, route: str, lang: str) -> str | None:
    """The route speaking `lang` among `route`, its `<route>_<x>` variants and its base.

    None when no related route speaks `lang` (the caller keeps its decision).
    """
    current = routes.get(route)
    if current is not None and current.languages and lang in current.languages:
        return route
    variants = [
        r.name
        for r in routes.routes
        if r.name.startswith(route + "_") and r.languages and lang in r.languages
    ]
    if variants:
        exact = f"{route}_{lang}"
        return exact if exact in variants else sorted(variants)[0]
    if current is None or _speaks(current.languages, lang):
        return route
    # A variant picked for the wrong language: go back to its base route or a sibling.
    base = route.rsplit("_", 1)[0]
    if base != route and routes.get(base) is not None:
        return language_variant(routes, base, lang)
    return None


def prefer_language(decision: Decision, routes: RouteSet, lang: str | None) -> Decision:
    """Switch to the variant of the chosen route that speaks `lang`, if there is one."""
    if not lang:
        return decision
    variant = language_variant(routes, decision.route, lang)
    if variant is None or variant == decision.route:
        return decision
    return decision.model_copy(update={"route": variant, "candidate": variant})


def answer_in_instruction(lang: str | None) -> str | None:
    """System-instruction line telling a model to answer in the user's language."""
    if not lang or lang == "en":
        return None
    name = LANGUAGE_NAMES.get(lang, f"the language with ISO 639-1 code '{lang}'")
    return (
        f"The user's message is in {name} (detected language: {lang}). Answer in {name}; "
        "keep tool names, order numbers and other identifiers unchanged."
    )


def offline_notice(lang: str | None) -> str | None:
    """The user-language sentence an offline (English) answer starts with, if any."""
    if not lang or lang == "en":
        return None
    return OFFLINE_NOTICES.get(lang, "(Offline mode: answering in English.)")
