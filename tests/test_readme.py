"""The README runs as written: each ```python block in a fresh interpreter (offline, a
temp data dir), and its demo-data table is the store's seed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.store import _CUSTOMERS, _DUPLICATE_CHARGE_USERS, _ORDERS, format_money

README = Path(__file__).resolve().parent.parent / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", TEXT, re.S | re.M)


def test_the_readme_has_a_sync_and_an_asyncio_example():
    assert len(BLOCKS) >= 3
    assert any("asyncio.run(main())" in b for b in BLOCKS)
    assert any("c.ask(" in b and "await" not in b for b in BLOCKS)


def test_use_it_on_your_own_agents_is_short():
    section = TEXT.split("### Use it on your own agents", 1)[1].split("\n### ", 1)[0]
    assert len(section.strip().splitlines()) <= 30
    assert "with_routing" in section and "FanOutAgent" in section


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_python_block_runs_as_written(index, tmp_path):
    script = tmp_path / f"readme_{index}.py"
    script.write_text(BLOCKS[index], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GEMINI_"))}
    env.update(COORDINATOR_MODE="offline", COORDINATOR_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    if "asyncio.run(main())" in BLOCKS[index]:
        lines = out.splitlines()
        assert lines[0].startswith("technical_support ")
        assert lines[-1].startswith("final billing ")  # the stream ends with its answer
    elif "with_routing" in BLOCKS[index]:  # "Use it on your own agents"
        lines = out.splitlines()
        assert lines[0] == "vpn embedding"  # routed by the description, no model call
        assert lines[1:] == ["Part one. More.", "", "Part two. Detail."]  # both sections
    else:
        assert out.startswith("billing classifier")
        assert "INV-" in out and "\nrefund " in out


def _seed_table() -> list[str]:
    rows = []
    for user_id, name, _email, plan, currency, _method, fee in _CUSTOMERS:
        orders = "; ".join(
            f"{oid} {item} {format_money(cents, currency)}, {days} days, {status}"
            for oid, owner, item, cents, days, status in _ORDERS
            if owner == user_id
        )
        twice = "yes" if user_id in _DUPLICATE_CHARGE_USERS else "no"
        rows.append(
            f"| `{user_id}` | {name} | {plan}, {format_money(fee, currency)} | {twice} | {orders} |"
        )
    return rows


def test_readme_demo_users_table_matches_the_store_seed():
    section = TEXT.split("### Demo data", 1)[1].split("\n### ", 1)[0]
    table = [line for line in section.splitlines() if line.startswith("| `")]
    assert table == _seed_table()


def test_setup_puts_the_venv_commands_on_path():
    setup = TEXT.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    assert "source .venv/bin/activate" in setup
    for line in re.findall(r"```bash\n(.*?)```", setup, re.S):
        for cmd in ("adk ", "coordinator ", "pytest"):
            for hit in re.finditer(re.escape(cmd), line):
                before = line[max(0, hit.start() - 10) : hit.start()]
                assert before.endswith((".venv/bin/", "-m ", "`")) or "activate" in line, line
