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

import threading

from coordinator.router import Decision
from coordinator.routes import RouteSet

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

_lock = threading.Lock()


def detect_language(
    text: str, *, min_words: int = 3, min_letters: int = 12, min_probability: float = 0.8
) -> str | None:
    """ISO 639-1 code of `text`, or None when the text is too short or the guess unsure."""
    letters = sum(ch.isalpha() for ch in text)
    if len(text.split()) < min_words or letters < min_letters:
        return None
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    with _lock:  # the seed lives in shared module state
        DetectorFactory.seed = 0
        try:
            guesses = detect_langs(text)
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
