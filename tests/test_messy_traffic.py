"""Messy support traffic (issue 18): one ask with a second clause stays one ask, two asks
split, typos and "call me back" in six languages reach the right route.

Through the pure turn planner (`RoutingCascade.plan`), the CLI (`coordinator ask`) and
`adk api_server` over HTTP, plus the benchmark's tables. The phrasings here come from the
dev table or are new: the held-out table is only scored (`coordinator bench intents`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coordinator.bench import messy
from coordinator.routing import cascade as cascade_module
from coordinator.routing import intents
from coordinator.routing.cascade import (
    ANNOUNCED_PART_CONFIDENCE,
    SPLIT_PART_CONFIDENCE,
    RoutingCascade,
)
from coordinator.routing.routes import load_routes
from coordinator.routing.spelling import Speller
from tests._servers import run_adk_server, server_env

ROUTES = load_routes()

# A problem and the remedy the customer wants: one ask, for the remedy's route.
CAUSE_AND_REMEDY = {
    "en": "the kettle I ordered stopped working and I'd like my money back",
    "es": "el teclado vino defectuoso así que quiero mi dinero",
    "fr": "le colis est arrivé cassé, je veux être remboursé",
    "de": "der Lautsprecher, den ich gekauft habe, geht nicht mehr und ich will eine Erstattung",
    "pt": "a caixa de som que comprei parou de funcionar e quero reembolso",
    "it": "la cassa che ho comprato non funziona più e voglio un rimborso",
}
TWO_ASKS = [
    ("what do I owe this month and also the app won't open", ["billing", "technical_support"]),
    ("refund order 1006 please. Also my login keeps failing", ["refund", "technical_support"]),
    ("the app won't open and I also want a refund for order 1002", ["technical_support", "refund"]),
    (
        "quiero el reembolso del pedido 1006. Además no puedo iniciar sesión",
        ["refund", "technical_support"],
    ),
    (
        "ma carte a été refusée et je veux aussi changer mon mot de passe",
        ["billing", "technical_support"],
    ),
]
TYPOS = {
    "en": ("where is my invioce", "billing"),
    "es": ("la factrua tiene un error", "billing"),
    "fr": ("la facure a une erreur", "billing"),
    "de": ("die Rechnng ist falsch", "billing"),
    "pt": ("a fautra está errada", "billing"),
    "it": ("voglio il rimbroso dell'acquisto", "refund"),
}
CALL_ME_BACK = {
    "en": "can you ring me back",
    "es": "que me llame alguien",
    "fr": "qu'on me rappelle svp",
    "de": "kann mich bitte jemand zurückrufen",
    "pt": "alguém me liga?",
    "it": "mi può richiamare qualcuno?",
}


@pytest.fixture(scope="module")
def cascade() -> RoutingCascade:
    """The support app's own cascade: the shipped router model (outlier exposure) and
    clarify margin, as `coordinator bench intents` scores it."""
    from coordinator.bench.intents import _product_cascade

    return _product_cascade()[1]


# --- the planner (pure) ---------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(CAUSE_AND_REMEDY))
def test_a_problem_and_its_remedy_is_one_ask_for_the_remedy(cascade, lang):
    plan = cascade.plan(CAUSE_AND_REMEDY[lang])
    assert plan.parts == [] and plan.question is None
    assert plan.decision.route == "refund" and plan.decision.confident


def test_the_problem_alone_goes_elsewhere_so_the_remedy_decides(cascade):
    # Without the rule the first part would be technical support's: the remedy picks refund.
    assert cascade.plan("the app won't open").decision.route == "technical_support"
    assert cascade.plan("the app won't open and I want my money back").decision.route == "refund"


@pytest.mark.parametrize(("text", "routes"), TWO_ASKS)
def test_two_independent_asks_still_split(cascade, text, routes):
    plan = cascade.plan(text)
    assert plan.decision.method == "multi"
    assert [d.route for _, d in plan.parts] == routes


@pytest.mark.parametrize("lang", sorted(TYPOS))
def test_typos_of_route_words_route_right(cascade, lang):
    text, route = TYPOS[lang]
    plan = cascade.plan(text)
    assert plan.decision.route == route and plan.parts == []


@pytest.mark.parametrize("lang", sorted(CALL_ME_BACK))
def test_call_me_back_escalates_in_six_languages(cascade, lang):
    plan = cascade.plan(CALL_ME_BACK[lang])
    assert plan.decision.route == "escalation"
    assert plan.escalation == "requested" and plan.explicit  # the user's own request


@pytest.mark.parametrize(
    "text",
    [
        "I'd prefer to be phoned about the duplicate charge",
        "my card was charged twice, I want a call back from your billing team",
        "il rimborso tarda, vorrei che mi richiamaste stasera",
        "Quiero que alguien me llame hoy, por favor",
    ],
)
def test_wanting_to_be_called_is_a_callback(cascade, text):
    assert intents.asks_for_person(text)
    assert cascade.plan(text).decision.route == "escalation"


@pytest.mark.parametrize(
    "text",
    [
        "the new plan will be called Family Plus",
        "I'd like to be called Alex in your emails",  # a name, not a call
        "I prefer to be called by my first name",
        "I asked your manager to contact me last week, where is my refund?",  # a report
        "I get a call from your team every week about upgrades",
        "mi chiamano spesso dal vostro numero",
        "I called you yesterday about my invoice",
        "don't call me, just email the invoice",
        "je m'appelle Marie et ma facture est fausse",
        "me llamo Juan y quiero mi factura",
        "mi chiamo Marco, vorrei la fattura",
        "wie rufe ich meine Rechnung ab",
    ],
)
def test_calls_and_names_that_ask_for_no_call_do_not_escalate(text):
    assert not intents.asks_for_person(text)


# --- the text functions ----------------------------------------------------------------------


def test_clauses_keep_the_words_that_joined_them():
    assert intents.split_clauses("it broke after two days, so I want my money back") == [
        ("", "it broke after two days"),
        (", so", "I want my money back"),
    ]
    # French "ne marche plus" is "no longer works": "plus" joins only after a comma.
    assert len(intents.split_parts("l'enceinte ne marche plus et je veux un remboursement")) == 2
    assert intents.split_parts("the site is slow, plus my card was declined")[1] == (
        "my card was declined"
    )


def test_a_cause_with_an_ask_of_its_own_is_not_a_cause():
    assert intents.is_remedy_of("the lamp broke", "and", "I want a refund")
    assert not intents.is_remedy_of("why was I charged twice?", "and", "I want a refund")
    assert not intents.is_remedy_of("the lamp broke", "and also", "I want a refund")
    assert not intents.is_remedy_of("the lamp broke", "and", "how long do refunds take")


def test_words_that_announce_a_part_are_not_routed_with_it():
    assert intents.split_joined("l'appli plante. Autre chose : il me faut ma facture") == [
        ("", "l'appli plante"),
        (". Autre chose :", "il me faut ma facture"),
    ]
    assert intents.split_parts("¿cuánto debo? y también la app no abre")[1] == "la app no abre"
    # ", además" / "ma anche" join as ", also" / "but also" do; a mid-sentence "también" doesn't.
    assert len(intents.split_parts("necesito la factura, además la app no abre")) == 2
    assert len(intents.split_parts("voglio il rimborso ma anche cambiare la password")) == 2
    assert intents.split_parts("la nueva también falla") == ["la nueva también falla"]
    # List items and "&" part asks; a list's numbers are no part of their own.
    for listed in (
        "1) refund order 1002 2) my password reset link is broken",
        "1. refund order 1002\n2. my password reset link is broken",
        "- refund order 1002\n- my password reset link is broken",
        "refund order 1002 & my password reset link is broken",
    ):
        assert intents.split_parts(listed) == [
            "refund order 1002",
            "my password reset link is broken",
        ], listed
    # A word that only looks like a join stays: "e-mail" is no Italian "e".
    assert intents.split_parts("e-mail wrong, please fix it") == ["e-mail wrong, please fix it"]


@pytest.mark.parametrize(
    "text",
    [
        "the site logs me out and then asks me to sign in again",
        "ho installato l'aggiornamento e ora l'app non ricorda il login",
        "instalé la actualización y ahora la app no guarda mi sesión",
    ],
)
def test_a_story_told_on_with_then_or_now_is_one_part(text):
    assert intents.split_parts(text) == [text]


def test_what_the_customer_did_is_background_unless_it_tells_of_trouble():
    for text in (
        "I updated the app",
        "actualicé la app",
        "j'ai mis à jour l'appli",
        "ich habe die App aktualisiert",
        "atualizei o app",
        "ho aggiornato l'app",
    ):
        assert intents.is_background(text), text
    for text in (
        "I was charged twice",
        "I forgot my password",
        "I want a refund",
        "I updated my card but it was declined",
        "the app won't open",
        "ich habe mein Passwort vergessen",
        "j'ai besoin de ma facture",
    ):
        assert not intents.is_background(text), text


@pytest.mark.parametrize(
    "text",
    [
        "I updated the app and my payment method is gone",
        "I signed up last week and was already charged twice",
        "atualizei o app e minha forma de pagamento sumiu",
    ],
)
def test_background_and_the_problem_it_explains_are_one_ask(cascade, text):
    assert cascade.plan(text).parts == []


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        (
            "refund order 1002. Also my login keeps failing. Thanks!",
            ["refund", "technical_support"],
        ),
        (
            "Hallo. Ich brauche meine Rechnung und außerdem stürzt die App ab. Danke",
            ["billing", "technical_support"],
        ),
        ("I want a refund for order 1002. Thanks for your help!", []),
        ("the app won't open and I want my money back. Cheers", []),  # cause + remedy still
    ],
)
def test_greetings_and_thanks_are_no_part(cascade, text, routes):
    assert intents.is_pleasantry("Thanks in advance!") and intents.is_pleasantry("Un saludo")
    assert not intents.is_pleasantry("thanks, but my invoice is wrong")
    got = [d.route for _, d in cascade.plan(text).parts]
    assert got == routes


def test_an_announced_second_ask_splits_on_less_sure_parts(cascade, monkeypatch):
    # "brauche ich den Beleg für das Sofa" alone is billing, sure enough for an announced part
    # (measured about 0.5; retraining moves it, so the split bar is set just above it here)...
    part = cascade.decide("brauche ich den Beleg für das Sofa")
    assert part.route == "billing" and part.confidence >= ANNOUNCED_PART_CONFIDENCE
    bar = max(SPLIT_PART_CONFIDENCE, part.confidence + 0.01)
    monkeypatch.setattr(cascade_module, "SPLIT_PART_CONFIDENCE", bar)
    # ...but not sure enough to split a message that does not say it holds two asks...
    bare = cascade.plan("die App schließt sich sofort. brauche ich den Beleg für das Sofa")
    assert bare.parts == []
    # ..."Außerdem" says there are two asks, and then it is enough.
    told = "die App schließt sich sofort. Außerdem brauche ich den Beleg für das Sofa"
    assert [d.route for _, d in cascade.plan(told).parts] == ["technical_support", "billing"]
    # Background followed by an announced ask is an ask of its own after all.
    plan = cascade.plan("I updated my card and also my password won't reset")
    assert [d.route for _, d in plan.parts] == ["billing", "technical_support"]


@pytest.mark.parametrize(
    ("text", "routes"),
    [
        # "Two things:" up front: the crash is not why the refund is wanted.
        (
            "Two things: the Android app won't open, and I still haven't received my refund",
            ["technical_support", "refund"],
        ),
        (
            "Dos cosas: la web me da error al subir documentos y todavía no me llega el reembolso",
            ["technical_support", "refund"],
        ),
        # An announced off-topic question beside a real ask: the catch-all answers it.
        (
            "How do I turn off notifications in the app? Also what's the weather like in Oslo?",
            ["technical_support", "general"],
        ),
        (
            "La app se cierra al abrirla. Y otra cosa, ¿me recomiendas una novela policiaca?",
            ["technical_support", "general"],
        ),
        # ...first as well as later, and after "and," + a topic change
        (
            "Do you know a good lasagne recipe? Also, I need a copy of my March invoice",
            ["general", "billing"],
        ),
        (
            "O aplicativo não abre no meu tablet. E, mudando de assunto, quem ganhou a Copa de "
            "2002?",
            ["technical_support", "general"],
        ),
    ],
)
def test_announced_second_asks_split_even_off_topic(cascade, text, routes):
    assert [d.route for _, d in cascade.plan(text).parts] == routes


@pytest.mark.parametrize(
    "text",
    [
        "the app crashes when I open photos and also when I share them",  # a fragment
        "my invoice is missing the VAT number, can you add it and send it again",
        "I was charged twice. Also, thanks for the quick help last time!",  # courtesy
        # unannounced, a follow-up question looks off-topic to the router: never a part
        "I asked for a refund last week. When will it show up?",
    ],
)
def test_an_unroutable_fragment_is_no_off_topic_ask(cascade, text):
    assert cascade.plan(text).parts == []


def test_the_speller_corrects_only_unknown_words_near_a_route_word():
    speller = Speller(ROUTES)
    assert speller.correct("where is my invioce", "en") == "where is my invoice"
    assert speller.correct("die Rechnng ist falsch", "de") == "die rechnung ist falsch"
    # Real words of the message's language stay, however near a route word they are.
    assert speller.correct("kann mich jemand anrufen", "de") == "kann mich jemand anrufen"
    assert speller.correct("rendez-moi mon argent", "fr") == "rendez-moi mon argent"
    assert speller.word("bil", "en") == "bil"  # too short to guess


# --- the benchmark's tables -----------------------------------------------------------------


def test_the_tables_load_and_every_expected_route_exists():
    for path in messy.TABLES.values():
        rows = messy.load_table(path, set(ROUTES.names))
        assert {r.language for r in rows} == set(messy.LANGUAGES)
    heldout = messy.load_table(messy.TABLES["heldout"])
    assert sum(not r.two_asks and r.kind != "off-topic" for r in heldout) >= 200
    assert sum(r.two_asks for r in heldout) >= 80
    for name in ("heldout2", "heldout3", "heldout4", "heldout5"):
        table = messy.load_table(messy.TABLES[name])
        assert sum(r.two_asks for r in table) >= 50 and {r.kind for r in table} == set(messy.KINDS)
    # The held-out tables hold out text: no row of one appears in dev (tuned on), and the
    # others share none. (heldout3's writer, blind to them, typed two of the same
    # off-topic lines, "tell me a joke"-style: harmless between two held-out tables.)
    texts = {n: {r.text.casefold() for r in messy.load_table(p)} for n, p in messy.TABLES.items()}
    held = [n for n in texts if n != "dev"]
    assert all(not (texts["dev"] & texts[n]) for n in held)
    first = [texts[n] for n in ("heldout", "heldout2", "heldout4", "heldout5")]
    assert all(not (a & b) for i, a in enumerate(first) for b in first[i + 1 :])
    assert len(texts["heldout3"] & (texts["heldout"] | texts["heldout2"])) <= 2


def test_dev_table_scores(cascade):
    scored = messy.score(cascade, messy.load_table(messy.TABLES["dev"]))
    assert scored["single_accuracy"] >= 0.95
    assert scored["false_split_rate"] <= 0.02
    assert scored["two_ask_right_rate"] >= 0.85


def test_heldout_table_does_not_regress(cascade):
    # Floors under the first held-out scoring (docs/benchmarks.md), not targets: the table
    # was never tuned on, so these guard against regressions only.
    scored = messy.score(cascade, messy.load_table(messy.TABLES["heldout"]))
    assert scored["single_accuracy"] >= 0.92
    assert scored["false_split_rate"] <= 0.05
    assert scored["two_ask_right_rate"] >= 0.8
    assert scored["by_kind"]["callback"] == 1.0 and scored["by_kind"]["cause-remedy"] >= 0.95


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("text,language,kind\nhi,en,typo\n", "missing column(s) expected"),
        ("text,language,expected,kind\nhi,xx,billing,typo\n", "language must be one of"),
        ("text,language,expected,kind\nhi,en,billing,weird\n", "kind must be one of"),
        ("text,language,expected,kind\nhi,en,nowhere,typo\n", "unknown route nowhere"),
        ("text,language,expected,kind\n", "no rows"),
    ],
)
def test_a_bad_table_is_one_line_and_exit_2(tmp_path, content, why):
    table = tmp_path / "t.csv"
    table.write_text(content, encoding="utf-8")
    proc = _cli("bench", "intents", "--messy-only", "--table", str(table), env=server_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and why in proc.stderr
    assert "Traceback" not in proc.stderr


# --- CLI and HTTP ------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_cli_answers_a_broken_item_refund_once_and_a_callback_with_a_ticket(tmp_path):
    env = server_env(tmp_path)
    asked = _cli("ask", CAUSE_AND_REMEDY["en"], "--user", "alice", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert reply["route"] == "refund" and reply["routes"] == ["refund"]
    assert reply["method"] != "multi" and "**Technical support**" not in reply["text"]
    called = _cli("ask", CALL_ME_BACK["es"], "--user", "alice", "--json", env=env)
    assert called.returncode == 0, called.stderr
    reply = json.loads(called.stdout)
    assert reply["route"] == "escalation" and "T-00001" in reply["text"]


def test_api_server_routes_messy_traffic_over_http(tmp_path: Path):
    with (
        run_adk_server("api_server", tmp_path, log_name="api.log") as server,
        httpx.Client(timeout=120, trust_env=False) as client,
    ):
        base = f"{server.base_url}/apps/support/users/alice/sessions"

        def run(text: str) -> list[dict]:
            sid = client.post(base, json={}).json()["id"]  # a fresh session per message
            resp = client.post(
                f"{server.base_url}/run",
                json={
                    "app_name": "support",
                    "user_id": "alice",
                    "session_id": sid,
                    "new_message": {"role": "user", "parts": [{"text": text}]},
                },
            )
            assert resp.status_code == 200, resp.text + server.log_tail()
            return resp.json()

        def authors(events: list[dict]) -> set[str]:
            return {e["author"] for e in events} - {"coordinator", "user"}

        assert authors(run(CAUSE_AND_REMEDY["de"])) == {"refund"}
        assert authors(run(TYPOS["fr"][0])) == {"billing"}
        events = run(TWO_ASKS[0][0])
        routes = [
            e["actions"]["stateDelta"]["coordinator:routes"]
            for e in events
            if "coordinator:routes" in ((e.get("actions") or {}).get("stateDelta") or {})
        ]
        assert routes == [["billing", "technical_support"]]
        assert "escalation" in authors(run(CALL_ME_BACK["it"]))
