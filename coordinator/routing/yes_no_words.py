"""The words of yes and no in six languages (en, es, fr, de, pt, it), as data.

`coordinator.routing.yes_no` reads a confirmation as a yes only when *every* word of the message is
one of these, in one language at a time, with at least one word that says yes:

* `core` - a yes on its own ("yes", "sounds good", "vale", "d'accord", "passt", "pode ser",
  "va bene", and the go-ahead imperatives: "do it", "hazlo", "allez-y", "mach", "procedi");
* `polite` - a yes only when nothing but courtesy surrounds it ("please", "bitte");
* `courtesy` - never a yes, allowed beside one ("thanks", "gracias", "now", "and");
* `restate` - the action restated beside a yes ("the refund", "order", "reembólsalo").
  Order numbers (3-7 digits) restate too; the gate checks them against the proposal.

A word not listed makes the message not a yes, so the lists are also the line between a
yes and a hedge: "quizás", "if", "aber", "se", "whatever" are deliberately absent, and so
are replies that as often mean "no need": "I'm good", "all good", "ça va", "passt schon",
"va bene così", "tudo bem", bare "good" / "bien" / "gut" / "bene" / "bom".

The cue lists say *why* a message is not a yes (negation, retraction, condition, hedge,
sarcasm, question) and whether it declines. No cue word may be a single-word entry of the
lists above, and a multi-word entry may contain one only if it is listed in
`SAFE_WITH_CUES` ("no problem", "pas de souci", "aber gerne"): tests check both.

Entries are written as people type them (accents, apostrophes, hyphens); they are
normalised the same way as the message when the module loads.
"""

from __future__ import annotations

__all__ = [
    "CANCEL_VERBS", "CUES", "DISMISSIVE", "HOMOGRAPHS", "LANGUAGES", "OPENERS",
    "SAFE_WITH_CUES", "UNIVERSAL", "WORDS",
]

LANGUAGES = ("en", "es", "fr", "de", "pt", "it")

# Read in every language: "ok" is a yes everywhere.
UNIVERSAL: dict[str, tuple[str, ...]] = {
    "core": ("ok", "okay", "okey", "okie", "oki", "okidoki", "okido", "o k", "k", "kk", "okk"),
    "polite": (),
    "courtesy": (),
    "restate": (),
}

WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "core": (
            "yes", "yess", "yesss", "yeah", "yea", "yeh", "yep", "yup", "y", "yes sir",
            "yessir", "yes ma'am", "sure", "sure thing", "of course", "ofc", "absolutely",
            "definitely", "certainly", "indeed", "correct", "that's correct",
            "that is correct", "that's right", "that is right", "exactly", "precisely",
            "affirmative", "agreed", "i agree", "deal", "confirm", "confirmed", "i confirm",
            "go", "go ahead", "go on", "go for it", "do it", "do that", "do so", "please do",
            "proceed", "sounds good", "sounds great", "sounds perfect", "sounds fine",
            "sounds like a plan", "that works", "works", "works for me", "fine",
            "that's fine", "that is fine", "fine by me", "fine with me", "very good", "great",
            "perfect", "excellent", "awesome", "cool", "lovely",
            "brilliant", "wonderful", "by all means", "you bet", "let's do it",
            "lets do it", "let's go", "lets go", "i accept", "accepted", "approved",
            "i approve", "alright", "all right", "aight", "make it so", "no problem",
            "no problem at all",
            "no worries", "i do", "super", "top",
        ),
        "polite": ("please", "pls", "plz", "pleaseee"),
        "courtesy": (
            "thanks", "thank you", "thanks a lot", "thank you very much", "many thanks",
            "thx", "ty", "cheers", "then", "now", "right now", "right away", "asap",
            "straight away", "immediately", "and", "that sounds", "to me", "very much",
        ),
        "restate": (
            "refund", "refunds", "refund me", "it", "that", "this", "one", "the", "my", "a",
            "with", "for", "on", "order", "money", "back", "charge", "duplicate",
            "subscription", "plan", "membership", "payment", "purchase", "invoice", "inv",
            "process", "issue", "i want", "i'd like", "i would like", "full", "in full",
        ),
    },
    "es": {
        "core": (
            "sí", "sí sí", "sip", "sii", "claro", "claro que sí", "pues claro", "vale", "va",
            "dale", "venga", "de acuerdo", "deacuerdo", "adelante", "hazlo", "hágalo",
            "háganlo", "procede", "proceda", "prosigue", "prosiga", "sigue", "siga",
            "confirmo", "confirmado", "lo confirmo", "por supuesto", "desde luego",
            "correcto", "es correcto", "exacto", "exactamente", "está bien", "muy bien",
            "perfecto", "genial", "estupendo", "excelente", "fenomenal", "listo",
            "me parece bien", "me parece perfecto", "me parece genial", "suena bien",
            "suena genial", "suena perfecto", "de una", "sale", "órale", "afirmativo",
            "con gusto", "encantado", "sin problema", "sin problemas", "ningún problema",
            "sí señor", "sí señora", "obvio", "eso es", "así es", "acepto", "hecho",
            "seguro", "va que va", "okis", "super", "súper",
        ),
        "polite": ("por favor", "porfa", "porfavor", "por fa"),
        "courtesy": (
            "gracias", "muchas gracias", "mil gracias", "ahora", "ahora mismo", "entonces",
            "pues", "bueno", "y", "muy amable",
        ),
        "restate": (
            "reembolsa", "reembólsalo", "reembólsamelo", "reembólsame", "reembolsar",
            "reembolso", "haz", "el", "la", "lo", "mi", "del", "con", "pedido", "quiero",
            "devolución", "dinero", "suscripción", "plan", "cargo", "duplicado", "factura",
            "completo", "total",
        ),
    },
    "fr": {
        "core": (
            "oui", "oui oui", "ouais", "ouaip", "ouep", "ouip", "si", "d'accord", "dac",
            "dacc", "daccord", "d'acc", "bien sûr", "évidemment", "allez-y", "allez",
            "vas-y", "va-y", "go", "parfait", "très bien", "c'est bon", "c'est ok",
            "c'est d'accord", "c'est parfait", "ça marche", "ça me va", "entendu",
            "bien entendu", "volontiers", "absolument", "tout à fait", "exactement",
            "je confirme", "confirmé", "faites-le", "faites", "fais-le", "fais",
            "procédez", "procède", "allons-y", "c'est parti", "carrément", "impeccable",
            "nickel", "génial", "super", "pas de problème", "pas de souci", "pas de soucis",
            "sans problème", "avec plaisir", "j'accepte", "certainement", "ok pour moi",
            "top", "excellent",
        ),
        "polite": (
            "s'il vous plaît", "s'il te plaît", "svp", "stp", "sil vous plait",
            "sil te plait", "s'il vous plait", "s'il te plait",
        ),
        "courtesy": ("merci", "merci beaucoup", "alors", "maintenant", "donc", "et"),
        "restate": (
            "rembourse", "remboursez", "remboursez-moi", "rembourse-moi", "remboursement",
            "au", "le", "la", "les", "l'", "moi", "ça", "cela", "de", "commande", "ma",
            "mon", "abonnement", "facture", "prélèvement", "intégralement",
        ),
    },
    "de": {
        "core": (
            "ja", "jo", "jap", "jep", "jup", "jawohl", "jawoll", "klar", "na klar",
            "klar doch", "gerne", "gern", "gerne doch", "aber gerne", "aber sicher",
            "sicher", "sicher doch", "natürlich", "selbstverständlich", "passt", "passt so",
            "das passt", "in ordnung", "alles klar", "geht klar",
            "geht in ordnung", "genau", "genau so", "richtig", "stimmt", "einverstanden",
            "mach", "mach das", "mach es", "mach mal", "mach ruhig", "mach weiter",
            "machen", "machen sie", "machen sie das", "machen sie es", "tu es", "tu das",
            "tun sie es", "tun sie das", "los", "los geht's", "leg los", "legen sie los",
            "nur zu", "bestätigt", "ich bestätige", "bestätige", "perfekt", "super",
            "prima", "toll", "sehr gut", "klingt gut", "hört sich gut an",
            "auf jeden fall", "unbedingt", "absolut", "freilich", "kein problem",
            "ich stimme zu", "ich akzeptiere", "akzeptiert", "weiter", "top", "spitze",
        ),
        "polite": ("bitte", "bitte schön", "bitte sehr", "bitteschön"),
        "courtesy": (
            "danke", "danke schön", "dankeschön", "danke sehr", "vielen dank", "dann",
            "jetzt", "sofort", "und",
        ),
        "restate": (
            "erstatten", "erstatte", "erstatten sie", "erstattung", "rückerstattung",
            "zurückerstatten", "bestellung", "die", "das", "den", "der", "es", "mein",
            "meine", "geld", "abo", "abonnement", "vertrag", "durchführen", "rechnung",
            "komplett",
        ),
    },
    "pt": {
        "core": (
            "sim", "sim sim", "claro", "claro que sim", "pode", "pode ser", "pode sim",
            "pode fazer", "pode seguir", "pode continuar", "pode prosseguir", "pode ir",
            "pode mandar", "faça", "faça isso", "faz", "faz isso", "faz aí", "vai",
            "vai lá", "vai em frente", "siga", "siga em frente", "segue", "prossiga",
            "manda ver", "bora", "bora lá", "beleza", "blz", "tá", "tá bom", "tá bem",
            "tá certo", "tá ótimo", "está bem", "está bom", "está certo", "está ótimo",
            "certo", "com certeza", "perfeito", "ótimo", "combinado", "de acordo",
            "concordo", "confirmo", "confirmado", "isso", "isso mesmo", "isso aí", "exato",
            "exatamente", "show", "fechado", "positivo", "sem problema", "sem problemas",
            "demorou", "aceito", "muito bem", "excelente", "certeza", "super",
        ),
        "polite": ("por favor", "pf", "pfv", "por gentileza"),
        "courtesy": (
            "obrigado", "obrigada", "muito obrigado", "muito obrigada", "valeu", "agora",
            "então", "e",
        ),
        "restate": (
            "reembolsar", "reembolsa", "reembolse", "reembolso", "o", "a", "meu", "minha",
            "pedido", "do", "da", "dinheiro", "quero", "eu quero", "assinatura", "plano",
            "cobrança", "fatura", "total", "integral",
        ),
    },
    "it": {
        "core": (
            "sì", "sì sì", "certo", "certamente", "certo che sì", "va bene", "va benissimo",
            "d'accordo", "daccordo", "perfetto", "procedi", "proceda",
            "procedete", "prosegui", "prosegua", "vai", "vada", "fallo", "fai", "faccia",
            "fate", "confermo", "confermato", "esatto", "esattamente", "giusto",
            "benissimo", "molto bene", "ottimo", "assolutamente",
            "assolutamente sì", "senz'altro", "senza dubbio", "volentieri",
            "nessun problema", "sicuro", "sicuramente", "andiamo", "avanti", "mi va bene",
            "mi sta bene", "accetto", "ci sta", "affermativo", "eccellente", "super", "top",
            "rimborsa pure", "rimborsalo pure", "rimborsami pure",
        ),
        "polite": ("per favore", "per piacere", "per cortesia"),
        "courtesy": ("grazie", "grazie mille", "pure", "allora", "ora", "adesso", "subito", "e"),
        "restate": (
            "rimborsa", "rimborsami", "rimborsalo", "rimborsare", "rimborso", "il", "lo",
            "la", "l'", "mio", "ordine", "abbonamento", "soldi", "addebito", "fattura",
            "completo",
        ),
    },
}

# The verbs of cancelling, which restate a proposed cancellation ("yes, cancel it",
# "sí, cancélala") and are retractions anywhere else ("cancel that").
CANCEL_VERBS = (
    "cancel", "cancelled", "canceled", "cancellation", "cancela", "cancélala", "cancélalo",
    "cancelar", "cancelarla", "cancele", "cancelo", "annule", "annulez", "annuler", "annulé",
    "résilie", "résiliez", "résilier", "kündigen", "kündige", "kündigung", "stornieren",
    "storniere", "annulla", "annullala", "annullare", "annullalo", "disdici", "disdire",
    "disdetta", "cancella",
)

# Multi-word entries above that contain a cue word and still mean yes.
SAFE_WITH_CUES = (
    "no problem", "no problem at all", "no worries", "pas de problème", "pas de souci",
    "pas de soucis", "kein problem", "aber gerne", "aber sicher", "yes ma'am", "ningún problema",
    "desde luego",
)

# Yes words that, doubled, brush the question off ("yeah, yeah", German "ja ja"): not a
# yes even though every word is one. ("yes yes", "oui oui", "sì sì" stay emphatic yeses.)
DISMISSIVE = (
    "yeah yeah", "sure sure", "ouais ouais", "ja ja", "jaja", "klar klar", "claro claro",
    "jaja sí",
)

# Words that are a yes in one language and a cue in another: each language is read on its
# own, so German "prima" (great) is not Italian "prima" (first), nor French "ma" (my)
# Italian "ma" (but).
HOMOGRAPHS = ("ma", "prima")

# How an answer to a yes/no question opens ("yes, but...", "no, ...", "vale...", "nein"):
# a short message that starts so answers the specialist that asked, whatever follows.
OPENERS = (
    "yes", "yeah", "yep", "yup", "yea", "sure", "ok", "okay", "okey", "alright",
    "absolutely", "definitely", "certainly", "affirmative", "agreed", "confirm", "fine",
    "no", "nope", "nah", "never",
    "sí", "claro", "vale", "dale", "venga", "de acuerdo", "bueno", "nunca",
    "oui", "ouais", "d'accord", "non", "jamais",
    "ja", "jo", "jap", "jawohl", "klar", "gerne", "genau", "passt", "in ordnung", "nein",
    "nö", "nee",
    "sim", "certo", "pode", "pode ser", "beleza", "tá", "tá bom", "não",
    "sì", "va bene", "d'accordo", "mai",
)

# Why a message is not a yes. The first kind found names it (this order); "negation" and
# "retraction" also make a short reply a refusal (`is_refusal`).
CUES: dict[str, tuple[str, ...]] = {
    "retraction": (
        # en
        "wait", "hold on", "hold off", "hang on", "hold it", "stop", "cancel", "actually",
        "never mind", "nevermind", "nvm", "forget it", "scratch that", "changed my mind",
        "change my mind", "kidding", "just kidding", "jk", "joking", "on second thought",
        "undo", "abort",
        # es
        "espera", "espere", "esperen", "espérame", "un momento", "momento", "mejor no",
        "pensándolo bien", "olvídalo", "olvida", "broma", "bromeaba", "cancela",
        "cancélalo", "para", "alto", "detente", "ahora que lo pienso", "en realidad",
        # fr
        "attends", "attendez", "un instant", "une minute", "en fait", "finalement",
        "laisse tomber", "laissez tomber", "oublie", "oubliez", "je plaisante",
        "je rigole", "je blague", "une blague", "annule", "annulez", "arrête", "arrêtez",
        "tout compte fait", "enfin non",
        # de
        "warte", "warten", "wartet", "moment mal", "augenblick", "halt", "stopp",
        "doch nicht", "vergiss es", "vergessen sie es", "spaß", "witz", "scherz",
        "abbrechen", "lass es", "lassen sie es", "eigentlich", "ach nein", "lieber nicht",
        # pt
        "aguarde", "aguenta", "calma", "peraí", "pera", "na verdade", "melhor não",
        "deixa", "deixa pra lá", "esquece", "esqueça", "brincadeira", "brincando",
        "pare", "pensando bem",
        # it
        "aspetta", "aspetti", "aspettate", "un attimo", "attimo", "anzi", "lascia stare",
        "lascia perdere", "lasci stare", "scherzo", "scherzavo", "scherzando", "annulla",
        "ferma", "fermati", "fermo", "ripensandoci", "in realtà",
    ),
    "negation": (
        # en
        "no", "not", "nope", "nah", "nay", "never", "dont", "don't", "do not", "n",
        "negative", "no way", "none", "later", "tomorrow", "not now", "first", "tonight",
        "next week",
        # es
        "nunca", "jamás", "tampoco", "ni", "nada", "ni hablar", "de ninguna manera",
        "nop", "luego", "después", "mañana", "más tarde", "antes", "primero",
        # fr
        "non", "pas", "ne", "jamais", "nan", "aucun", "aucune", "rien",
        "hors de question", "pas question", "surtout pas", "plus tard", "demain",
        "après", "d'abord", "avant",
        # de
        "nein", "nicht", "kein", "keine", "keinen", "keinesfalls", "nie", "niemals",
        "nee", "nö", "auf keinen fall", "auf gar keinen fall", "später", "morgen", "erst",
        "zuerst", "nachher",
        # pt
        "não", "nao", "nem", "nenhum", "de jeito nenhum", "nem pensar", "depois",
        "amanhã", "mais tarde", "primeiro",
        # it
        "mai", "niente", "nulla", "per niente", "neanche", "nemmeno", "macché", "dopo",
        "domani", "più tardi", "prima",
    ),
    "condition": (
        # en
        "if", "only if", "unless", "provided", "providing", "as long as", "so long as",
        "assuming", "in case", "when", "depends", "it depends", "depending",
        # es ("si" alone is a yes: only its conditional uses)
        "si es", "si no", "si puedes", "si se", "si hay", "si me", "si lo", "si tu",
        "si usted", "solo si", "sólo si", "siempre que", "siempre y cuando", "a menos que",
        "con tal", "mientras", "en caso", "depende",
        # fr
        "si c'est", "si vous", "si tu", "si ça", "si possible", "seulement si",
        "sauf", "à condition", "à moins", "pourvu que", "tant que", "du moment que",
        "au cas où", "ça dépend", "selon",
        # de
        "wenn", "wenn's", "nur wenn", "falls", "sofern", "außer", "vorausgesetzt", "solange",
        "je nachdem", "kommt drauf an",
        # pt
        "se", "caso", "desde que", "contanto que", "a não ser", "só se",
        # it
        "purché", "a patto", "solo se", "tranne", "a meno", "sempre che", "salvo",
        "dipende", "nel caso",
    ),
    "sarcasm": (
        "yeah right", "as if", "oh sure", "oh great", "lol", "lmao", "rofl", "haha",
        "hahaha", "like that", "pigs fly", "jaja", "jajaja", "mdr", "ptdr", "ben voyons",
        "na toll", "kkk", "kkkk", "rsrs", "ah tá", "aham", "ahah", "ahahah", "come no",
        "cómo no", "ya claro", "sí claro y",
    ),
    "question": (
        "how", "why", "what", "which", "where", "who", "how long", "cuándo", "cuánto",
        "cómo", "por qué", "quand", "combien", "comment", "pourquoi", "quoi",
        "wann", "wie", "warum", "wo", "was", "quando", "quanto", "como", "porquê",
        "perché", "cosa", "really", "sure about",
    ),
    "hedge": (
        # en
        "maybe", "perhaps", "probably", "possibly", "guess", "i guess", "suppose",
        "i suppose", "think", "i think", "kinda", "kind of", "sort of", "sorta",
        "whatever", "up to you", "if you say so", "dunno", "not sure", "unsure", "hmm",
        "hm", "um", "umm", "uh", "er", "erm", "meh", "rather", "let me", "idk", "believe",
        "likely", "but", "however", "though", "although", "except",
        # es
        "quizás", "quizá", "tal vez", "a lo mejor", "igual", "supongo", "creo", "no sé",
        "no estoy seguro", "como quieras", "lo que quieras", "lo que tú digas",
        "lo que digas", "puede ser", "puede que", "eh", "ehh", "mmm", "ni idea",
        "pero", "aunque", "sin embargo",
        # fr
        "peut-être", "p-e", "ptet", "je suppose", "je crois", "je pense", "sans doute",
        "probablement", "bof", "euh", "heu", "hum", "comme tu veux", "comme vous voulez",
        "je ne sais pas", "je sais pas", "chais pas", "mouais", "mais", "cependant",
        "pourtant",
        # de
        "vielleicht", "eventuell", "evtl", "wohl", "glaube", "glaub", "denke",
        "wahrscheinlich", "vermutlich", "keine ahnung", "weiß nicht", "egal",
        "wie sie meinen", "wie du willst", "wie sie wollen", "naja", "na ja", "ähm",
        "mal sehen", "mal schauen", "meinetwegen", "aber", "jedoch", "sondern",
        "allerdings",
        # pt
        "talvez", "acho", "acho que", "sei lá", "quem sabe", "tanto faz", "não sei",
        "não tenho certeza", "como quiser", "pode ser que", "humm", "ahn",
        "provavelmente", "possivelmente", "mas", "porém", "contudo", "entretanto",
        # it
        "forse", "magari", "credo", "penso", "boh", "mah", "non so", "non sono sicuro",
        "come vuoi", "come preferisci", "fai tu", "fate voi", "può darsi",
        "probabilmente", "immagino", "ehm", "vabbè", "vabbé", "va be", "insomma", "ma",
        "però", "tuttavia", "comunque",
    ),
}
