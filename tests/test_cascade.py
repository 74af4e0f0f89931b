"""The routing cascade: zero LLM calls when confident, fallback when unsure, re-routing."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.adk.agents import LlmAgent
from google.adk.runners import InMemoryRunner
from google.genai import types

from coordinator.models.offline import OfflineLlm, last_user_text, text_response
from coordinator.routing.cascade import LAST_DECISION_KEY, PENDING_KEY, RoutingCascade
from coordinator.routing.router import EmbeddingRouter
from coordinator.routing.routes import load_routes
from tests.fakes import ScriptedLlm, simplify_events, transfer_call

ROUTES = load_routes()


@pytest.fixture(scope="module")
def router() -> EmbeddingRouter:
    return EmbeddingRouter(ROUTES)


class _Log:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str]] = []

    def record(self, decision, *, text, session_id, user_id, invocation_id=None):
        self.rows.append((decision.route, decision.method))
        return len(self.rows)


def _echo_agent(name: str, pending: bool = False) -> LlmAgent:
    def policy(req):
        return text_response(f"[{name}] {last_user_text(req)}")

    def set_pending(callback_context, llm_response):
        # Like the real refund agent: a request without an order number leaves it pending.
        if pending:
            text = "".join(p.text or "" for p in callback_context.user_content.parts)
            has_order = any(ch.isdigit() for ch in text)
            callback_context.state[PENDING_KEY] = None if has_order else name

    return LlmAgent(
        name=name,
        model=OfflineLlm(model=f"offline/{name}", policy=policy),
        disallow_transfer_to_parent=True,
        disallow_transfer_to_peers=True,
        after_model_callback=set_pending,
    )


def _tree(root_model, router, *, llm_available=False, log=None) -> LlmAgent:
    """The real cascade over echo specialists, so routing is visible in the transcript."""
    subs = [_echo_agent(n, pending=(n == "refund")) for n in ROUTES.names]
    cascade = RoutingCascade(
        router,
        ROUTES,
        agent_names=[a.name for a in subs],
        llm_available=llm_available,
        decision_log=log or _Log(),
    )
    return LlmAgent(
        name="coordinator",
        model=root_model,
        sub_agents=subs,
        before_model_callback=cascade.before_model,
        after_model_callback=cascade.after_model,
    )


async def _say(runner, session_id, text, user="alice"):
    events = []
    msg = types.Content(role="user", parts=[types.Part(text=text)])
    async for e in runner.run_async(user_id=user, session_id=session_id, new_message=msg):
        events.append(e)
    return events


async def _session(runner, user="alice"):
    s = await runner.session_service.create_session(app_name=runner.app_name, user_id=user)
    return s.id


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("I was charged twice for my subscription this month", "billing"),
        ("the app crashes every time I log in", "technical_support"),
        ("I want my money back for order 1001", "refund"),
        ("what is the capital of France", "general"),
        ("please review this services agreement for risky clauses", "contract_review"),
        ("is this code vulnerable to SQL injection: query = 'SELECT ' + name", "security_review"),
    ],
)
async def test_confident_routes_use_zero_llm_calls(router, text, route):
    root_model = ScriptedLlm(model="root")  # empty script: any call fails the test
    runner = InMemoryRunner(agent=_tree(root_model, router), app_name="t")
    sid = await _session(runner)
    events = await _say(runner, sid, text)
    assert simplify_events(events) == [
        ("coordinator", ("transfer", route)),
        (route, f"[{route}] {text}"),
    ]
    assert root_model.requests == []


@pytest.mark.anyio
async def test_unsure_offline_goes_to_fallback_and_is_labelled(router):
    log = _Log()
    runner = InMemoryRunner(agent=_tree(ScriptedLlm(), router, log=log), app_name="t")
    sid = await _session(runner)
    await _say(runner, sid, "what is the capital of France")
    session = await runner.session_service.get_session(
        app_name="t", user_id="alice", session_id=sid
    )
    assert session.state[LAST_DECISION_KEY]["method"] == "fallback"
    assert session.state[LAST_DECISION_KEY]["route"] == "general"


@pytest.mark.anyio
async def test_unsure_with_real_llm_asks_it_and_unknown_agent_becomes_fallback(router):
    root_model = ScriptedLlm(model="root", script=[transfer_call("astrology_desk")])
    runner = InMemoryRunner(agent=_tree(root_model, router, llm_available=True), app_name="t")
    sid = await _session(runner)
    events = await _say(runner, sid, "what is the capital of France")
    transcript = simplify_events(events)
    assert transcript[0] == ("coordinator", ("transfer", "general"))
    assert transcript[-1][0] == "general"
    assert len(root_model.requests) == 1
    root_model.assert_complete()


@pytest.mark.anyio
async def test_unsure_with_real_llm_valid_choice_is_followed(router):
    root_model = ScriptedLlm(model="root", script=[transfer_call("billing")])
    runner = InMemoryRunner(agent=_tree(root_model, router, llm_available=True), app_name="t")
    sid = await _session(runner)
    events = await _say(runner, sid, "hmm, a question about something")
    assert simplify_events(events)[-1][0] == "billing"
    session = await runner.session_service.get_session(
        app_name="t", user_id="alice", session_id=sid
    )
    assert session.state[LAST_DECISION_KEY]["method"] == "llm"


@pytest.mark.anyio
async def test_every_new_turn_is_routed_again(router):
    runner = InMemoryRunner(agent=_tree(ScriptedLlm(), router), app_name="t")
    sid = await _session(runner)
    first = await _say(runner, sid, "why is there an extra charge on my card")
    assert simplify_events(first)[-1][0] == "billing"
    second = await _say(runner, sid, "I want my money back for order 1001")
    assert simplify_events(second)[0] == ("coordinator", ("transfer", "refund"))


@pytest.mark.anyio
async def test_pending_specialist_keeps_the_turn_until_topic_changes(router):
    runner = InMemoryRunner(agent=_tree(ScriptedLlm(), router), app_name="t")
    sid = await _session(runner)
    await _say(runner, sid, "I want a refund")  # echo refund agent marks itself pending
    follow = await _say(runner, sid, "1002")  # an order number alone routes nowhere
    assert simplify_events(follow)[-1] == ("refund", "[refund] 1002")
    switched = await _say(runner, sid, "the app crashes every time I log in")
    assert simplify_events(switched)[-1][0] == "technical_support"
    session = await runner.session_service.get_session(
        app_name="t", user_id="alice", session_id=sid
    )
    assert session.state.get(PENDING_KEY) is None


class _AlwaysBilling:
    """A router that always says billing, so the language step is what is tested."""

    method = "embedding"

    def __init__(self, routes):
        self.routes = routes

    def route(self, text):
        from coordinator.routing.router import Decision

        return Decision(route="billing", confidence=0.9, method="embedding", candidate="billing")


def test_language_aware_dispatch_prefers_the_variant_that_speaks_it():
    from coordinator.routing.routes import Route, RouteSet

    routes = RouteSet(
        fallback="general",
        routes=(
            *ROUTES.routes,
            Route(
                name="billing_es",
                description="Facturación en español",
                utterances=("me cobraron dos veces",),
                languages=("es",),
            ),
        ),
    )
    cascade = RoutingCascade(
        _AlwaysBilling(routes), routes, agent_names=routes.names, llm_available=False
    )
    spanish = "me cobraron dos veces la suscripción este mes y quiero saber por qué"
    assert cascade.decide(spanish).route == "billing_es"
    assert cascade.decide("I was charged twice for my subscription this month").route == "billing"
    # no variant agent deployed -> the decision stands
    partial = RoutingCascade(
        _AlwaysBilling(routes), routes, agent_names=ROUTES.names, llm_available=False
    )
    assert partial.decide(spanish).route == "billing"


@pytest.mark.anyio
async def test_decision_records_the_complexity_tier(router):
    runner = InMemoryRunner(agent=_tree(ScriptedLlm(), router), app_name="t")
    sid = await _session(runner)
    await _say(runner, sid, "the app crashes every time I log in")
    session = await runner.session_service.get_session(
        app_name="t", user_id="alice", session_id=sid
    )
    assert session.state[LAST_DECISION_KEY]["tier"] == "cheap"


CONTRACTS = sorted(
    (Path(__file__).parents[1] / "agents/contract_review/data/cuad/contracts").glob("*.txt")
)


@pytest.fixture(scope="module")
def real_cascade(router):
    return RoutingCascade(router, ROUTES, agent_names=ROUTES.names, llm_available=False)


@pytest.mark.parametrize("size", [1500, 3000, 3600, 7000])
def test_a_pasted_contract_with_a_request_line_reaches_contract_review(real_cascade, size):
    routed = [
        real_cascade.decide("Please review this contract:\n" + c.read_text()[:size]).route
        for c in CONTRACTS
    ]
    assert routed == ["contract_review"] * len(CONTRACTS)


def test_a_pasted_contract_alone_is_routed_by_its_windows():
    from coordinator.bench.intents import _product_cascade

    product = _product_cascade()[1]  # the support app's shipped router (outlier exposure)
    routed = [product.decide(c.read_text()[:3000]).route for c in CONTRACTS]
    # Only document routes can win the window vote; measured 9/10 (one starts with a table:
    # the hybrid router is unsure of its windows, so it goes to the fallback, no longer to
    # security_review). No support specialist ever wins.
    assert routed.count("contract_review") >= 9
    assert set(routed) <= {"contract_review", "security_review", "general"}


def test_a_long_support_message_is_not_taken_for_a_document(real_cascade):
    complaint = "My invoice from last month lists the following items and two are wrong: " + (
        "Pro plan subscription $29, extra seat $10, support add-on $5; " * 15
    )
    assert len(complaint) > 600
    assert real_cascade.decide(complaint).route == "billing"
    code = Path(__file__).read_text()[:3000]
    assert real_cascade.decide("is this code vulnerable?\n" + code).route == "security_review"
