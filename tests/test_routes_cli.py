"""`coordinator routes ...`: train/eval/report/retune end to end, and bad input -> exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coordinator.cli import main
from coordinator.evaluation.routing_eval import LabelledRow, evaluate
from coordinator.routing.decision_log import DecisionLog
from coordinator.routing.router import Decision
from coordinator.routing.routes import load_routes

ROUTES_YAML = """\
fallback: general
routes:
  - name: billing
    description: Charges and invoices
    utterances:
      - I was charged twice this month
      - why is there an extra charge on my card
      - my invoice amount looks wrong
      - update my credit card for payments
      - my payment was declined
      - show me my latest invoice
  - name: refund
    description: Money back on orders
    utterances:
      - I want my money back for order 1001
      - please refund my order
      - what is your refund policy
      - has my refund been processed yet
      - the product arrived broken, I want a refund
      - how long do refunds take
  - name: general
    description: Anything else
"""

TEST_CSV = """\
text,route
I was billed two times for the same invoice,billing
my card payment failed,billing
refund order 1002 please,refund
when will I get my money back,refund
what's the weather in Paris tomorrow,general
tell me a joke about penguins,
"""


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES_YAML)
    test = tmp_path / "test.csv"
    test.write_text(TEST_CSV)
    return {"routes": routes, "test": test, "dir": tmp_path}


# --- evaluation metrics -------------------------------------------------------------------


class _TableRouter:
    """Routes by lookup (so the expected metrics can be computed by hand)."""

    method = "embedding"
    threshold = None

    def __init__(self, table: dict[str, str]) -> None:
        self.routes = load_routes()
        self.table = table

    def route(self, text: str) -> Decision:
        return Decision(route=self.table[text], confidence=1.0, method="embedding")


def test_evaluate_counts_oos_and_per_route_metrics_exactly():
    rows = [
        LabelledRow(text="a", route="billing"),
        LabelledRow(text="b", route="billing"),
        LabelledRow(text="c", route="refund"),
        LabelledRow(text="d", route="general"),
        LabelledRow(text="e", route="general"),
    ]
    table = {"a": "billing", "b": "refund", "c": "refund", "d": "general", "e": "billing"}
    r = evaluate(_TableRouter(table), rows)
    assert (r.n, r.n_in_scope, r.n_oos) == (5, 3, 2)
    assert r.accuracy == pytest.approx(3 / 5)
    assert r.in_scope_accuracy == pytest.approx(2 / 3, abs=1e-4)
    assert r.oos_recall == pytest.approx(0.5)
    assert r.oos_precision == pytest.approx(1.0)
    assert r.per_route["billing"].precision == pytest.approx(0.5)
    assert r.per_route["billing"].recall == pytest.approx(0.5)
    assert r.per_route["refund"].precision == pytest.approx(0.5)
    assert r.per_route["refund"].support == 1
    assert r.confusion["billing"] == {"billing": 1, "refund": 1}
    assert r.confusion["general"] == {"general": 1, "billing": 1}


# --- train / eval --------------------------------------------------------------------------


def test_train_save_then_eval_json_with_model(capsys, files):
    model = files["dir"] / "model"
    code, out, _ = _run(
        capsys,
        "routes",
        "train",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["test"]),
        "--out",
        str(model),
    )
    assert code == 0 and "saved to" in out
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["routes"] == ["billing", "refund"]
    assert manifest["metrics"]["oos_examples"] == 2
    code, out, _ = _run(
        capsys,
        "routes",
        "eval",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["test"]),
        "--model",
        str(model),
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    for key in (
        "n",
        "accuracy",
        "in_scope_accuracy",
        "oos_recall",
        "oos_precision",
        "per_route",
        "confusion",
        "latency_ms",
    ):
        assert key in report
    assert report["n"] == 6 and report["method"] == "classifier"
    assert set(report["latency_ms"]) >= {"p50", "p95"}
    assert set(report["per_route"]["billing"]) == {"precision", "recall", "f1", "support"}
    assert report["in_scope_accuracy"] == 1.0 and report["oos_recall"] == 1.0


def test_eval_human_table_and_plot(capsys, files):
    png = files["dir"] / "cm.png"
    code, out, _ = _run(
        capsys,
        "routes",
        "eval",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["test"]),
        "--method",
        "embedding",
        "--plot",
        str(png),
    )
    assert code == 0
    assert "in-scope accuracy" in out and "billing" in out and "confusion" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- bad input: one line naming file and line, exit 2 ----------------------------------------


BAD_ROUTES = {
    "malformed": ("routes:\n  - name: billing\n    utterances: [a, b\n", ":line 4"),
    "duplicate": (
        "routes:\n  - name: a\n    description: A\n    utterances: [x]\n"
        "  - name: a\n    description: B\n    utterances: [y]\n",
        ":line 5: routes[1].name: duplicate route name 'a'",
    ),
    "no_utterances": (
        "fallback: general\nroutes:\n  - name: a\n    description: A\n",
        ":line 3: routes[0].utterances",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROUTES))
def test_bad_routes_file_exits_2_with_file_and_line(capsys, files, case):
    text, expected = BAD_ROUTES[case]
    bad = files["dir"] / f"{case}.yaml"
    bad.write_text(text)
    code, out, err = _run(
        capsys, "routes", "eval", "--routes", str(bad), "--data", str(files["test"])
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{bad}{expected}" in err


BAD_CSV = {
    "unknown_columns": ("txt,label\nhello,billing\n", ":line 1: unknown column(s) 'txt', 'label'"),
    "empty": ("", ":line 1: empty CSV"),
    "header_only": ("text,route\n", ":line 2: empty CSV: no data rows"),
    "unknown_route": ("text,route\nfine,billing\nhi,bilingg\n", ":line 3: unknown route 'bilingg'"),
    "field_count": ("text,route\na,billing,extra\n", ":line 2: expected 2 fields, got 3"),
    "empty_text": ("text,route\n  ,billing\n", ":line 2: empty text"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
@pytest.mark.parametrize("action", ["eval", "train"])
def test_bad_csv_exits_2_with_file_and_line(capsys, files, case, action):
    text, expected = BAD_CSV[case]
    bad = files["dir"] / f"{case}.csv"
    bad.write_text(text)
    extra = ["--out", str(files["dir"] / "m")] if action == "train" else []
    code, out, err = _run(
        capsys, "routes", action, "--routes", str(files["routes"]), "--data", str(bad), *extra
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{bad}{expected}" in err


def test_missing_files_and_bad_options_exit_2(capsys, files):
    code, _, err = _run(
        capsys,
        "routes",
        "eval",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["dir"] / "nope.csv"),
    )
    assert code == 2 and "nope.csv: file not found" in err
    code, _, err = _run(
        capsys,
        "routes",
        "eval",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["test"]),
        "--method",
        "llm",
    )
    assert code == 2 and "needs a real model" in err
    code, _, err = _run(
        capsys,
        "routes",
        "eval",
        "--routes",
        str(files["routes"]),
        "--data",
        str(files["test"]),
        "--model",
        str(files["dir"]),
    )
    assert code == 2 and "not a trained router dir" in err


# --- report / retune from the decision log ---------------------------------------------------


def _log_traffic(routes_file: Path) -> list[int]:
    from coordinator.routing.router import build_router

    router = build_router(load_routes(routes_file), method="embedding")
    log = DecisionLog()
    traffic = [
        ("I was charged twice on my card", None),
        ("my invoice total is wrong", None),
        ("refund my order please", None),
        ("what's the weather in Paris", "general"),
        ("my parcel never came and I need cash back", "refund"),
        ("cobro duplicado en mi tarjeta de crédito", "billing"),
    ]
    ids = []
    for text, correct in traffic:
        rid = log.record(router.route(text), text=text, session_id="s", user_id="u")
        ids.append(rid)
        if correct:
            log.record_outcome(
                rid, "resolved" if correct == "general" else "wrong_route", correct_route=correct
            )
    log.close()
    return ids


def test_report_json_counts_traffic_and_disagreements(capsys, files):
    _log_traffic(files["routes"])
    code, out, _ = _run(capsys, "routes", "report", "--routes", str(files["routes"]), "--json")
    assert code == 0
    r = json.loads(out)
    assert r["n"] == 6
    assert sum(r["by_route"].values()) == 6 and r["by_method"] == {"embedding": 6}
    assert r["labelled"] == 3
    assert r["outcomes"]["resolved"] == 1
    assert 0.0 < r["fallback_share"] < 1.0
    assert r["disagreement"]["method"] == "classifier"
    assert r["disagreement"]["compared"] == 6
    code, out, _ = _run(capsys, "routes", "report", "--routes", str(files["routes"]))
    assert code == 0 and "low-confidence share" in out


def test_report_on_an_empty_log_and_bad_since(capsys, files):
    code, out, _ = _run(capsys, "routes", "report", "--routes", str(files["routes"]))
    assert code == 0 and "no decisions" in out
    code, _, err = _run(capsys, "routes", "report", "--since", "last tuesday")
    assert code == 2 and "--since" in err


def test_retune_proposes_then_applies_threshold_and_utterances(capsys, files):
    model = files["dir"] / "model"
    assert main(["routes", "train", "--routes", str(files["routes"]), "--out", str(model)]) == 0
    _log_traffic(files["routes"])
    capsys.readouterr()
    args = [
        "routes",
        "retune",
        "--routes",
        str(files["routes"]),
        "--model",
        str(model),
        "--target-retention",
        "0.9",
    ]
    before = files["routes"].read_text()
    code, out, _ = _run(capsys, *args, "--json")
    assert code == 0
    p = json.loads(out)
    assert p["labelled"] == 3 and p["in_scope"] == 2 and p["oos"] == 1
    assert p["written"] == []
    assert files["routes"].read_text() == before  # dry run wrote nothing
    assert p["new_utterances"]  # misrouted labelled traffic becomes examples
    misrouted = [t for ts in p["new_utterances"].values() for t in ts]
    code, out, _ = _run(capsys, *args, "--apply")
    assert code == 0 and "wrote" in out
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["threshold"] == pytest.approx(p["proposed_threshold"])
    assert manifest["target_retention"] == 0.9
    assert (files["dir"] / "routes.yaml.bak").read_text() == before
    updated = load_routes(files["routes"])
    for route, texts in p["new_utterances"].items():
        assert set(texts) <= set(updated.get(route).utterances)
    assert len(misrouted) == sum(len(r.utterances) for r in updated.scored) - 12


def test_retune_never_overwrites_the_builtin_routes(capsys, tmp_path):
    from coordinator.routing.routes import DEFAULT_ROUTES_FILE

    before = DEFAULT_ROUTES_FILE.read_bytes()
    log = DecisionLog()
    d = Decision(route="general", confidence=0.1, method="fallback", confident=False)
    rid = log.record(
        d, text="my package is lost and I want compensation", session_id=None, user_id=None
    )
    log.record_outcome(rid, "wrong_route", correct_route="refund")
    log.close()
    code, out, _ = _run(capsys, "routes", "retune", "--apply")
    assert code == 0
    assert DEFAULT_ROUTES_FILE.read_bytes() == before
    copy = tmp_path / "data" / "routes.yaml"
    assert "my package is lost" in copy.read_text()
    assert "COORDINATOR_ROUTER_THRESHOLD=" in out


def test_outcome_command_then_train_from_log(capsys, files):
    ids = _log_traffic(files["routes"])
    code, out, _ = _run(
        capsys, "routes", "outcome", str(ids[0]), "resolved", "--correct-route", "billing"
    )
    assert code == 0 and "resolved" in out
    log = DecisionLog()
    assert (log.get(ids[0]).outcome, log.get(ids[0]).correct_route) == ("resolved", "billing")
    log.close()
    code, _, err = _run(capsys, "routes", "outcome", "999", "resolved")
    assert code == 2 and "no decision with id 999" in err
    model = files["dir"] / "m"
    code, out, _ = _run(
        capsys,
        "routes",
        "train",
        "--routes",
        str(files["routes"]),
        "--out",
        str(model),
        "--from-log",
        "--json",
    )
    assert code == 0
    manifest = json.loads(out)
    # 12 utterances + 3 labelled in-scope texts from the log (the OOS one is not trained on)
    assert manifest["n_train"] == 15
    assert manifest["metrics"]["oos_examples"] == 1
