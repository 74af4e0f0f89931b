"""Off-topic requests reach `general`, not a specialist (issue 18.1): outlier exposure.

The support app ships a classifier trained with a "none of these" class of public generic
questions (agents/router_model, rebuilt by its build.sh). Checked here: the corpus loader's
formats and its one-line errors; that the shipped model is current for agents/routes.yaml;
that a saved model decides exactly as the one trained in memory; that `coordinator ask`
loads it without SciPy or scikit-learn; and, on requests held out of every choice
(tests/data/offtopic/heldout.csv, written before any measurement), that off-topic text in
six languages goes to general through the Python API, the CLI and `coordinator serve`.
"""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest

from agents.coordinator.agent import SHIPPED_ROUTER
from coordinator.errors import UsageError
from coordinator.routing.classifier import (
    ROUTE_SHRINK,
    ClassifierRouter,
    read_manifest,
    threshold_for_retention,
)
from coordinator.routing.outliers import load_outliers, sample_outliers
from coordinator.routing.routes import DEFAULT_ROUTES_FILE, load_routes
from tests._servers import run_coordinator_serve
from tests.test_serve import _keys_file, _new_session, _run_body, auth

HELDOUT = Path(__file__).parent / "data" / "offtopic" / "heldout.csv"
MULTILINGUAL = Path(__file__).parent / "data" / "multilingual"


def _offtopic() -> list[dict[str, str]]:
    with HELDOUT.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def routes():
    return load_routes(DEFAULT_ROUTES_FILE)


@pytest.fixture(scope="module")
def shipped(routes):
    return ClassifierRouter.load(SHIPPED_ROUTER, routes)


# --- the corpus loader ---------------------------------------------------------------------


def test_every_corpus_format_loads_and_rows_about_a_document_are_skipped(tmp_path):
    (tmp_path / "a.txt").write_text("# comment\ntell me a joke\n\n  who won   the cup \n")
    (tmp_path / "b.jsonl").write_text(
        json.dumps({"question": "how far is the moon"})
        + "\n"
        + json.dumps({"instruction": "summarise this", "context": "a long text"})
        + "\n"
        + json.dumps({"instruction": "write a haiku"})
        + "\n"
    )
    (tmp_path / "c.csv").write_text("text,other\nname my cat,x\n")
    squad = {"data": [{"paragraphs": [{"qas": [{"question": "¿quién pintó el Guernica?"}]}]}]}
    (tmp_path / "d.json.gz").write_bytes(gzip.compress(json.dumps(squad).encode()))
    texts = load_outliers(sorted(tmp_path.iterdir()))
    assert texts == [
        "tell me a joke",
        "who won the cup",
        "how far is the moon",
        "write a haiku",
        "name my cat",
        "¿quién pintó el Guernica?",
    ]


def test_per_file_keeps_an_equal_seeded_share_of_each_file(tmp_path):
    (tmp_path / "big.txt").write_text("\n".join(f"big question {i}" for i in range(500)))
    (tmp_path / "small.txt").write_text("\n".join(f"small question {i}" for i in range(5)))
    texts = load_outliers([tmp_path / "big.txt", tmp_path / "small.txt"], per_file=20)
    assert sum(t.startswith("big") for t in texts) == 20
    assert sum(t.startswith("small") for t in texts) == 5
    assert texts == load_outliers([tmp_path / "big.txt", tmp_path / "small.txt"], per_file=20)
    assert sample_outliers(texts, 10, seed=1) == sample_outliers(texts, 10, seed=1)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", "not json\n", "not a JSON object per line"),
        ("x.jsonl", '{"answer": 1}\n', "no question/instruction"),
        ("x.csv", "label\nfoo\n", "expected a question/instruction"),
        ("x.json", '{"rows": []}', "not a SQuAD-layout JSON file"),
        ("x.json.gz", "plain text", "not a gzip file"),
        ("x.txt", "\n# only a comment\n", "no outlier requests"),
    ],
)
def test_a_bad_corpus_is_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_outliers([path])


def test_routes_train_with_a_bad_corpus_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "corpus.jsonl"
    bad.write_text("{oops\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "coordinator",
            "routes",
            "train",
            "--out",
            str(tmp_path / "m"),
            "--outliers",
            str(bad),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if "corpus.jsonl" in line]


# --- the model -------------------------------------------------------------------------------


def test_the_shipped_router_was_trained_on_the_shipped_routes_with_exposure(routes):
    manifest = read_manifest(SHIPPED_ROUTER)
    assert manifest.routes_fingerprint == routes.fingerprint(), (
        "agents/routes.yaml changed: run agents/router_model/build.sh"
    )
    assert manifest.n_outliers >= 2000
    assert manifest.metrics["outlier_recall"] >= 0.9  # its own held-out (CV) exposure rows


def test_a_saved_model_decides_exactly_as_the_one_trained_in_memory(routes, tmp_path):
    corpus = [r["text"] for r in _offtopic()[::2]]  # any generic text will do here
    trained = ClassifierRouter(routes, outliers=corpus)
    loaded = ClassifierRouter.load(trained.save(tmp_path / "m"), routes)
    probes = [u for r in routes.routes for u in r.utterances] + [r["text"] for r in _offtopic()]
    probes += ["zzzz", "refnud my ordr", "¿me devuelven el dinero?"]
    for text in probes:
        a, b = trained.route(text), loaded.route(text)
        assert (a.route, a.candidate, a.confidence, a.scores) == (
            b.route,
            b.candidate,
            b.confidence,
            b.scores,
        ), text


def test_each_route_has_its_own_bar_shrunk_toward_the_global_one(shipped):
    bars = shipped.metrics["route_bars"]
    assert set(bars) == set(shipped.names)
    assert len(set(bars.values())) > 1  # per-route calibration, not one number
    retention = shipped.target_retention
    for i, name in enumerate(shipped.names):
        # a bar below every score would pass anything nearest the route ("tell me a joke"
        # went to escalation so): each bar is above what the none class scores
        assert bars[name] > 0, name
        mine = shipped.cv_labels == i
        own = shipped.cv_scores[mine & (shipped.cv_scores >= 0)]
        t_r = threshold_for_retention(own, min(1.0, retention * mine.sum() / own.size))
        assert (
            min(t_r, shipped.threshold) - 1e-4 <= bars[name] <= max(t_r, shipped.threshold) + 1e-4
        )
        # the fewer examples, the nearer the global bar
        assert bars[name] == pytest.approx(
            shipped.threshold + own.size * (t_r - shipped.threshold) / (own.size + ROUTE_SHRINK),
            abs=1e-4,
        )


def test_exposure_sends_held_out_off_topic_text_to_general_in_every_language(routes, shipped):
    """Held-out set (see docs/benchmarks.md): without exposure 31/90 reached general."""
    rows = _offtopic()
    hits, totals = Counter(), Counter()
    for row in rows:
        totals[row["language"]] += 1
        hits[row["language"]] += shipped.route(row["text"]).route == "general"
    assert sum(hits.values()) / len(rows) >= 0.7, dict(hits)
    assert all(hits[lang] >= 5 for lang in totals), dict(hits)
    plain = ClassifierRouter(routes)
    assert sum(plain.route(r["text"]).route == "general" for r in rows) < sum(hits.values())


def test_exposure_keeps_held_out_in_scope_requests_in_six_languages(shipped):
    rows = []
    for path in sorted(MULTILINGUAL.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            rows += list(csv.DictReader(f))
    right = sum(shipped.route(r["text"]).route == r["route"] for r in rows)
    assert right / len(rows) >= 0.9


# --- the app, every path ------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_joke_request_gets_general_not_the_invoices(coordinator):
    reply = await coordinator.ask_async("tell me a joke", user_id="alice")
    assert reply.route == "general", reply
    assert "INV-" not in reply.text


def test_ask_routes_off_topic_to_general_and_imports_no_scipy_or_sklearn(tmp_path):
    env = {
        "COORDINATOR_DATA_DIR": str(tmp_path / "data"),
        "COORDINATOR_MODE": "offline",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    code = (
        "import sys, runpy; sys.argv = ['coordinator', 'ask',"
        " 'who won the football world cup in 2014', '--user', 'alice', '--json']\n"
        "try:\n    runpy.run_module('coordinator', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & {'scipy', 'sklearn'}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    reply = json.loads(proc.stdout[: proc.stdout.rindex("HEAVY")])
    assert reply["route"] == "general" and "INV-" not in reply["text"]


def test_over_coordinator_serve_off_topic_text_reaches_general(tmp_path):
    env = {"COORDINATOR_API_KEYS_FILE": str(_keys_file(tmp_path / "keys.txt"))}
    with (
        run_coordinator_serve(tmp_path / "serve", env=env) as server,
        httpx.Client(base_url=server.base_url, timeout=120.0, trust_env=False) as c,
    ):
        for n, text in enumerate(["tell me a joke", "¿cuál es la capital de Canadá?"]):
            _new_session(c, "alice", f"s{n}")
            r = c.post("/run", json=_run_body("alice", f"s{n}", text), headers=auth("alice"))
            assert r.status_code == 200, r.text
            authors = {e.get("author") for e in r.json()}
            assert "general" in authors and not authors & {"billing", "refund"}, authors
