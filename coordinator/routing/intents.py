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

from coordinator.routing.classifier import ClassifierRouter
from coordinator.routing.decision import Decision
from coordinator.routing.encoder import routing_encoder
from coordinator.routing.routes import RouteSet
from coordinator.settings import get_settings

log = logging.getLogger(__name__)

__all__ = [
    "CLARIFY_RATE",
    "announces_another_ask",
    "asks_for_person",
    "calibrated_margin",
    "choose_margin",
    "clarifying_question",
    "is_background",
    "is_courtesy",
    "is_frustrated",
    "is_greeting",
    "is_own_ask",
    "is_pleasantry",
    "is_remedy",
    "is_remedy_of",
    "is_request",
    "is_vague",
    "margin",
    "split_clauses",
    "split_joined",
    "split_parts",
    "write_margin",
]

_PEOPLE = {
    # someone who is not the bot, per language
    "en": r"(a |an |the |some |your )?(real |actual |live |human )?"
    r"(human|person|people|agent|representative|rep|manager|supervisor|boss|someone|somebody"
    r"|operator|staff( member)?|employee)",
    "es": r"(un |una |el |la |alg[uú]n )?(humano|persona( real| de verdad)?|agente|gerente"
    r"|asesor(a)?"
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
    r"\b(get|give|want|need|fetch|find)( me)? (a |an |the |your )?((real|live|actual) )*"
    r"(human|person|human agent|live agent|manager|supervisor|boss|representative)\b",
    r"\b(human|live) (agent|support|being)\b",
    r"\b(complain|complaint)\w*\s+(to|with)\s+(a |an |the |your )?(manager|supervisor|human)\b"
    r"|\bsomeone (senior|in charge)\b|\b(a|an) (human|person|manager|supervisor)\s+to\s+"
    r"(review|look (at|into)|handle|check)\b",
    r"\bbei\s+(einem|einer|ihrem|ihrer|dem|der)\s+(vorgesetzten|manager(in)?|chef(in)?)\s+"
    r"(zu\s+)?beschwer",
    r"\bescalate (this|it|my (case|issue|ticket))\b",
    r"\b(want|need|like|have|get|ask for)\s+(a|an|the|your)\s+(manager|supervisor|human|person"
    r"|real person)\s+(to\s+)?(contact|call|email|reach|get back to)\s+(me|us)\b",
    # Spanish
    rf"\b(hablar|comunicarme|conversar)\s+con\s+{_PEOPLE['es']}\b",
    r"\b(quiero|necesito)\s+(un|una)\s+(humano|persona real|agente humano)\b",
    rf"\b(p[aá]s(ame|eme|enme|adme)|comun[ií]c(ame|eme|enme)|transfi[eé]r(ame|eme|anme))\s+"
    rf"(con|a)\s+{_PEOPLE['es']}\b",
    # German
    rf"\b(mit\s+)?{_PEOPLE['de']}\s+(sprechen|reden)\b",
    r"\b(echten|richtigen) menschen\b",
    rf"\b(verbinden|stellen)\s+sie\s+mich\s+(bitte\s+)?(mit|zu)\s+{_PEOPLE['de']}\b",
    # French
    rf"\b(parler|discuter)\s+(à|a|avec)\s+{_PEOPLE['fr']}\b",
    r"\b(vraie personne|conseiller humain|être humain)\b",
    rf"\b(passez|passe|transf[ée]rez|mettez)[- ]moi\s+(à\s+|a\s+|avec\s+|en relation avec\s+)?"
    rf"{_PEOPLE['fr']}\b",
    # Portuguese
    rf"\b(falar|conversar)\s+com\s+{_PEOPLE['pt']}\b",
    r"\b(pessoa real|atendente humano|ser humano)\b",
    rf"\bme\s+(transfere|transfira|passa|passe|coloca|coloque)\s+(pra|para|com|em contato com)\s+"
    rf"{_PEOPLE['pt']}\b",
    # Italian
    rf"\b(parlare|parlo)\s+con\s+{_PEOPLE['it']}\b",
    r"\b(persona reale|operatore umano|essere umano)\b",
    rf"\b(passatemi|passami|mi\s+passa(te)?|mi\s+passi)\s+(con\s+)?{_PEOPLE['it']}\b",
    # Asking to be called is asking for a person: "call me back", "can someone phone me".
    # The object must be the user ("call me"), so "I called you" or "je m'appelle" is not.
    r"\b(call|ring|phone)\s+(me|us)\b|\bcall\s?-?backs?\b|\bgive (me|us) a (call|ring|bell)\b",
    r"\b(someone|somebody|anyone|anybody|an agent)\s+(to\s+|can\s+|could\s+)?(call|ring|phone)\b",
    r"\b(to\s+be|get|getting|being)\s+(called|phoned|rung)\s+back\b"
    r"|\b(like|want|need|prefer)\s+to\s+be\s+(phoned|rung)\b|\b(like|want|need|prefer)\s+to\s+be"
    r"\s+called\s*(back|about|regarding|re\b|today|tomorrow|asap|please|soon|as soon|at\s+\d"
    r"|on\s+my|this\s+(morning|afternoon|evening|week)|[.!]|$)"
    r"|\b(want|need|like|request)\s+a\s+(phone\s+)?call\s+(back\s+)?from\b",
    r"\bll[aá]m(ame|enme|adme|eme)\b|\bme\s+llamen?\b|\bllamarme\b"
    r"|\bme\s+(puede[ns]?|pod[eé]is|podr[ií]an?|podr[ií]as)\s+(llamar|devolver la llamada)\b"
    r"|\bdevolver(me)?\s+la\s+llamada\b",
    r"\b(r?appel(ez|le)|t[ée]l[ée]phonez)[- ]moi\b|\b(qu'on|quelqu'un|on)\s+(peut\s+|pourrait\s+)?"
    r"(me\s+|m')(r?appel|t[ée]l[ée]phon)\w*|\b(pouvez|pourriez|peux|pourrais)[- ](vous|tu)\s+"
    r"(me\s+|m')(r?appeler|t[ée]l[ée]phoner)\b|\b[êe]tre\s+rappel[ée]e?s?\b",
    r"\bruf\w*\s+(sie\s+|du\s+)?(mich|uns)\b|\b(mich|uns)\b[^.?!]{0,30}\b(an|zur[üu]ck)rufen\b"
    r"|\br[üu]ckruf\b|\b(angerufen|zur[üu]ckgerufen)\s+werden\b",
    r"\bme\s+(ligue[mn]?|liga|ligar|telefone[mn]?|telefonar|retorne[mn]?)\b|\bliguem[- ]me\b"
    r"|\bretorn(ar|em|e)\s+(a\s+)?(minha\s+)?liga[çc][aã]o\b",
    r"\b(ri)?chiama(temi|mi|rmi)\b|\bmi\s+(pu[oò]|potete|potreste|potrebbe)\s+(ri)?chiamare\b"
    r"|\bessere\s+(ri)?chiamat[oa]\b|\bcontattat[oa]\s+(per|al)\s+telefono\b"
    r"|\bqualcuno\s+mi\s+(ri)?(chiam|telefon)\w*"
    r"|\bche\s+mi\s+(ri)?(chiam|telefon)(i|iate|asse|aste|ino|assero)\b",
]
_PERSON = re.compile("|".join(f"(?:{p})" for p in _PERSON_PATTERNS), re.IGNORECASE)
# "talk to the manager about my invoice" is still a hand-off request; "the agent said" is not.
# A refusal vetoes the whole message, in six languages: a request for a person opens a ticket.
_NOT_PERSON = re.compile(
    r"\b(no|don'?t|do not|never|without)\s+(want|need|wish)?\s*(to\s+)?(be\s+)?"
    r"(talk|speak|chat|call|ring|phone|transfer|connect|put me|contact)"
    r"|\b(don'?t|do not|never)\s+(want|need)\s+(a|an|the|any|your)\s+(\w+\s+)?"
    r"(human|person|manager|supervisor|agent|call|callback|call-back)\b"
    r"|\bno\s+(quiero|necesito|deseo)\s+(hablar|que\s+me\s+llam|un\s|una\s|ning[uú]n)"
    r"|\bno\s+me\s+(llam(en|es|[ée]is)\b|pas(e|en|es)\s+con|transfi\w*|comuniqu\w*\s+con"
    r"|devuelvan\s+la\s+llamada)"
    r"|\bne\s+(me\s+|m')(rappel|t[ée]l[ée]phon|pass|transf[ée]r|mett)\w*\s+pas\b"
    r"|\bne\s+veux\s+pas\s+(parler|discuter|[êe]tre\s+rappel|qu'on)"
    r"|\bpas\s+besoin\s+(de\s+parler|d'un|d'une|qu'on)"
    r"|\bruf\w*\s+(sie\s+|du\s+|ihr\s+)?(mich|uns)\s+(bitte\s+)?nicht\b"
    r"|\bnicht\s+(an|zur[üu]ck)?gerufen\s+werden|\bnicht\s+angerufen\s+werden"
    r"|\b(will|m[öo]chte|brauche)\s+(nicht|keinen?)\s+(mit\s+)?((einem|einer|einen|dem|den)\s+)?"
    r"(\w+\s+)?(sprechen|reden|r[üu]ckruf|anruf|angerufen|menschen|mitarbeiter)"
    r"|\bn[aã]o\s+me\s+(ligu|liga|telefon|transfir|transfer|pass)\w*|\bn[aã]o\s+(liguem|telefonem)"
    r"|\bn[aã]o\s+(quero|preciso)\s+(falar|que\s+me\s+lig|ser\s+contatad|um\s|uma\s)"
    r"|\bnon\s+(chiamatemi|telefonatemi|richiamatemi|mi\s+(chiamate|telefonate|richiamate"
    r"|passate|trasferite))"
    r"|\bnon\s+(voglio|ho\s+bisogno\s+di)\s+(parlare|essere\s+(ri)?chiamat|un\s|una\s)",
    re.IGNORECASE,
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
# An inline list item ("1) refund order 1002 2) my login fails") starts a sentence too.
_SENTENCES = re.compile(r"(?<=[.!?;])\s+|\n+|\s+(?=\d{1,2}\)\s)")
# One capture group: re.split keeps the joining words, so glued-back pieces read as typed.
# "and then" / "and now" / "y ahora" carry a story on ("I installed the update and now the
# app forgets my login"): what follows is the same problem, so they never join two asks.
_NARRATIVE = (
    r"(?!\s+(?:then|now|by then|by now|after that|ahora|luego|despu[eé]s|maintenant|puis"
    r"|ensuite|jetzt|dann|nun|agora"
    r"|depois|ora|poi|quindi)\b)"
)
_JOINS = re.compile(
    # "plus" only after a comma: French "ne marche plus et..." is "no longer", not a join
    r"(,\s+plus\s+|\s+[&+]\s+"
    r"|,\s+(?:adem[aá]s|aparte|en plus|par ailleurs|au[sß]erdem|zudem|al[eé]m disso"
    r"|inoltre|per di pi[uù])[,:]?\s+"
    r"|,?\s+(?:and also|as well as|but also|in addition|additionally|y además|y también"
    r"|pero también|und außerdem|und auch|aber auch|et aussi|mais aussi|e também|mas também"
    r"|e anche|ma anche"
    rf"|(?:and|also|y|und|et|e){_NARRATIVE})\s+)",
    re.IGNORECASE,
)
# Words that open a part only to announce it ("Also,", "Another thing:", "Außerdem", "E"):
# they say where the part starts, not what it asks, so the part is routed without them.
_LEADING_JOIN = re.compile(
    r"^\W*(?:(?:and|y|et|und|e)[\s,]+)?(?:also|plus|additionally|in addition|separately|besides"
    r"(?: that)?|by the way|btw|on top of that|another thing|one more thing|two things"
    r"|two questions|tambi[eé]n|adem[aá]s|aparte|por otro lado|otra cosa|aussi|en plus|par ailleurs"
    r"|autre chose|de plus|au[sß]erdem|zudem|noch etwas|dar[üu]ber hinaus|tamb[eé]m"
    r"|al[eé]m disso|outra coisa|inoltre|anche|un'altra cosa|per di pi[uù]|dos cosas|deux choses"
    r"|zwei dinge|duas coisas|due cose|au fait|nebenbei|abgesehen davon|aproveitando|fora isso"
    r"|gi[àa] che ci sei|a parte questo|apart from that|[àa] part [çc]a|unrelated|on another note"
    r"|changing the subject|out of curiosity|oh and|anyway|por cierto|de paso|cambiando de tema"
    r"|por curiosidad|sans rapport|changement de sujet|par curiosit[ée]|[üu]brigens|ach ja"
    r"|aus neugier|a prop[óo]sito|por falar nisso|mudando de assunto|por curiosidade"
    r"|tra l'altro|per curiosit[àa]|cambiando discorso)(?=[\s,:;.]|$)"
    r"[\s,:;.]*(?:-\s+)?|^\W*(?:and|y|et|und|e)(?=[\s,:;])[\s,:;]*"
    r"|^\s*(?:\d{1,2}[.)]|[-*•])\s+",  # a list item's number or bullet
    re.IGNORECASE,
)
MIN_PART_WORDS = 3  # words with letters: "and refund" is not a request of its own
CLARIFY_RATE = 0.01  # share of clear held-out training requests the margin may question


# A bare ask: "agent please", "Un agente, por favor", "Mensch bitte!", "Operatore!".
_BARE_PERSON = re.compile(
    r"^\W*((a|an|un|una|um|uma|un vrai|une vraie|einen?|ein)\s+)?((real|live|vrai|echten?)\s+)?"
    r"(human|agent|person|operator|representative|humano|agente|persona|operador|asesor|humain"
    r"|conseiller|op[ée]rateur|mensch(en)?|mitarbeiter|atendente|operatore|umano)"
    r"[\s,]*(please|pls|now|por favor|s'il vous pla[iî]t|svp|bitte|per favore|agora|ahora|subito)?"
    r"\W*$",
    re.IGNORECASE,
)
_WANT_PERSON = re.compile(
    r"\b(quiero|necesito|je veux|je voudrais|ich will|ich m[öo]chte|quero|preciso de|voglio"
    r"|vorrei)\s+(un|una|um|uma|un vrai|une vraie|einen|eine)\s+((vrai|echten|real|de verdade)\s+)?"
    r"(humano|agente humano|persona|asesor(a)?|conseill[eè]re?|humain|menschen|mitarbeiter"
    r"|atendente|operatore|umano|gerente|responsable|supervisor(a)?|manager)\b",
    re.IGNORECASE,
)
# Where a message turns ("... , but", ". Anyway"): a refusal or a past event in one clause
# says nothing of the next ("I don't want a bot, I want a person").
_PERSON_CLAUSES = re.compile(
    r"[.?!;:]+\s*|,\s*|\s[-–—]\s|\s+(but|pero|mais|aber|sondern|mas|ma|however|anyway)\s+",
    re.IGNORECASE,
)
# A clause that mentions a person or a call without asking for one now: the past, a
# condition or a question about one, someone of the user's own, a product feature, a name, or
# the other meanings of the verbs ("rappeler" = remind, "Rückruf" = recall, "ligar" = connect).
_PAST = re.compile(
    r"\b(yesterday|last (week|month|night|time|year)|earlier|ago|already|did (anyone|someone|you)"
    r"|got a call|ayer|la semana pasada|el mes pasado|intent[ée]|hier|la semaine derni[eè]re"
    r"|j'ai essay[ée]|gestern|letzte woche|letzten monat|habe .{0,20}bekommen|hat gesagt|wollte ich"
    r"|ontem|semana passada|tentei|ieri|la settimana scorsa|ho provato|sono stat[oa])\b",
    re.IGNORECASE,
)
# ...unless the clause also says what the user wants now ("I want to complain to a manager
# about last week's service").
_WISH_NOW = re.compile(
    r"\b(i want|i'd like|i would like|i need|please|let me|quiero|necesito|quisiera|por favor"
    r"|je veux|je voudrais|j'aimerais|s'il vous pla[iî]t|ich will|ich m[öo]chte|bitte|quero"
    r"|gostaria|preciso|voglio|vorrei|per favore)\b",
    re.IGNORECASE,
)
_NOT_NOW = re.compile(
    r"^\W*(if|si|se|falls|wenn|cuando|quando|once)\b|\b(should i|dois-je|deber[ií]a|devo|sollte ich"
    r"|are you|am i (talking|chatting|speaking)|is this a|est-ce que je parle|est-ce une|sei un"
    r"|voc[eê] [ée]|bist du|schreibe ich|es usted|eres una?)\b"
    r"|\b(my|mi|meu|minha|mio|mia|mon|ma|mein(em|er|e)?|der|la|de)\s+(own\s+)?(family|familia"
    r"|fam[ií]lia|famiglia|famille|boss|chef(in)?|chefe|manager|madre|mother|mom|dad|padre|father"
    r"|wife|husband|colleague|coworker|kolleg(e|in)|coll[èe]gue|collega|colega)\b"
    r"|\b(at home|en casa|in famiglia|courier|repartidor|corriere|livreur|entregador)\b"
    r"|\b(button|feature|widget|url|api|function|funci[oó]n|bot[oó]n|bouton|funktion|bot[aã]o"
    r"|pulsante|role|modell|ger[äa]t|betroffen|export|history|address|e-?mail address"
    r"|included|incluye|inclu[iy]|include|plan b[aá]sico|basic plan|piano base|plano b[aá]sico"
    r"|en copie|in copia|codici|c[óo]digos|readable|hours|horario|api)\b"
    r"|\bby my (first )?name\b|\bpor mi (nombre|apodo|apellido)\b|\bpar mon pr[ée]nom\b"
    r"|\bm'appelle\b"
    r"|\bme rappeler (mon|ma|mes|le|la|les|l'|comment|combien|quand|o[uù])"
    r"|\brappelle-moi (le|la|les)\b"
    r"|\bme ligar (à|a|ao|na|no)\b|\bme retorne(m)? o\b"
    r"|\b(never|nunca|jamais|nie|niemals|mai|stop|dejen de|parem de|smettete(la)? di"
    r"|h[öo]ren sie auf|no need|pas besoin|kein(en)? r[üu]ckruf|r[üu]ckruf brauche ich nicht"
    r"|preferisco non|prefiro n[aã]o"
    r"|prefiero no|non desidero|non ho voglia|vi prego di non|je refuse|je ne souhaite pas"
    r"|nobody|no one|nadie|ningu[ée]m|nessuno|niemand|sem liga|nicht mehr)\b"
    r"|\bparler [àa] personne\b|\bavec personne\b",
    re.IGNORECASE,
)
# Names the user gives ("Call me Sam", "Llámame Juan", "Chiamami Giulia"): a capital after the
# verb, read case-sensitively.
_A_NAME = re.compile(
    r"\b([Cc]all me|[Ll]l[aá]mame|[Aa]ppelez-moi|[Cc]hiamami|chiamato|chiamata|[Cc]hiamare|"
    r"[Rr]ufen mich|[Rr]uft mich|[Mm]e chame) [A-ZÁÉÍÓÚÄÖÜ][a-záéíóúäöü]+"
)


def _asks_in_clause(clause: str) -> bool:
    if not clause.strip():
        return False
    if _A_NAME.search(clause) or _NOT_NOW.search(clause) or _NOT_PERSON.search(clause):
        return False
    if _PAST.search(clause) and not _WISH_NOW.search(clause):
        return False
    return bool(_PERSON.search(clause) or _WANT_PERSON.search(clause))


def asks_for_person(text: str) -> bool:
    """True when the user asks, now, to be handed to a person (six languages).

    It opens a ticket at once, so a clause that only mentions a person or a call (refused,
    in the past, hypothetical, someone of the user's own, a product feature, a name) does not
    count; another clause of the same message still may ("I don't want a bot, I want a
    person")."""
    if _BARE_PERSON.match(text):
        return True
    clauses = [c for c in _PERSON_CLAUSES.split(text) if c and not _PERSON_CLAUSES.fullmatch(c)]
    return any(_asks_in_clause(c) for c in clauses)


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
    return [piece for _, piece in split_joined(text)]


def _words(text: str) -> int:
    """Words with letters, and order-style numbers: "and it is 19.99" is no request of its
    own, "refund order 1006" is."""
    return sum(
        any(ch.isalpha() for ch in w) or (len(w) >= 3 and w.strip("#.,;:!?").isdigit())
        for w in text.split()
    )


def split_joined(text: str) -> list[tuple[str, str]]:
    """`split_parts` with the words that joined each part to the one before ("" first).

    The join is kept because it tells a second ask ("and also", ". Separately,") from the
    remedy of a problem ("it broke, I want my money back"): see `is_remedy_of`.
    """
    parts: list[tuple[str, str]] = []
    for n, sentence in enumerate(_SENTENCES.split(text.strip())):
        tokens = _JOINS.split(sentence)  # [piece, join, piece, join, piece...]
        pieces = [tokens[0]]
        joins = ["" if n == 0 else ". "]
        for i in range(1, len(tokens), 2):
            joins.append(tokens[i])
            pieces.append(tokens[i + 1])
        merged: list[tuple[str, str]] = []
        carry, carry_join = "", None
        for i, piece in enumerate(pieces):
            join = joins[i] if carry_join is None else carry_join
            current = carry + piece
            last = i == len(pieces) - 1
            if _words(current) < MIN_PART_WORDS and not last:
                carry, carry_join = current + joins[i + 1], join
                continue
            carry, carry_join = "", None
            if _words(current) < MIN_PART_WORDS and merged:
                before, text_so_far = merged[-1]
                merged[-1] = (before, text_so_far + joins[i] + current)
            else:
                merged.append((join, current))
        parts.extend(merged)
    out = []
    for join, part in parts:
        if not _words(part):  # "1." of a numbered list, a lone emoji: no part
            continue
        lead = _LEADING_JOIN.match(part)
        cleaned = _LEADING_JOIN.sub("", part).strip(" ,.;")
        if cleaned:
            out.append(((join + (lead.group(0) if lead else "")).strip(), cleaned))
    return out


# Finer than a part: commas and "so"-style joins also end a clause ("it broke, so refund me").
_CLAUSES = re.compile(
    r"(,?\s+(?:so|therefore|thus|as a result|así que|por eso|por lo que|donc|alors|du coup"
    r"|deshalb|daher|darum|deswegen|então|por isso|quindi|perciò|pertanto|allora)\s+"
    r"|,\s+|\s+-\s+)",
    re.IGNORECASE,
)


def split_clauses(text: str) -> list[tuple[str, str]]:
    """`split_joined` parts cut further at commas and "so"/"donc"/"quindi" joins.

    Clauses are not asks: a cause and its remedy are often one sentence with a comma
    ("it broke after two days, I want my money back"). Only `is_remedy_of` reads them.
    """
    out: list[tuple[str, str]] = []
    for join, part in split_joined(text):
        tokens = _CLAUSES.split(part)
        pending = join
        for i in range(0, len(tokens), 2):
            clause = tokens[i].strip(" ,.;")
            if clause:
                out.append((pending.strip(), clause))
                pending = ""
            if i + 1 < len(tokens):
                pending += tokens[i + 1]
    return out


# A second, independent ask announces itself: "also", "separately", "another thing", "too".
_ANOTHER_ASK = re.compile(
    r"\b(also|too|as well|separately|additionally|in addition|plus|another thing|besides"
    r"|by the way|btw|on top of that|secondly|second|two (?:things|questions)|apart from that"
    r"|unrelated|on another note|changing the subject|out of curiosity|oh and|anyway"
    r"|por cierto|de paso|cambiando de tema|por curiosidad|sans rapport|changement de sujet"
    r"|par curiosit[ée]|[üu]brigens|ach ja|aus neugier|a prop[óo]sito|por falar nisso"
    r"|mudando de assunto|por curiosidade|tra l'altro|per curiosit[àa]|cambiando discorso"
    r"|tambi[eé]n|adem[aá]s|aparte|por otro lado|otra cosa|encima|dos (?:cosas|preguntas)"
    r"|aussi|en plus|par ailleurs|autre chose|[ée]galement|de plus|deux choses|au fait"
    r"|[àa] part [çc]a"
    r"|auch|au[sß]erdem|zudem|zweitens|noch etwas|dar[üu]ber hinaus|zwei dinge|abgesehen davon"
    r"|nebenbei"
    r"|tamb[eé]m|al[eé]m disso|outra coisa|ainda por cima|duas coisas|fora isso|aproveitando"
    r"|anche|inoltre|un'altra cosa|per di pi[uù]|pure|due cose|a parte questo|gi[àa] che ci sei"
    r")\b",
    re.IGNORECASE,
)
# A part that asks something itself: a question, or a request verb ("can you", "quiero").
# Question words only open a part: "que", "come", "wie" are also relative words and "like".
_REQUEST = re.compile(
    r"[?¿]"
    r"|\b(can you|could you|can i|please|send|show|tell me|i want|i need|i'?d like|i would like"
    r"|quiero|necesito|quisiera|je veux|je voudrais|j'ai besoin|pouvez|pourriez|envoyez"
    r"|ich m[öo]chte|ich will|ich brauche|k[öo]nnen sie|k[öo]nnt ihr|schick|quero|preciso"
    r"|podem|enviem|voglio|vorrei|ho bisogno|potete|mandatemi"
    r"|me manda|m[aá]ndame|env[ií]ame|me envie|envie-me|envoie-moi|il me faut|mi serve"
    r"|mandami|inviami|schicken sie|senden sie|bitte|por favor|s'il vous pla[iî]t|per favore"
    r"|dime|cu[eé]ntame|dis-moi|raconte-moi|sag mir|erz[äa]hl mir|me diz|me conta|dimmi"
    r"|raccontami)\b",
    re.IGNORECASE,
)
_OWN_ASK = re.compile(
    r"^\W*(what|why|how|when|where|which|who|qu[eé]|por qu[eé]|c[oó]mo|cu[aá]ndo|d[oó]nde"
    r"|cu[aá]l|cu[aá]nto|pourquoi|comment|quand|combien|o[uù]|quel(le)?s?|warum|wieso|wann|wo"
    r"|wie|was|welche[rs]?|o que|por que|quando|onde|qual|quanto|cosa|perch[eé]|dove|quale"
    r"|come)\b|" + _REQUEST.pattern,
    re.IGNORECASE,
)
# What a customer asks for to put a problem right: their money back, in six languages.
_REMEDY = re.compile(
    r"refund|reimburs|money back|cash back|compensat|reembols|dinero|rembours|argent"
    r"|erstatt|geld zur[üu]ck|geld wieder|dinheiro|rimbors|soldi",
    re.IGNORECASE,
)
# ...unless the part asks about a refund rather than for one ("how long do refunds take").
_REMEDY_STATUS = re.compile(
    r"\b(how long|when|status|processed|policy|eligible|has my|did my|pol[ií]tica|cu[aá]nto tarda"
    r"|combien de temps|politique|wie lange|bedingungen|quanto tempo|pol[ií]tica|quanto ci vuole"
    r"|politica)\b",
    re.IGNORECASE,
)


# What the customer did, told as background: "I updated the app", "actualicé la app",
# "j'ai mis à jour l'appli", "ich habe die App aktualisiert", "atualizei o app", "ho
# aggiornato l'app". First person, past, at the start of the part.
_DID = re.compile(
    r"^\W*(?:(?:hi|hello|hey|hola|salut|bonjour|hallo|ol[aá]|ciao)\W+)?(?:"
    r"(?:i|we)\s+(?:just\s+|already\s+|recently\s+|finally\s+)?(?:(?:have|'ve|had)\s+)?"
    r"(?:\w+ed|bought|paid|sent|made|took|gave|put|set|reset|went|came|got|did|moved|upgraded)\b"
    r"(?!\s+to\b)"  # "I have got to / I wanted to ...": a need, told as one
    r"|(?:yo\s+)?(?:he\s+\w+(?:ado|ido)|\w{3,}(?:é|í))\b"
    r"|(?:j'ai|nous avons)\s+(?!besoin|un\b|une\b|des\b|plus\b|pas\b)"
    r"|(?:ich|wir)\s+(?:habe|hab|haben)\s+(?!(?:ein|eine|einen|keine?n?|zwei|kein)\b)"
    r"|(?:eu\s+)?\w{3,}ei\b|(?:eu\s+)?(?:devolvi|pedi|recebi|fiz|comprei)\b"
    r"|(?:io\s+)?(?:ho|abbiamo)\s+\w+(?:ato|ito|uto)\b"
    r")",
    re.IGNORECASE,
)
# ...and background it stays only if it tells of no trouble: a negation, a failure, a wrong
# or double charge, something forgotten make the part a problem of its own.
_TROUBLE = re.compile(
    r"n't|\b(not|no|never|nothing|can ?not|fail\w*|error\w*|mistake\w*|wrong|twice|double\w*"
    r"|declin\w*"
    r"|lock\w*|crash\w*|broke\w*|missing|lost|charg\w*|bill(ed|ing)|overcharg\w*|stopped"
    r"|forg[eo]t\w*|hack\w*|nunca|nada|fall\w*|dos veces|doble|rechaz\w*|cobr\w*|olvid\w*"
    r"|bloque\w*|ne|pas|jamais|rien|erreur|[ée]chou\w*|deux fois|refus\w*|bloqu\w*|pr[ée]lev\w*"
    r"|factur\w*|oubli\w*|nicht|kein\w*|nie|fehler\w*|falsch|zweimal|doppelt|abgelehnt"
    r"|gesperrt|abgebucht|berechnet|vergessen|n[aã]o|erro|falh\w*|duas vezes|recus\w*|non|mai"
    r"|errore|sbagliat\w*|due volte|rifiutat\w*|bloccat\w*|addebit\w*|dimenticat\w*)\b",
    re.IGNORECASE,
)


# A whole part that only greets, thanks or signs off ("Hi there.", "Thanks in advance!",
# "Un saludo"): no ask, so it is neither a part of its own nor a reason not to split.
_PLEASANTRY = re.compile(
    r"^\W*(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|greetings|dear \w+"
    r"|hola|buen(?:os|as) (?:d[ií]as|tardes|noches)|bonjour|bonsoir|salut|hallo|guten"
    r" (?:tag|morgen|abend)|ol[aá]|oi|bom dia|boa (?:tarde|noite)|ciao|buongiorno|buonasera|salve)"
    r"(?: there| all| team| everyone)?"
    r"|(?:many |thanks?|thank you|thx|ty|cheers|regards|kind regards|best(?: regards)?|bye"
    r"|gracias|saludos|un saludo|merci|cordialement|danke|vielen dank|viele gr[üu][ßs]e|gr[üu][ßs]e"
    r"|mfg|obrigad[oa]|valeu|abra[çc]os|grazie|saluti|cordiali saluti)"
    r"(?: (?:so|very) much| a lot| again| in advance| for (?:your|the|any) help| for helping"
    r"| de antemano| por (?:tu|su) ayuda| beaucoup| d'avance| pour votre aide| sch[öo]n"
    r"| im voraus| f[üu]r (?:ihre|deine) hilfe| mille| in anticipo| per l'aiuto| pela ajuda)*"
    r")\W*$",
    re.IGNORECASE,
)


def is_pleasantry(part: str) -> bool:
    """True for a part that only greets, thanks or signs off (six languages)."""
    return bool(_PLEASANTRY.match(part))


def is_background(part: str) -> bool:
    """True for a part that only tells what the customer did ("I updated the app"): the
    setting of the part after it ("... and my payment method is gone"), not an ask."""
    return bool(_DID.search(part)) and not _TROUBLE.search(part) and not _OWN_ASK.search(part)


def announces_another_ask(join: str) -> bool:
    """True when the words joining two parts announce a second ask ("and also", ". Außerdem",
    "Autre chose :"): the customer says there are two things, so each part needs less
    certainty of its own to be split off."""
    return bool(_ANOTHER_ASK.search(join))


def is_own_ask(part: str) -> bool:
    """True when a part asks something itself (a question, "please send...", "quiero..."):
    beside a request for a person it is a second ask, not the reason for wanting one."""
    return bool(_OWN_ASK.search(part))


def is_request(part: str) -> bool:
    """True for a question ("?") or a request verb ("tell me", "dimmi"): stricter than
    `is_own_ask`, which also takes a part that merely opens with "when" or "how"."""
    return bool(_REQUEST.search(part))


def is_remedy(part: str) -> bool:
    """True for a part that asks for money back ("I want a refund", "devuélvanme el dinero")."""
    return bool(_REMEDY.search(part)) and not _REMEDY_STATUS.search(part)


def is_remedy_of(context: str, join: str, remedy: str) -> bool:
    """True when `context`, said before `remedy`, is its cause and not an ask of its own.

    "the blender arrived cracked and I want a refund": the cracked blender is why the
    customer wants the refund, one ask for the refund specialist. It is a second ask when
    the context asks something itself (a question, "please send...") or the remedy is
    announced as another one ("and ALSO I need a refund", ". Separately, ...").
    """
    return (
        is_remedy(remedy)
        and not _OWN_ASK.search(context)
        and not _ANOTHER_ASK.search(join)
        and not _ANOTHER_ASK.search(remedy)
    )


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
