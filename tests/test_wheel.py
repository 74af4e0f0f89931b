"""The wheel a user installs holds everything the code reads, and works from anywhere.

The wheel is built from a clean copy of the tracked files (a build in the checkout would
reuse `build/lib`, where a module moved away since can linger), checked against the
tracked data files of every package (so a package-data glob that misses a file fails
here, not on a user's machine), installed with `pip install --target` into a bare
directory, and asked a question from another directory with only that directory and the
environment's dependencies on the path (`python -S`: no .pth files, so the editable
install of the checkout cannot answer instead).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests._servers import REPO_ROOT, server_env

pytestmark = pytest.mark.slow

PACKAGES = ("coordinator", "agents", "tools", "adk_web")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in out.stdout.splitlines() if (REPO_ROOT / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in _tracked():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        cwd=src, check=True, capture_output=True, timeout=600,
    )
    (built,) = out.glob("adk_coordinator-*.whl")
    return built


def test_the_wheel_holds_every_data_file_the_packages_track(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tracked = [n for n in _tracked() if n.split("/")[0] in PACKAGES]
    missing = [n for n in tracked if n not in names]
    assert not missing, "not in the wheel (pyproject package-data):\n" + "\n".join(missing)
    # what the runtime loads by path, named explicitly so a rename cannot hide it
    for needed in (
        "agents/routes.yaml",
        "agents/clarify_margin.json",
        "agents/contract_review/data/cuad_corpus/presence_model.npz",
        "agents/contract_review/data/cuad_corpus/classifier.npz",
        "agents/contract_review/data/rulebook.yaml",
        "agents/security_review/data/security_rules.yaml",
        "tools/data/refund_policy.yaml",
        "tools/data/kb/account-locked.md",
        "adk_web/support/agent.py",
    ):
        assert needed in names
    stray = [n for n in names if "__pycache__" in n or "/.adk/" in n or n.startswith("tests/")]
    assert not stray, stray
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "coordinator = coordinator.cli:main" in zipfile.ZipFile(wheel).read(
        entry_points).decode()


def test_the_installed_wheel_answers_from_another_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, capture_output=True, timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = server_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(target), sysconfig.get_paths()["purelib"],
                                         sysconfig.get_paths()["platlib"]])
    python = [sys.executable, "-S"]  # no site: the checkout's editable install stays out
    where = subprocess.run(
        [*python, "-c", "import coordinator, agents; print(coordinator.__file__, agents.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )
    assert where.stdout.split() == [str(target / "coordinator" / "__init__.py"),
                                    str(target / "agents" / "__init__.py")]
    ask = subprocess.run(
        [*python, "-m", "coordinator", "ask", "what is my balance"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600,
    )
    assert ask.returncode == 0, ask.stderr[-3000:]
    assert "INV-" in ask.stdout  # answered from the store's seed invoices
    assert "-- billing via classifier" in ask.stderr  # the route line goes to stderr
