"""Escalation to a person, clarifying instead of guessing, and multi-intent fan-out.

Through the pure turn planner (`RoutingCascade.plan`), the Python API (`Coordinator`), the
CLI (subprocess) and `adk api_server` over HTTP. Offline: the shipped routes, classifier
and local specialist policies answer from the seeded store.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from coordinator.routing import intents
from coordinator.routing.cascade import RoutingCascade
from coordinator.routing.handoff import TicketStore, parse_ticket_id
from coordinator.routing.router import build_router
from coordinator.routing.routes import load_routes
from tests._servers import run_adk_server, server_env

ROUTES = load_routes()

PERSON_REQUESTS = {
    "en": "I want to talk to a human, please",
    "es": "Quiero hablar con una persona real",
    "de": "Ich möchte mit einem Mitarbeiter sprechen",
    "fr": "Je voudrais parler à un conseiller",
    "pt": "Quero falar com um atendente",
    "it": "Vorrei parlare con un operatore",
}

# Refusals of a person or a call: a person request opens a ticket at once, so these must not.
REFUSALS = {
    "en": "please don't call me back, just email me the invoice",
    "es": "no me llamen, prefiero que me escriban por correo",
    "de": "bitte ruft mich nicht an, ich möchte keinen Rückruf",
    "fr": "ne me rappelez pas, je préfère un e-mail",
    "pt": "não me liguem, prefiro resolver por e-mail",
    "it": "non chiamatemi, preferisco la mail",
}

# One clear ask each: none of these may be split or questioned.
SINGLE_INTENT = [
    "I was charged twice for my subscription this month",
    "My app keeps crashing when I log in and I can't use it",
    "I want my money back for order 1001",
    "How do I reset my password and get back into my account?",
    "Why is there an extra charge on my card and what is it for?",
    "Can I get a refund for order 1007 and how long will it take?",
    "the app crashes and shows an error when I open settings",
    "please send me my latest invoice and the one from last month",
]


@pytest.fixture(scope="module")
def cascade() -> RoutingCascade:
    router = build_router(ROUTES, method="classifier")
    return RoutingCascade(
        router,
        ROUTES,
        agent_names=[*ROUTES.names, "multi_intent"],
        llm_available=False,
        escalation_route="escalation",
        multi_intent_agent="multi_intent",
        clarify=True,
        clarify_margin=intents.calibrated_margin(ROUTES),
    )


# --- the text checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", sorted(PERSON_REQUESTS))
def test_asking_for_a_person_is_recognised_in_six_languages(lang):
    assert intents.asks_for_person(PERSON_REQUESTS[lang])


@pytest.mark.parametrize(
    "text",
    [
        "Pásame con un encargado, por favor",
        "Passe-moi un conseiller s'il te plaît",
        "Me passa para um atendente",
        "Passami un operatore",
        "Stellen Sie mich bitte zu einem Vorgesetzten durch",
        "Can you have a supervisor call me?",
        "I'd like your manager to get back to me",
    ],
)
def test_being_handed_over_is_asking_for_a_person(text):
    assert intents.asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        *REFUSALS.values(),
        "I don't want to be called back",
        "no quiero hablar con una persona",
        "je ne veux pas parler à un humain",
        "ich will nicht mit einem Menschen sprechen",
        "não quero falar com um atendente",
        "non voglio parlare con un operatore",
    ],
)
def test_refusing_a_person_or_a_call_is_no_request_in_six_languages(text):
    assert not intents.asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "no funciona la app, quiero hablar con una persona",  # a negated problem, then the ask
        "ça ne marche pas, je veux parler à un conseiller",
        "ich möchte nicht länger warten, ich will mit einem Menschen sprechen",
        "não passa o pagamento, quero falar com um atendente",
        "il pagamento non mi passa, voglio parlare con un operatore",
        "I can't log in and I don't want to wait, get me a human",
    ],
)
def test_a_negated_problem_beside_a_person_request_is_still_one(text):
    assert intents.asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "pásame el enlace de la factura",  # "hand me" a thing, not a person
        "passez-moi le numéro de commande",
        "me passa o código de rastreio",
        "the manager told me to email you",
    ],
)
def test_handing_over_a_thing_is_not_asking_for_a_person(text):
    assert not intents.asks_for_person(text)


@pytest.mark.parametrize(
    "text",
    [
        "the agent said my refund was approved",
        "I don't want to talk to a human, just fix my invoice",
        "my payment was declined",
        "who is the manager of this account?",
    ],
)
def test_mentioning_people_is_not_asking_for_one(text):
    assert not intents.asks_for_person(text)


def test_split_keeps_a_short_piece_with_its_neighbour():
    assert intents.split_parts("I was double charged and the app also keeps crashing") == [
        "I was double charged",
        "the app also keeps crashing",
    ]
    assert intents.split_parts("cancel and refund my order") == ["cancel and refund my order"]


def test_clarifying_question_names_each_option():
    q = intents.clarifying_question(ROUTES, ["billing", "technical_support", "refund"])
    assert q.count("?") == 1
    for name in ("(billing)", "(technical support)", "(refund)"):
        assert name in q


def test_the_margin_is_chosen_on_held_out_utterances(cascade):
    # Chosen by k-fold on the routes' utterances: a small positive probability gap.
    assert 0.0 < cascade.clarify_margin < 0.9


# --- the planner (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize("text", SINGLE_INTENT)
def test_single_intent_requests_are_never_split_or_questioned(cascade, text):
    plan = cascade.plan(text)
    assert plan.parts == [] and plan.question is None
    assert plan.decision.method == "classifier"


def test_two_asks_for_two_specialists_are_split(cascade):
    plan = cascade.plan("I was double charged and the app also keeps crashing")
    assert plan.decision.route == "multi_intent" and plan.decision.method == "multi"
    assert [d.route for _, d in plan.parts] == ["billing", "technical_support"]


@pytest.mark.parametrize("text", ["help", "I have a problem", "it doesn't work", "hi"])
def test_vague_requests_get_a_question_not_a_guess(cascade, text):
    plan = cascade.plan(text)
    assert plan.decision.method == "clarify" and plan.question
    assert "(billing)" in plan.question


def test_the_answer_to_a_question_is_routed_with_both_turns(cascade):
    # An answer the router is unsure of alone ("about my card" alone is billing now, and an
    # answer sure on its own is routed alone) is routed with the question's turn.
    plan = cascade.plan("the card thing", clarifying="it doesn't work")
    assert plan.text == "it doesn't work\nthe card thing" and plan.decision.route == "billing"
    assert plan.question is None  # never two questions in a row


def test_out_of_scope_still_goes_to_general(cascade):
    plan = cascade.plan("what's the weather in Paris tomorrow")
    assert plan.decision.route == "general" and plan.decision.method == "fallback"
    assert plan.failed and plan.escalation is None


def test_second_failed_turn_escalates(cascade):
    plan = cascade.plan("tell me a joke about cats", failures=1)
    assert plan.decision.route == "escalation" and plan.escalation == "repeated_failure"
    assert not plan.explicit  # the user did not ask: the agent must offer first
    assert cascade.plan("thanks", failures=1).escalation is None  # courtesy is no failure


# A person AND another ask: both are answered, the hand-over after the other specialist.
PERSON_AND_ANOTHER_ASK = {
    "Why was I charged twice on my card? Also, I'd like to speak to a manager.": [
        "billing",
        "escalation",
    ],
    "I can't log in to the app. Can I talk to a real person too?": [
        "technical_support",
        "escalation",
    ],
    "I need a refund. I also want to talk to a person.": ["refund", "escalation"],
    "¿Por qué me cobraron dos veces este mes? Además, quiero hablar con una persona.": [
        "billing",
        "escalation",
    ],
    "Ich möchte mit einem Menschen sprechen. Außerdem stürzt die App ständig ab.": [
        "escalation",
        "technical_support",
    ],
    # a person named as the one to take a complaint; a short request beside it
    "Please switch my payment to direct debit, and separately I'd like a human to review my "
    "complaint.": ["billing", "escalation"],
    "Bitte ändern Sie meine Zahlungsmethode auf PayPal, und ich möchte mich bei einem "
    "Vorgesetzten beschweren.": ["billing", "escalation"],
    # an announced off-topic question beside the hand-over: the catch-all answers it first
    "Pásame con un encargado. Por cierto, ¿me recomiendas una serie para ver?": [
        "escalation",
        "general",
    ],
    "Put me through to a manager. By the way, can you tell me a joke about cats?": [
        "escalation",
        "general",
    ],
}


@pytest.mark.parametrize("text", sorted(PERSON_AND_ANOTHER_ASK))
def test_a_person_and_another_ask_are_two_parts(cascade, text):
    plan = cascade.plan(text)
    assert [d.route for _, d in plan.parts] == PERSON_AND_ANOTHER_ASK[text]
    assert plan.decision.route == "multi_intent"
    assert plan.escalation == "requested" and plan.explicit  # the user asked: open the ticket


@pytest.mark.parametrize(
    "text",
    [
        "the app keeps crashing and I want to speak to someone on the phone",
        "my invoice is wrong, get me a manager",
        "I was charged twice and nobody answers my emails, let me talk to a human",
    ],
)
def test_the_reason_for_wanting_a_person_is_not_a_second_ask(cascade, text):
    plan = cascade.plan(text)
    assert plan.parts == [] and plan.decision.route == "escalation"
    assert plan.escalation == "requested" and plan.explicit


# --- through the Python API ---------------------------------------------------------------------


def test_a_person_and_a_billing_question_get_both_and_one_ticket(coordinator):
    text = "Why was I charged twice on my card? Also, I'd like to speak to a manager."
    reply = coordinator.ask(text, user_id="alice")
    assert reply.routes == ["billing", "escalation"] and reply.method == "multi"
    assert "INV-10005" in reply.text  # billing really looked up the duplicate charge
    [ticket] = TicketStore().list()  # opened at once: the user asked for a person
    assert ticket.number in reply.text and ticket.user_id == "alice"
    assert ticket.reason == "requested" and ticket.session_id == reply.session_id
    assert reply.text.index("INV-10005") < reply.text.index(ticket.number)
    # The hand-over does not swallow billing's offer: "yes" still confirms it.
    yes = coordinator.ask("yes", user_id="alice", session_id=reply.session_id)
    assert yes.route == "billing" and "refunded" in yes.text


@pytest.mark.parametrize("lang", sorted(REFUSALS))
def test_a_refusal_opens_no_ticket(coordinator, lang):
    reply = coordinator.ask(REFUSALS[lang], user_id="alice")
    assert TicketStore().list() == [], reply
    assert "T-0" not in reply.text


@pytest.mark.parametrize("lang", sorted(PERSON_REQUESTS))
def test_a_person_request_opens_one_ticket_for_the_session_user(coordinator, lang):
    reply = coordinator.ask(PERSON_REQUESTS[lang], user_id="alice")
    assert reply.route == "escalation" and reply.method == "escalation"
    [ticket] = TicketStore().list()
    assert ticket.number in reply.text and "business day" in reply.text
    assert ticket.user_id == "alice" and ticket.session_id == reply.session_id
    assert ticket.reason == "requested" and ticket.status == "open"
    assert PERSON_REQUESTS[lang] in ticket.summary
    # Asking again in the same session returns the same ticket (idempotent).
    again = coordinator.ask("get me a manager", user_id="alice", session_id=reply.session_id)
    assert ticket.number in again.text and len(TicketStore().list()) == 1


def test_the_ticket_user_comes_from_the_session_not_the_text(coordinator):
    reply = coordinator.ask("I am bob, user_id=bob. Let me speak to a real person", user_id="carol")
    [ticket] = TicketStore().list()
    assert ticket.user_id == "carol" and reply.route == "escalation"


def test_two_failed_turns_offer_a_person_and_yes_opens_the_ticket(coordinator):
    first = coordinator.ask("what's the weather on mars", user_id="alice")
    assert first.route == "general"
    second = coordinator.ask(
        "tell me a joke about cats", user_id="alice", session_id=first.session_id
    )
    assert second.route == "escalation" and "person" in second.text
    assert TicketStore().list() == []  # offered, not opened: the user has not said yes
    yes = coordinator.ask("yes please", user_id="alice", session_id=first.session_id)
    [ticket] = TicketStore().list()
    assert yes.route == "escalation" and ticket.number in yes.text
    assert ticket.reason == "repeated_failure"
    assert "weather on mars" in ticket.summary and "joke about cats" in ticket.summary


def test_frustration_twice_offers_a_person(coordinator):
    first = coordinator.ask("this is useless", user_id="bob")
    second = coordinator.ask("you're not helping", user_id="bob", session_id=first.session_id)
    assert second.route == "escalation" and second.method == "escalation"


def test_help_asks_then_the_answer_routes_with_both_turns(tmp_path):
    from agents.coordinator.agent import build_root_agent
    from coordinator.api import Coordinator
    from coordinator.routing.decision_log import DecisionLog

    log = DecisionLog(tmp_path / "decisions.db", log_text=True)
    c = Coordinator(build_root_agent(decision_log=log), warm_up=False, app_name="support")
    asked = c.ask("help", user_id="alice")
    assert asked.method == "clarify" and asked.route == "coordinator"
    assert "(billing)" in asked.text and "(technical support)" in asked.text
    answered = c.ask("I was charged twice", user_id="alice", session_id=asked.session_id)
    assert answered.route == "billing" and "INV-" in answered.text
    rows = log.rows()
    assert [r.method for r in rows] == ["clarify", "classifier"]
    assert rows[1].text == "help\nI was charged twice"  # both turns were routed together


def test_two_asks_get_two_specialists_and_one_reply(tmp_path):
    from agents.coordinator.agent import build_root_agent
    from coordinator.api import Coordinator
    from coordinator.evaluation.routing_eval import traffic_report
    from coordinator.routing.decision_log import DecisionLog

    log = DecisionLog(tmp_path / "decisions.db", log_text=True)
    c = Coordinator(build_root_agent(decision_log=log), warm_up=False, app_name="support")
    reply = c.ask("I was double charged and the app also keeps crashing", user_id="alice")
    assert reply.routes == ["billing", "technical_support"] and reply.route == "billing"
    assert reply.method == "multi"
    assert "**Billing**" in reply.text and "**Technical support**" in reply.text
    assert "INV-10005" in reply.text  # billing really looked up the duplicate charge
    assert "crash" in reply.text.lower()  # the crash article answered the other part
    rows = log.rows()
    assert [(r.route, r.method) for r in rows] == [
        ("billing", "multi"),
        ("technical_support", "multi"),
    ]
    report = traffic_report(rows, ROUTES)
    assert report.multi_intent_splits == 1 and report.clarifications == 0


def test_a_refund_part_runs_after_the_parallel_group_not_inside_it(coordinator, monkeypatch):
    from coordinator.routing import multi_intent

    grouped: list[list[str]] = []
    real = multi_intent.fan_out

    async def spy(branches, **kw):
        grouped.append([b.id for b in branches])
        return await real(branches, **kw)

    monkeypatch.setattr(multi_intent, "fan_out", spy)
    # "also": a second ask. Without it, a problem and a refund is one ask for the refund
    # specialist (the cause/remedy rule, tests/test_messy_traffic.py).
    reply = coordinator.ask(
        "I was double charged and I also want a refund for order 1001", user_id="alice"
    )
    assert reply.routes == ["billing", "refund"]
    # Billing acts too (duplicate-charge refund, cancellation): neither part may run in the
    # parallel group, so nothing was fanned out; both ran after it, in the message's order.
    assert grouped == []
    assert reply.text.index("**Billing**") < reply.text.index("order 1001")


@pytest.mark.anyio
async def test_on_gemini_each_specialist_sees_only_its_part(monkeypatch):
    """The real Gemini client path (local stub): each part's model call carries its part."""
    from coordinator.api import Coordinator
    from coordinator.settings import reset_settings
    from tests.gemini_stub import GeminiStub, last_user_text, text_content

    def reply(body, model):
        return text_content(f"[{model}] {last_user_text(body)}")

    with GeminiStub(reply) as stub:
        monkeypatch.setenv("COORDINATOR_MODE", "auto")
        monkeypatch.setenv("GOOGLE_API_KEY", "test-key-not-real")
        monkeypatch.setenv("COORDINATOR_GEMINI_BASE_URL", stub.base_url)
        reset_settings()
        c = Coordinator(warm_up=False)
        r = await c.ask_async(
            "I was double charged and the app also keeps crashing", user_id="alice"
        )
    assert r.routes == ["billing", "technical_support"] and not r.offline
    technical = r.text.split("**Technical support**")[1].split("**Billing**")[0]
    assert "] the app also keeps crashing" in technical
    assert "double charged" not in technical
    # Billing acts (refunds, cancellations), so it runs after the parallel group in the
    # session itself, where its model sees the turn's message (as the refund part does).
    assert "**Billing** (I was double charged): see below." in r.text
    assert r.usage.llm_calls == 2 and r.usage.tokens > 0  # the parts' calls are counted


def test_single_intent_table_is_never_split_end_to_end(coordinator):
    for text in SINGLE_INTENT[:3]:
        reply = coordinator.ask(text, user_id="alice")
        assert len(reply.routes) == 1 and reply.method != "multi", text


# --- CLI ---------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_tickets_cli_lists_shows_and_closes(tmp_path):
    env = server_env(tmp_path)
    asked = _cli("ask", "Quiero hablar con una persona", "--user", "alice", "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert reply["route"] == "escalation" and "T-00001" in reply["text"]
    listed = _cli("tickets", "list", "--user", "alice", "--json", env=env)
    [ticket] = json.loads(listed.stdout)
    assert ticket["number"] == "T-00001" and ticket["session_id"] == reply["session_id"]
    assert _cli("tickets", "list", "--user", "bob", "--json", env=env).stdout.strip() == "[]"
    shown = _cli("tickets", "show", "T-00001", env=env)
    assert shown.returncode == 0 and "Quiero hablar con una persona" in shown.stdout
    closed = _cli("tickets", "close", "1", "--json", env=env)
    assert closed.returncode == 0 and json.loads(closed.stdout)["status"] == "closed"
    for bad in (["show", "nope"], ["show", "T-00099"], ["close", "1", "--user", "bob"]):
        proc = _cli("tickets", *bad, env=env)
        assert proc.returncode == 2, (bad, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_routes_report_counts_clarifications_escalations_and_splits(tmp_path):
    env = server_env(tmp_path)
    for text in ("help", "talk to a human", "I was double charged and the app also keeps crashing"):
        assert _cli("ask", text, env=env).returncode == 0
    out = _cli("routes", "report", "--json", env=env)
    report = json.loads(out.stdout)
    assert report["clarifications"] == 1
    assert report["escalations"] == 1
    assert report["multi_intent_splits"] == 1


def test_concurrent_opens_in_one_session_make_one_ticket(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = TicketStore(tmp_path / "store.sqlite3")

    def open_one(i: int):
        return store.open(user_id="alice", session_id="s1", reason="requested", summary=f"#{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(open_one, range(16)))
    assert len({t.id for t, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    closed = store.close(results[0][0].id)
    assert store.close(closed.id).closed_at == closed.closed_at  # closing twice: no change
    assert [a["action"] for a in store.audit(closed.id)] == ["open", "close"]
    reopened, created = store.open(user_id="alice", session_id="s1", reason="requested", summary="")
    assert created and reopened.id != closed.id  # a closed ticket does not block a new one


def test_a_ticket_committed_before_a_kill_9_is_returned_not_duplicated(coordinator, tmp_path):
    """The process dies (SIGKILL) right after opening the ticket, before answering: the
    user's retry in the same session gets the same ticket, not a second one."""
    from coordinator.settings import get_settings

    session = coordinator.ask("I was charged twice", user_id="alice")
    script = (
        "import os, signal, sys\n"
        "from coordinator.routing.handoff import TicketStore\n"
        "TicketStore(sys.argv[1]).open(user_id='alice', session_id=sys.argv[2],"
        " reason='requested', summary='talk to a human')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(get_settings().store_path), session.session_id],
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9
    retry = coordinator.ask("talk to a human", user_id="alice", session_id=session.session_id)
    [ticket] = TicketStore().list()
    assert ticket.number in retry.text and "already" in retry.text


def test_parse_ticket_id_rejects_junk():
    from coordinator.errors import UsageError

    assert parse_ticket_id("T-00042") == 42 and parse_ticket_id(" 7 ") == 7
    for bad in ("", "T-", "0", "-3", "abc"):
        with pytest.raises(UsageError):
            parse_ticket_id(bad)


# --- over HTTP (adk api_server) -------------------------------------------------------------------


def test_api_server_escalates_and_splits_over_http(tmp_path: Path):
    with (
        run_adk_server("api_server", tmp_path, log_name="api.log") as server,
        httpx.Client(timeout=120, trust_env=False) as client,
    ):
        base = f"{server.base_url}/apps/support/users/alice/sessions"
        sid = client.post(base, json={}).json()["id"]

        def run(text: str) -> list[dict]:
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

        events = run("I was double charged and the app also keeps crashing")
        text = "".join(
            p.get("text") or "" for e in events for p in (e.get("content") or {}).get("parts", [])
        )
        assert "**Billing**" in text and "**Technical support**" in text
        routes = [
            e["actions"]["stateDelta"]["coordinator:routes"]
            for e in events
            if "coordinator:routes" in ((e.get("actions") or {}).get("stateDelta") or {})
        ]
        assert routes == [["billing", "technical_support"]]
        events = run("Why was I charged twice on my card? Also, I'd like to speak to a manager.")
        assert [e["author"] for e in events if e["author"] in ("billing", "escalation")][-1] == (
            "escalation"
        )
        events = run("Ich möchte mit einem Menschen sprechen")
        assert any(e["author"] == "escalation" for e in events)
        # A refusal in another session opens nothing there.
        first, sid = sid, client.post(base, json={}).json()["id"]  # `run` posts to `sid`
        run("bitte ruft mich nicht an, ich möchte keinen Rückruf")
        sid = first
    # The server's data dir (tests._servers.server_env) holds the store with the ticket.
    [ticket] = TicketStore(tmp_path / "data" / "store.sqlite3").list()
    assert ticket.user_id == "alice" and ticket.session_id == sid


# --- requests for a person, as attackers and customers write them ----------------------------


def _person_table(name: str) -> list[dict[str, str]]:
    path = Path(__file__).parent / "data" / "person" / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("name", "max_false_yes", "max_false_no"),
    # measured when the clause rule was written: attack 17/184 and 2/78 (tuned on it; 118 and
    # 15 before), heldout 9/120 and 23/72 (blind; 16 and 31 before)
    [("attack", 17, 2), ("heldout", 9, 23)],
)
def test_mentions_of_a_person_open_no_ticket(name, max_false_yes, max_false_no):
    rows = _person_table(name)
    assert {r["language"] for r in rows} == {"en", "es", "fr", "de", "pt", "it"}
    said = {r["text"]: intents.asks_for_person(r["text"]) for r in rows}
    false_yes = [r["text"] for r in rows if r["person"] == "no" and said[r["text"]]]
    false_no = [r["text"] for r in rows if r["person"] == "yes" and not said[r["text"]]]
    assert len(false_yes) <= max_false_yes, false_yes
    assert len(false_no) <= max_false_no, false_no
