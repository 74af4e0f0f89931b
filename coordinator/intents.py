"""What a turn asks for beyond "one route": a person, a clarification, or several things.

Pure text functions the routing cascade uses before and after the router:

* `asks_for_person(text)`: a high-precision phrase check for "talk to a human / a manager /
  a real person / an agent" in English, Spanish, German, French, Portuguese and Italian.
  The classifier also learns the `escalation` route; the phrases make the common wordings
  certain (and are what counts as the user's explicit request for a hand-off).
* `is_frustrated(text)`: "this is useless", "you're not helping" (counts as a failed turn).
* `is_vague(text)`: too short or too generic to route ("help", "it doesn't work", "hi").
* `split_parts(text)`: sentence + conjunction splitting for multi-intent requests.
* `margin(decision)`: top-1 minus top-2 router score (the clarify rule compares it with a
  margin chosen on training data, `coordinator bench intents`).
* `clarifying_question(routes, names)`: ONE question naming the options.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from coordinator.classifier import ClassifierRouter
from coordinator.decision import Decision
from coordinator.encoder import routing_encoder
from coordinator.routes import RouteSet
from coordinator.settings import get_settings

log = logging.getLogger(__name__)

__all__ = [
    "CLARIFY_RATE",
    "asks_for_person",
    "calibrated_margin",
    "choose_margin",
    "clarifying_question",
    "is_courtesy",
    "is_frustrated",
    "is_greeting",
    "is_vague",
    "margin",
    "split_parts",
    "write_margin",
]

_PEOPLE = {
    # someone who is not the bot, per language
    "en": r"(a |an |the |some |your )?(real |actual |live |human )?"
    r"(human|person|people|agent|representative|rep|manager|supervisor|someone|somebody|operator"
    r"|staff( member)?|employee)",
    "es": r"(un |una |el |la |alg[uú]n )?(humano|persona( real| de verdad)?|agente|gerente"
    r"|supervisor(a)?|representante|encargad[oa]|operador(a)?|alguien)",
    "de": r"(einem |einer |einen |eine |dem |den )?(echten |richtigen )?"
    r"(menschen|mensch|mitarbeiter(in)?|person|manager|vorgesetzten|berater(in)?"
    r"|ansprechpartner|jemandem)",
    "fr": r"(un |une |le |la )?(vrai |vraie |v[ée]ritable )?"
    r"(humain|personne( r[ée]elle)?|conseill[eè]re?|agent|responsable|manager"
    r"|op[ée]rat(eur|rice)|quelqu'un)",
    "pt": r"(um |uma |o |a |alg[uú]ém )?(humano|pessoa( real| de verdade)?|atendente|agente|gerente"
    r"|supervisor(a)?|representante|operador(a)?|algu[eé]m)",
    "it": r"(un |una |uno |un'|il |la |qualcuno )?(essere umano|umano|persona( reale| vera)?"
    r"|operat(ore|rice)|agente|responsabile|manager|addett[oa]|qualcuno)",
}
_PERSON_PATTERNS = [
    # English
    rf"\b(talk|speak|chat)\s+(to|with)\s+{_PEOPLE['en']}\b",
    rf"\b(connect|transfer|put)\s+me\s+(through\s+)?(to|with)\s+{_PEOPLE['en']}\b",
    r"\b(get|give|want|need)( me)? (a |an )?(real |live )?(human|person|human agent|live agent)\b",
    r"\b(human|live) (agent|support|being)\b",
    r"\bescalate (this|it|my (case|issue|ticket))\b",
    # Spanish
    rf"\b(hablar|comunicarme|conversar)\s+con\s+{_PEOPLE['es']}\b",
    r"\b(quiero|necesito)\s+(un|una)\s+(humano|persona real|agente humano)\b",
    # German
    rf"\b(mit\s+)?{_PEOPLE['de']}\s+(sprechen|reden)\b",
    r"\b(echten|richtigen) menschen\b",
    # French
    rf"\b(parler|discuter)\s+(à|a|avec)\s+{_PEOPLE['fr']}\b",
    r"\b(vraie personne|conseiller humain|être humain)\b",
    # Portuguese
    rf"\b(falar|conversar)\s+com\s+{_PEOPLE['pt']}\b",
    r"\b(pessoa real|atendente humano|ser humano)\b",
    # Italian
    rf"\b(parlare|parlo)\s+con\s+{_PEOPLE['it']}\b",
    r"\b(persona reale|operatore umano|essere umano)\b",
]
_PERSON = re.compile("|".join(f"(?:{p})" for p in _PERSON_PATTERNS), re.IGNORECASE)
# "talk to the manager about my invoice" is still a hand-off request; "the agent said" is not.
_NOT_PERSON = re.compile(
    r"\b(no|don'?t|do not|never|without)\s+(want|need)?\s*(to\s+)?(talk|speak)", re.IGNORECASE
)

_FRUSTRATION = re.compile(
    r"\b(this|that|it|you)('?re| are| is|'s)? (completely |totally |so |really )?"
    r"(useless|pointless|worthless|not helping|not helpful|unhelpful|no help|a waste of time)\b"
    r"|\byou('?re| are) not (helping|listening|understanding)\b"
    r"|\b(that|this|it) (doesn'?t|does not|didn'?t|did not) help\b"
    r"|\b(stupid|useless|dumb) (bot|assistant|machine)\b"
    r"|\bnot what i (asked|wanted|meant)\b"
    r"|\b(esto|eso) no (sirve|ayuda)\b|\bno me (est[aá]s )?ayuda(ndo|s)?\b|\bin[uú]til\b"
    r"|\b(das|es) (hilft|bringt) (nicht|nichts)\b|\bnutzlos\b"
    r"|\b[cç]a ne sert à rien\b|\bvous ne m'aidez pas\b|\binutile\b"
    r"|\bisso n[aã]o (ajuda|serve)\b|\bvoc[eê] n[aã]o est[aá] ajudando\b"
    r"|\bnon (mi )?(stai|sta) aiutando\b|\bnon serve a niente\b",
    re.IGNORECASE,
)

_COURTESY = re.compile(
    r"^\W*(thanks|thank you|thx|cheers|bye|goodbye|ok|okay|great|perfect|cool|got it|gracias"
    r"|danke|merci|obrigad[oa]|grazie)\W*$",
    re.IGNORECASE,
)

# Whole-message patterns that name no topic: a guess would be a coin flip.
_VAGUE = re.compile(
    r"^\W*("
    r"(hi|hello|hey|hiya|good (morning|afternoon|evening)|greetings)( there)?"
    r"|(please )?help( me)?( please| pls)?"
    r"|(i|we) (need|want) (some )?help( please)?"
    r"|can (you|someone|anyone) help( me)?( please)?"
    r"|(i|we) (have|got) (a |an |some )?(problem|issue|question|complaint)s?"
    r"|(there'?s|there is) (a |an )?(problem|issue)"
    r"|(it|this|that|something)( is|'s)?( still)? (doesn'?t|does not|isn'?t|is not|not) work(ing)?"
    r"|(it|this|something)( is|'s) (broken|wrong)|something (went|is) wrong"
    r"|(problem|issue|question|support|assistance|urgent)"
    r"|ayuda|hilfe|aide|ajuda|aiuto"
    r")\W*$",
    re.IGNORECASE,
)

# Where a message with several asks splits: sentence ends, and "and"/"also"-style joins.
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+")
# One capture group: re.split keeps the joining words, so glued-back pieces read as typed.
_JOINS = re.compile(
    r"(,?\s+(?:and also|and then|and|also|plus|as well as|but also|in addition|additionally"
    r"|y además|y también|y|und außerdem|und auch|und|et aussi|et|e também|e anche|e)\s+)",
    re.IGNORECASE,
)
_LEADING_JOIN = re.compile(r"^\W*(and also|also|and|plus|additionally|in addition)\b[,\s]*", re.I)
MIN_PART_WORDS = 3  # "and refund" is not a request of its own
CLARIFY_RATE = 0.01  # share of clear held-out training requests the margin may question


def asks_for_person(text: str) -> bool:
    """True when the user asks to be handed to a person (six languages)."""
    return bool(_PERSON.search(text)) and not _NOT_PERSON.search(text)


def is_frustrated(text: str) -> bool:
    """True for "this is useless", "you're not helping" and their translations."""
    return bool(_FRUSTRATION.search(text))


def is_courtesy(text: str) -> bool:
    """Thanks / bye / ok: a fallback answer to these is not a failed turn."""
    return bool(_COURTESY.match(text))


_GREETING = re.compile(
    r"^\W*(hi|hello|hey|hiya|good (morning|afternoon|evening)|greetings)\b", re.I
)


def is_greeting(text: str) -> bool:
    return bool(_GREETING.match(text))


def is_vague(text: str) -> bool:
    """True when the message names no topic ("help", "I have a problem", "hi")."""
    return bool(_VAGUE.match(text.strip()))


def margin(decision: Decision) -> float:
    """Top-1 minus top-2 router score (1.0 when only one route is scored)."""
    top = sorted(decision.scores.values(), reverse=True)
    if len(top) < 2:
        return 1.0
    return float(top[0] - top[1])


def split_parts(text: str) -> list[str]:
    """Candidate parts: sentences, then each sentence at "and"/"also"-style joins.

    A piece shorter than `MIN_PART_WORDS` is glued to the next piece (else the previous)
    with its original joining words, so "the app also keeps crashing" stays whole and only
    pieces that could stand alone as requests come out. One part means "no split".
    """
    parts: list[str] = []
    for sentence in _SENTENCES.split(text.strip()):
        tokens = _JOINS.split(sentence)  # [piece, join, piece, join, piece...]
        pieces = [tokens[0]]
        joins = []
        for i in range(1, len(tokens), 2):
            joins.append(tokens[i])
            pieces.append(tokens[i + 1])
        merged: list[str] = []
        carry = ""
        for i, piece in enumerate(pieces):
            current = carry + piece
            last = i == len(pieces) - 1
            if len(current.split()) < MIN_PART_WORDS and not last:
                carry = current + joins[i]
                continue
            carry = ""
            if len(current.split()) < MIN_PART_WORDS and merged:
                merged[-1] = merged[-1] + joins[i - 1] + current
            else:
                merged.append(current)
        parts.extend(merged)
    cleaned = [_LEADING_JOIN.sub("", p).strip(" ,.;") for p in parts]
    return [p for p in cleaned if p]


def _label(routes: RouteSet, name: str) -> str:
    """'Billing: charges on the account, invoices...' -> 'charges on the account'."""
    description = " ".join(routes.description(name).split())
    head, _, rest = description.partition(":")
    first = re.split(r"[,;(]", rest or head)[0].strip(" .")
    return first or name.replace("_", " ")


def clarifying_question(routes: RouteSet, names: Sequence[str] | Iterable[str]) -> str:
    """ONE question naming each option: "Is this about X (billing), Y (...), or Z (...)?"."""
    options = [f"{_label(routes, n)} ({n.replace('_', ' ')})" for n in names]
    if not options:
        return "Could you tell me a little more about what you need?"
    listed = options[0] if len(options) == 1 else ", ".join(options[:-1]) + ", or " + options[-1]
    return f"To get you to the right specialist: is this about {listed}?"


def choose_margin(routed: Iterable[tuple[Decision, str]], rate: float = CLARIFY_RATE) -> float:
    """The margin below which only `rate` of correctly routed held-out examples fall.

    `routed` is (decision on a held-out example, its true route). Asking whenever the
    margin is below this value questions about `rate` of clear requests like these.
    """
    margins = [margin(d) for d, label in routed if d.confident and d.route == label]
    if not margins:
        return 0.0
    return float(np.quantile(np.asarray(margins), rate))


def _cv_margin(routes: RouteSet, rate: float, folds: int, seed: int) -> float:
    rng = random.Random(seed)
    assigned: list[tuple[str, str, int]] = []
    for r in routes.scored:
        texts = list(r.utterances)
        rng.shuffle(texts)
        assigned.extend((t, r.name, i % folds) for i, t in enumerate(texts))
    routed: list[tuple[Decision, str]] = []
    for fold in range(folds):
        keep = {
            r.name: [t for t, n, f in assigned if n == r.name and f != fold] for r in routes.scored
        }
        train = routes.model_copy(
            update={
                "routes": tuple(
                    r.model_copy(update={"utterances": tuple(keep.get(r.name, r.utterances))})
                    for r in routes.routes
                )
            }
        )
        router = ClassifierRouter(train, seed=seed)
        routed.extend((router.route(t), n) for t, n, f in assigned if f == fold)
    return choose_margin(routed, rate)


def _margin_key(routes: RouteSet, rate: float, folds: int) -> str:
    encoder = routing_encoder().name.replace("/", "_")
    return f"{routes.fingerprint()}-{encoder}-r{rate:g}-k{folds}"


def write_margin(routes: RouteSet, path: Path, rate: float = CLARIFY_RATE, folds: int = 5):
    """Compute the margin now and store it in `path` (shipped next to a routes file)."""
    value = _cv_margin(routes, rate, folds, seed=0)
    record = {"key": _margin_key(routes, rate, folds), "margin": value, "rate": rate}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(path)
    return value


@functools.lru_cache(maxsize=8)
def calibrated_margin(
    routes: RouteSet, rate: float = CLARIFY_RATE, folds: int = 5, shipped: Path | None = None
) -> float:
    """The clarify margin for a classifier router of `routes`, chosen on its utterances only.

    k-fold: a classifier trained without each fold routes that fold; the margin is the
    `rate` quantile of the correct held-out margins. Training k classifiers costs seconds,
    so the value is looked up first in `shipped` (written by `write_margin`, valid only for
    exactly these routes and encoder), then in the data dir's cache, else computed once.
    """
    key = _margin_key(routes, rate, folds)
    cache = get_settings().data_dir / "router-cache" / f"clarify-{key}.json"
    for path in (shipped, cache):
        if path is None:
            continue
        try:
            record = json.loads(path.read_text())
            if record.get("key", key) == key:
                return float(record["margin"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass
    value = _cv_margin(routes, rate, folds, seed=0)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{id(value)}")
        tmp.write_text(json.dumps({"key": key, "margin": value, "rate": rate}))
        tmp.replace(cache)  # atomic: concurrent processes never read half a file
    except OSError as exc:
        log.warning("could not cache the clarify margin in %s: %s", cache, exc)
    return value
