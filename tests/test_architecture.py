"""The rooms of docs/architecture.md, checked on the source: a test fails when an import
crosses a forbidden boundary, closes a cycle, or a path of a developer's machine appears.

Imports are read with `ast` from every module, those inside functions included (a cycle
hidden behind a deferred import is still a cycle), plus `importlib.import_module("...")`
calls with a literal name.
"""

from __future__ import annotations

import ast
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("coordinator", "agents", "tools", "adk_web")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ".adk" in path.parts or "__pycache__" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


MODULES = _sources()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (a module, or the package holding a name)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


class Import:
    def __init__(self, source: str, target: str, line: int, deferred: bool) -> None:
        self.source, self.target, self.line, self.deferred = source, target, line, deferred

    def __repr__(self) -> str:
        path = MODULES[self.source]
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        return f"{where}:{self.line} imports {self.target}"


def _imports(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def add(name: str, node: ast.AST, deferred: bool) -> None:
        target = _resolve(name)
        if target is not None and target != module:
            found.append(Import(module, target, node.lineno, deferred))

    def visit(node: ast.AST, deferred: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, inner, True)  # annotations only: not an import at run time
                continue
            if type_only:
                visit(child, inner, type_only)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child, inner)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in child.names:
                    add(f"{base}.{alias.name}", child, inner)
            elif (
                isinstance(child, ast.Call)
                and ast.unparse(child.func).endswith("import_module")
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                add(child.args[0].value, child, inner)
            visit(child, inner, type_only)

    visit(tree, False, False)
    return found


IMPORTS = [imp for module in MODULES for imp in _imports(module)]


def _room(module: str) -> str:
    return module.split(".")[0]


def _is_measurement(module: str) -> bool:
    """Code that evaluates, fits or benchmarks: `*.eval.*`, the engine's bench package and
    the CLI command that runs it."""
    parts = module.split(".")
    return "eval" in parts or module.startswith(("coordinator.bench", "coordinator.cli.bench"))


def test_the_engine_imports_no_agent_and_no_tool():
    crossing = [i for i in IMPORTS if _room(i.source) == "coordinator"
                and _room(i.target) in ("agents", "tools", "adk_web")]
    assert not crossing, "\n".join(map(repr, crossing))


def test_tools_import_no_agent():
    crossing = [i for i in IMPORTS if _room(i.source) == "tools"
                and _room(i.target) in ("agents", "adk_web")]
    assert not crossing, "\n".join(map(repr, crossing))


def test_runtime_imports_nothing_that_measures_or_builds():
    crossing = [i for i in IMPORTS if not _is_measurement(i.source) and _is_measurement(i.target)
                and not i.source.startswith("coordinator.cli")]  # `coordinator bench` dispatch
    assert not crossing, "\n".join(map(repr, crossing))


def test_agents_import_no_peer_agent():
    """An agent reaches shared helpers (agents._specialist) and tools, never another agent;
    only the seam (agents.app) and the ADK apps know them all."""
    def agent_of(module: str) -> str | None:
        parts = module.split(".")
        if parts[0] != "agents" or len(parts) < 2 or parts[1] in ("app", "_specialist"):
            return None
        return parts[1]

    crossing = [
        i for i in IMPORTS
        if agent_of(i.source) and agent_of(i.target) and agent_of(i.source) != agent_of(i.target)
    ]
    assert not crossing, "\n".join(map(repr, crossing))


def test_adk_apps_and_the_engine_reach_agents_through_the_seam_only():
    crossing = [i for i in IMPORTS if _room(i.source) == "adk_web" and _room(i.target) == "agents"
                and i.target != "agents.app"]
    assert not crossing, "\n".join(map(repr, crossing))


def _cycles() -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        # A package's __init__ importing its own submodules is how packages re-export.
        if not imp.target.startswith(imp.source + "."):
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan, iterative enough for this tree's depth
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            strongconnect(v)
    return components


def test_no_import_cycles_not_even_behind_deferred_imports():
    assert _cycles() == []


def test_deferred_imports_say_why():
    """An import inside a function is there to keep start-up cheap, and says so."""
    missing = []
    for imp in IMPORTS:
        if not imp.deferred:
            continue
        lines = MODULES[imp.source].read_text(encoding="utf-8").splitlines()
        first = imp.line - 1  # the start of the block of imports this one stands in
        while first > 0 and re.match(r"\s*(from \S+ import|import |\)|\w+,)", lines[first - 1]):
            first -= 1
        context = " ".join(lines[max(0, first - 2) : imp.line]).lower()
        if "deferred" not in context:
            missing.append(imp)
    assert not missing, "\n".join(map(repr, missing))


def test_the_checker_sees_a_forbidden_import_even_inside_a_function(tmp_path, monkeypatch):
    """The checks above can fail: a deferred engine -> agents import and an importlib call
    by literal name are both found, and the first is not commented as deferred."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib\n"
        "def f():\n"
        "    from agents.app import build_app\n"
        "    return importlib.import_module('tools.store')\n"
    )
    monkeypatch.setitem(MODULES, "coordinator._probe", probe)
    found = {(i.target, i.deferred) for i in _imports("coordinator._probe")}
    assert found == {("agents.app", True), ("tools.store", True)}


_MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home/\w+|Users/\w+|tmp/pytest-of-\w+)/")


def test_no_path_of_a_developers_machine_in_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        binary = path.suffix in (".pkl", ".joblib", ".npz", ".png", ".woff2", ".ttf")
        if binary or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if _MACHINE_PATH.search(line) and "tests/test_architecture.py" not in name:
                offenders.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not offenders, "\n".join(offenders)


# --- the rooms of the engine (docs/architecture.md) ------------------------------------

# A room may import the rooms ranked at or below it, never above: serving may use routing,
# routing must not reach into serving. Top-level modules (`coordinator.errors`, `settings`,
# `events`, `state_keys`, `app_spec`, `deferred`) are shared; the API (`coordinator.api`)
# stands above the rooms it composes, and only cli/ and bench/ may import evaluation/.
ROOM_RANK = {
    "inputs": 0, "storage": 0,
    "models": 1,
    "parallel": 2,
    "routing": 3,
    "serving": 4, "evaluation": 4,
    "api": 5,
    "cli": 6, "bench": 6,
}
SHARED = {"errors", "settings", "events", "state_keys", "app_spec", "_warnings", "deferred"}


def _engine_room(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "coordinator" or len(parts) < 2:
        return None
    return parts[1]


def _room_violations(imports: list[Import]) -> list[Import]:
    crossing = []
    for imp in imports:
        a, b = _engine_room(imp.source), _engine_room(imp.target)
        if a is None or b is None or a == b or b in SHARED:
            continue
        if a in SHARED:
            # shared modules sit below every room: storage, inputs, and model names only
            if b not in ("storage", "inputs") and imp.target != "coordinator.models.model_names":
                crossing.append(imp)
        elif b == "evaluation" and a not in ("cli", "bench"):
            crossing.append(imp)  # measuring and retuning: never a runtime dependency
        elif {a, b} == {"cli", "bench"}:
            continue  # one front: `coordinator bench` dispatches, benches share its flags
        elif a in ROOM_RANK and b in ROOM_RANK and (
            ROOM_RANK[b] > ROOM_RANK[a] or (ROOM_RANK[b] == ROOM_RANK[a] and a != b)
        ):
            crossing.append(imp)
    return crossing


def test_engine_rooms_import_only_rooms_below_them():
    crossing = _room_violations(IMPORTS)
    assert not crossing, "\n".join(map(repr, crossing))


def test_the_room_rule_can_fail():
    probe = [
        Import("coordinator.routing.cascade", "coordinator.serving.sessions", 1, False),
        Import("coordinator.serving.sessions", "coordinator.routing.cascade", 1, False),
        Import("coordinator.api", "coordinator.evaluation.calibration", 1, True),
    ]
    assert [(i.source, i.target) for i in _room_violations(probe)] == [
        ("coordinator.routing.cascade", "coordinator.serving.sessions"),
        ("coordinator.api", "coordinator.evaluation.calibration"),
    ]


def test_every_engine_module_lives_in_a_room_or_is_shared():
    """A new flat module in coordinator/ must pick its room (or be declared shared)."""
    stray = [
        m for m in MODULES
        if _engine_room(m) is not None and _engine_room(m) not in ROOM_RANK
        and _engine_room(m) not in SHARED and m not in ("coordinator.__main__",)
    ]
    assert not stray, stray


def test_apps_use_only_the_public_api():
    """The support app (agents/) and the examples are built from `from coordinator import
    ...` alone: what they need is what any user's app can have."""
    sources = dict(MODULES)
    for path in sorted((ROOT / "examples").rglob("*.py")) if (ROOT / "examples").is_dir() else []:
        if "__pycache__" not in path.parts and ".adk" not in path.parts:
            sources[_module_name(path)] = path
    crossing = []
    for module, path in sources.items():
        if not module.startswith(("agents", "examples")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("coordinator."):
                    crossing.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not crossing, "\n".join(crossing)
