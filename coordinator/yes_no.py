"""Yes and no, recognised in one place (six languages).

Three questions, deliberately of different strictness, over one module's word lists:

* `is_affirmative` - may a side effect run? Only a short, whole-message, unambiguous yes
  (no question, negation, hedge or sarcasm). Used by the confirmation gate in `tools/`.
* `leads_with_yes` - does the user accept an offer ("shall I hand you to a person?")?
  A short message that starts with a yes.
* `is_yes_or_no` - is this a bare answer to the question a specialist is waiting on, so
  the cascade keeps the conversation with it whatever the router makes of a few words?
* `is_refusal` - does the message decline or postpone?
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_affirmative", "is_refusal", "is_yes_or_no", "leads_with_yes", "normalise"]

# Whole-message affirmatives (after normalising case, accents and punctuation). A yes may
# be followed by a short restatement of the action ("yes, refund it", "yes order 1006").
_YES = (
    r"yes|yes please|yeah|yep|yup|y|sure|ok|okay|o\.?k\.?|confirm|confirmed|i confirm|"
    r"go ahead|do it|please do|please go ahead|correct|absolutely|definitely|affirmative|"
    r"si|si por favor|claro|vale|de acuerdo|confirmo|"  # es
    r"oui|oui merci|d accord|je confirme|"  # fr
    r"ja|ja bitte|jawohl|bestatigt|"  # de
    r"sim|"  # pt
    r"yes i confirm|yes go ahead|yes do it|yes please do"
)
_RESTATE = (
    r"(?:(?:please|and|then)\s+)?(?:refund|proceed|go|do|it|that|this|the|my|order|"
    r"refund it|reembolsa|rembourse|erstatten|#?\d{3,7}|now|thanks|thank you|gracias|merci|danke)"
)
_AFFIRMATIVE = re.compile(rf"^(?:{_YES})(?:\s+(?:{_YES}))*(?:\s+{_RESTATE})*$")

# Declining or postponing ("no", "don't", "wait", "not yet", "no quiero", "nein").
_NEGATION = re.compile(
    r"\b(no|not|nope|nah|never|dont|do not|\w+n t|wont|cannot|cancel|stop|wait|hold on|"
    r"hold off|later|tomorrow|no quiero|no gracias|nada|non|nein|nicht|kein\w*|nao|pas)\b"
)
# What turns a yes into a maybe, a condition or a joke ("yeah right", "as if", "if").
_HEDGE = re.compile(
    r"\b(maybe|perhaps|if|unless|but|right|as if|kidding|joke|jk|lol|sarcasm|hmm|"
    r"quizas|tal vez|peut etre|vielleicht)\b"
)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("’", "'").replace("'", " ")
    return " ".join(re.sub(r"[^\w#\s]", " ", text).split())


def is_affirmative(text: str | None, allow: tuple[str, ...] = ()) -> bool:
    """True only for a short, unambiguous yes to the question just asked.

    Questions ("yes?"), negations, hedges ("yes but wait"), sarcasm ("yeah right") and
    anything longer than a short sentence are not a yes. `allow` names the action's own
    verb, which may restate it ("yes, cancel it" confirms a cancellation).
    """
    if not text or "?" in text or '"' in text or len(text) > 60 or "\n" in text.strip():
        return False
    norm = normalise(text)
    for word in allow:
        norm = " ".join(re.sub(rf"\b{re.escape(word)}\b", " ", norm).split())
    if not norm or _NEGATION.search(norm) or _HEDGE.search(norm):
        return False
    return _AFFIRMATIVE.match(norm) is not None


def is_refusal(text: str | None) -> bool:
    """True when the message declines or postpones ("no", "don't refund it", "wait")."""
    return bool(text) and _NEGATION.search(normalise(text or "")) is not None


_LEADING_YES = re.compile(
    r"^\W*(yes|yeah|yep|sure|ok|okay|please( do)?|do it|go ahead|yes please|s[ií]|claro|vale"
    r"|ja|gerne|bitte|oui|d'accord|sim|certo|pode|va bene|certo)\b",
    re.IGNORECASE,
)

def leads_with_yes(text: str) -> bool:
    """A short yes (in six languages): the answer to "shall I hand you to a person?"."""
    return len(text) <= 60 and bool(_LEADING_YES.search(text))


# An answer to a yes/no question (six languages): the yes or no first, a few words at most
# after it ("sí", "no", "yes, cancel it", "nein danke").
_YES_OR_NO = re.compile(
    r"^\W*(yes|yeah|yep|sure|ok|okay|no|nope|nah|s[ií]|claro|vale|ja|nein|oui|non|sim|n[aã]o"
    r"|certo|va bene)\b",
    re.IGNORECASE,
)


def is_yes_or_no(text: str) -> bool:
    """An answer to the pending question, whatever the router makes of its few words."""
    return len(text.split()) <= 6 and bool(_YES_OR_NO.match(text))
