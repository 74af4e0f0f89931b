"""The hybrid router (char n-grams + embedding): typos, languages, persistence, features."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from coordinator.routing.charfeatures import CharFeatures, analyze
from coordinator.routing.classifier import WEIGHTS, ClassifierRouter, read_manifest
from coordinator.routing.router import build_router
from coordinator.routing.routes import load_routes

MULTILINGUAL = Path(__file__).parent / "data" / "multilingual"  # <lang>.csv: text,route
TYPOS = [
    ("i was chrged twise for my subscrption", "billing"),
    ("how do i resett my pasword", "technical_support"),
    ("i want my mony bak for ordr 1001", "refund"),
    ("the app crashs evry tme i log in", "technical_support"),
]


@pytest.fixture(scope="module")
def routes():
    return load_routes()


@pytest.fixture(scope="module")
def hybrid(routes) -> ClassifierRouter:
    router = build_router(routes, method="auto")
    assert isinstance(router, ClassifierRouter) and router.features == "hybrid"
    return router


@pytest.fixture(scope="module")
def embedding_only(routes) -> ClassifierRouter:
    return ClassifierRouter(routes, features="embedding")


def _rows() -> list[dict[str, str]]:
    rows = []
    for path in sorted(MULTILINGUAL.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows.extend({**r, "lang": path.stem} for r in csv.DictReader(f))
    return rows


@pytest.fixture(scope="module")
def product():
    from coordinator.bench.intents import _product_cascade

    return _product_cascade()[1]  # typos put right, then the shipped router


@pytest.mark.parametrize("text,expected", TYPOS)
def test_misspelled_requests_reach_their_specialist(hybrid, product, text, expected):
    assert hybrid.route(text).candidate == expected  # the char n-grams rank it first
    d = product.decide(text)
    assert (d.route, d.confident) == (expected, True)


def test_the_embedding_alone_sent_typos_to_the_fallback(hybrid, embedding_only):
    """The reason for the char n-grams: without them more of these went to `general`."""
    missed = [t for t, want in TYPOS if embedding_only.route(t).route != want]
    assert TYPOS[0][0] in missed
    kept = [t for t, want in TYPOS if hybrid.route(t).route == want]
    assert len(kept) > len(TYPOS) - len(missed)


def test_char_features_match_scikit_learn_tfidf():
    """Routing computes tf-idf without scikit-learn: it must equal the fitted vectorizer."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["Refund my order 1001!", "the app crashes", "La aplicación se cierra", "crash crash"]
    vec = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, dtype=np.float32).fit(texts)
    ours = CharFeatures(vec.get_feature_names_out(), vec.idf_)
    probe = ["refund the app", "aplicacion", "zzz", *texts]
    np.testing.assert_allclose(
        ours.transform(probe).toarray(), vec.transform(probe).toarray(), rtol=1e-5, atol=1e-6
    )
    idx, val = ours.transform_one("zzz qqq")
    assert idx.size == 0 and val.size == 0  # nothing known: no features, no crash


def test_analyzer_ignores_case_accents_and_punctuation():
    assert analyze("Stürzt!") == analyze("sturzt")
    assert " st" in analyze("Stürzt") and "urzt " in analyze("Stürzt")


def test_hybrid_model_dir_round_trips_without_pickle(routes, hybrid, tmp_path):
    hybrid.save(tmp_path)
    assert read_manifest(tmp_path).features == "hybrid"
    with np.load(tmp_path / WEIGHTS, allow_pickle=False) as arrays:  # raises on pickles
        assert {"char_vocab", "char_idf", "coef_char"} <= set(arrays.files)
    loaded = ClassifierRouter.load(tmp_path, routes)
    for text, _ in [*TYPOS, ("tell me a joke about cats", "general")]:
        a, b = hybrid.route(text), loaded.route(text)
        assert (a.route, a.candidate) == (b.route, b.candidate)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)


def test_embedding_only_model_dirs_still_load(routes, embedding_only, tmp_path):
    embedding_only.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["features"], manifest["char_weight"]  # a dir written before the hybrid
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    loaded = ClassifierRouter.load(tmp_path, routes)
    assert loaded.features == "embedding"
    assert loaded.route("refund order 1002").route == "refund"


def test_multilingual_test_set_is_held_out_of_training(routes):
    trained = {u.casefold() for r in routes.routes for u in r.utterances}
    rows = _rows()
    assert {r["lang"] for r in rows} == {"es", "de", "fr", "pt", "it"}
    assert not [r["text"] for r in rows if r["text"].casefold() in trained]


def test_requests_in_five_languages_reach_the_right_specialist(hybrid):
    """Held-out es/de/fr/pt/it requests (tests/data/multilingual/*.csv)."""
    rows = [r for r in _rows() if r["route"] != "general"]
    right = Counter(r["lang"] for r in rows if hybrid.route(r["text"]).route == r["route"])
    total = Counter(r["lang"] for r in rows)
    assert sum(right.values()) / len(rows) >= 0.9, right
    assert all(right[lang] >= total[lang] - 2 for lang in total), right


def test_more_held_out_languages_are_routed_than_with_the_embedding_alone(hybrid, embedding_only):
    rows = [r for r in _rows() if r["route"] != "general"]
    ours = sum(hybrid.route(r["text"]).route == r["route"] for r in rows)
    before = sum(embedding_only.route(r["text"]).route == r["route"] for r in rows)
    assert ours > before


def test_fallback_examples_pull_held_out_off_topic_requests_to_general(routes, hybrid):
    """`general`'s utterances (other topics than the tests') are negatives, never a route."""
    from coordinator.routing.routes import RouteSet

    off_topic = [r["text"] for r in _rows() if r["route"] == "general"]
    bare = ClassifierRouter(
        RouteSet(fallback="general", routes=tuple(r for r in routes.routes if r.name != "general"))
    )
    ours = sum(hybrid.route(t).route == "general" for t in off_topic)
    before = sum(bare.route(t).route == "general" for t in off_topic)
    assert ours > before
    assert "general" not in hybrid.route("hola, ¿cómo estás?").scores


def test_comparing_with_the_best_routes_examples_only_changes_no_score(hybrid):
    """The fast path (best route's + fallback's examples) equals comparing with all."""
    for text, _ in [*TYPOS, ("hola, ¿qué tal?", "general"), ("zzzz", "general")]:
        logits, (v, q) = hybrid._query(text)
        sims = (hybrid._x @ v) * hybrid._b**2
        if q is not None:
            sims = sims + hybrid._xc.dot(q) * hybrid._a**2
        p = np.exp(logits / hybrid.temperature - np.max(logits / hybrid.temperature))
        p /= p.sum()
        best = int(p[: len(hybrid.names)].argmax())
        full = hybrid._in_scope(float(p[best]), sims, best) - hybrid.route_offsets[best]
        assert hybrid.in_scope_score(text)[1] == pytest.approx(full, abs=1e-6)
