"""Bad configuration and hostile files, through the real CLI (a subprocess each time).

Every case must end with exit code 2, exactly one `error:` line on stderr naming the
setting, flag or file and what is wrong with it, and no traceback: invalid values of every
COORDINATOR_* setting (from the environment and from `.env`), unusable data dirs and
session stores, full and read-only disks, /dev/zero, FIFOs, symlink loops, directories.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from coordinator.settings import Settings

DOC = "1. Term. This Agreement lasts one year.\n2. Governing law. New York law governs.\n"
CSV = "text,route\nI was charged twice,billing\n"


def _cli(args, cwd: Path, env=None, stdin=None, drop=()) -> tuple[int, str]:
    """Run `python -m coordinator ARGS` offline in `cwd`; `drop` removes env keys."""
    full_env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "GEMINI_", "COORDINATOR_"))
    }
    full_env.update(COORDINATOR_MODE="offline", COORDINATOR_DATA_DIR=str(cwd / "data"))
    for key in drop:
        full_env.pop(key, None)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        cwd=cwd,
        env=full_env,
        stdin=stdin if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,  # a guard against hangs (FIFOs), not a speed assertion
    )
    return proc.returncode, proc.stderr


def _one_error(code: int, err: str, pattern: str) -> None:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert re.search(pattern, errors[0]), errors[0]
    assert code == 2, err


# --- hostile files ------------------------------------------------------------------------


@pytest.fixture
def hostile(tmp_path) -> dict[str, str]:
    """Paths that must each be refused in one line, and the words that must name why."""
    (tmp_path / "doc.txt").write_text(DOC)
    (tmp_path / "data.csv").write_text(CSV)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop_a").symlink_to("loop_b")
    (tmp_path / "loop_b").symlink_to("loop_a")
    (tmp_path / "adir").mkdir()
    return {
        "/dev/zero": "not a regular file",
        str(tmp_path / "fifo"): "FIFO",
        str(tmp_path / "loop_a"): "symlink loop",
        str(tmp_path / "adir"): "is a directory",
        str(tmp_path / "missing.txt"): "no such file|file not found",
    }


FILE_DOORS = {
    "review": lambda f: ["review", f],
    "routes-eval-data": lambda f: ["routes", "eval", "--data", f],
    "routes-train-data": lambda f: ["routes", "train", "--data", f, "--out", "model"],
    "review-rulebook": lambda f: ["review", "doc.txt", "--kind", "contract", "--rulebook", f],
    "review-security-rules": lambda f: ["review", "doc.txt", "--kind", "security", "--rulebook", f],
    "routes-file": lambda f: ["routes", "eval", "--data", "data.csv", "--routes", f],
}


@pytest.mark.parametrize("door", FILE_DOORS)
def test_hostile_files_are_refused_in_one_line(door, hostile, tmp_path):
    for path, why in hostile.items():
        code, err = _cli(FILE_DOORS[door](path), tmp_path)
        _one_error(code, err, f"{re.escape(path)}: .*({why})")


@pytest.mark.parametrize(
    ("name", "why"),
    [("loop_a", "symlink loop"), ("fifo", "not a trained router dir"), ("adir", "no manifest")],
)
def test_hostile_model_dirs_are_refused(name, why, hostile, tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    code, err = _cli(["routes", "eval", "--data", "data.csv", "--model", name], tmp_path)
    _one_error(code, err, why)


def test_unwritable_plot_path(tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    args = ["routes", "eval", "--data", "data.csv", "--plot", "/dev/null/confusion.png"]
    code, err = _cli(args, tmp_path)
    _one_error(code, err, "--plot /dev/null/confusion.png: cannot write")


def test_routes_file_from_settings_is_read_bounded(hostile, tmp_path):
    fifo = str(tmp_path / "fifo")
    code, err = _cli(["ask", "hello"], tmp_path, env={"COORDINATOR_ROUTES": fifo})
    _one_error(code, err, "fifo: a FIFO")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_named(tmp_path):
    doc = tmp_path / "secret.txt"
    doc.write_text(DOC)
    doc.chmod(0)
    code, err = _cli(["review", str(doc)], tmp_path)
    _one_error(code, err, "secret.txt: permission denied")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["ask", "-"], "standard input: more than .*COORDINATOR_MAX_REQUEST_CHARS"),
        (["review", "-"], "standard input: more than 1.0 MB"),
    ],
)
def test_endless_stdin_stops_at_the_limit(args, pattern, tmp_path):
    with open("/dev/zero", "rb") as zero:
        code, err = _cli(args, tmp_path, stdin=zero)
    _one_error(code, err, pattern)


# --- numeric flags ------------------------------------------------------------------------

BAD_FLAGS = [
    (["routes", "eval", "--data", "x.csv", "--threshold", "nan"], "--threshold: .*finite"),
    (["routes", "eval", "--data", "x.csv", "--threshold", "-0.5"], "--threshold: .*between"),
    (["routes", "eval", "--data", "x.csv", "--threshold", "inf"], "--threshold: .*finite"),
    (["routes", "train", "--out", "m", "--target-retention", "nan"], "--target-retention"),
    (["routes", "retune", "--max-new", "-1"], "--max-new: .*>= 0"),
    (["review", "doc.txt", "--max-bytes", "-1"], "--max-bytes: .*positive"),
    (
        ["review", "doc.txt", "--kind", "security", "--voters", "-3"],
        "--voters must be between 1 and",
    ),
    (["bench", "fanout", "--n", "-1"], "--n: .*positive"),
    (["bench", "fanout", "--latency", "nan"], "--latency: .*finite"),
    (["bench", "load", "--concurrency", "0"], "need --sessions, --concurrency"),
    (["bench", "voting", "--questions", "1e9"], "--questions: .*whole number"),
    (["bench", "load", "--replicas", "0"], "--replicas: .*replica counts 1-8"),
    (["bench", "load", "--replicas", "1,99"], "--replicas: .*replica counts 1-8"),
    (["bench", "load", "--replicas", "two"], "--replicas: .*replica counts"),
    (["bench", "load", "--replicas", "1,"], "--replicas: .*replica counts"),
    (["bench", "load", "--database-url", "http://db"], "--database-url: .*'sqlite' or a"),
    (["bench", "load", "--database-url", ""], "--database-url: .*'sqlite' or a"),
    (["bench", "load", "--replicas", "2", "--bystander"], "cannot be combined with"),
    (["bench", "load", "--replicas", "2", "--sessions", "0"], "need --sessions"),
]


@pytest.mark.parametrize(("args", "pattern"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_nan_inf_and_negative_flags_exit_2(args, pattern, tmp_path):
    (tmp_path / "doc.txt").write_text(DOC)
    code, err = _cli(args, tmp_path)
    _one_error(code, err, pattern)


def test_bench_replicas_on_an_unreachable_database_exit_2_without_the_password(tmp_path):
    url = f"postgresql+psycopg://bench:s3cret@127.0.0.1:{_closed_port()}/none"
    code, err = _cli(["bench", "load", "--replicas", "1", "--database-url", url], tmp_path)
    _one_error(code, err, r"coordinator serve at http://127\.0\.0\.1:\d+ exited with 2")
    assert "s3cret" not in err


def test_serve_on_an_unreachable_database_exits_2_instead_of_serving_500s(tmp_path):
    """Before: /health said ok and every session request was a 500 with the driver's text."""
    keys = tmp_path / "keys.txt"
    keys.write_text("alice " + "0" * 64 + "\n")
    url = f"postgresql+psycopg://app:s3cret-pw@127.0.0.1:{_closed_port()}/db"
    env = {"COORDINATOR_DATABASE_URL": url, "COORDINATOR_API_KEYS_FILE": str(keys)}
    code, err = _cli(["serve", "--port", str(_closed_port())], tmp_path, env=env)
    _one_error(code, err, "COORDINATOR_DATABASE_URL=.*cannot connect: .*refused")
    assert "s3cret-pw" not in err


# --- settings -----------------------------------------------------------------------------

# Every COORDINATOR_* key with a value it must refuse, and what the error must say.
BAD_SETTINGS = {
    "COORDINATOR_MODE": ("bogus", "'auto', 'offline' or 'gemini'"),
    "COORDINATOR_GEMINI_BASE_URL": ("ftp://example", "http"),
    "COORDINATOR_MODEL_FAST": ("", "at least 1 character"),
    "COORDINATOR_MODEL_STRONG": ("", "at least 1 character"),
    "COORDINATOR_MODEL_ROUTER": ("", "at least 1 character"),
    "COORDINATOR_ENCODER": ("bogus", "'wordllama' or 'gemini'"),
    "COORDINATOR_EMBEDDING_MODEL": ("", "at least 1 character"),
    "COORDINATOR_ROUTER": ("bogus", "'auto', 'embedding'"),
    "COORDINATOR_ROUTER_THRESHOLD": ("nan", "finite"),
    "COORDINATOR_LOG_TEXT": ("maybe", "boolean"),
    "COORDINATOR_MAX_CONCURRENCY": ("abc", "integer"),
    "COORDINATOR_BRANCH_TIMEOUT": ("-1", "greater than 0"),
    "COORDINATOR_BRANCH_RETRIES": ("-1", "greater than or equal to 0"),
    "COORDINATOR_MAX_REQUEST_CHARS": ("0", "greater than or equal to 1"),
    "COORDINATOR_MAX_LLM_CALLS_CAP": ("inf", "integer"),
    "COORDINATOR_SIDE_EFFECT_TOOLS": ("refund-now", "not tool names"),
    "COORDINATOR_APP": ("agents.app", "expected 'package.module:function'"),
    "COORDINATOR_LITELLM_API_BASE": ("localhost:4000", "match pattern"),
    "COORDINATOR_LITELLM_API_KEY": ("", "at least 1 character"),
    "COORDINATOR_CLARIFY": ("maybe", "boolean"),
    "COORDINATOR_CLARIFY_MARGIN": ("2", "less than or equal to 1"),
    "COORDINATOR_MAX_SECTIONS": ("0", "greater than or equal to 1"),
    "COORDINATOR_JWT_SECRET": ("short", "at least 32 characters"),
    "COORDINATOR_JWT_ISSUER": ("", "at least 1 character"),
    "COORDINATOR_JWT_AUDIENCE": ("", "at least 1 character"),
    "COORDINATOR_JWT_ALGORITHMS": ("none", "none"),
    "COORDINATOR_JWT_USER_CLAIM": ("", "at least 1 character"),
    "COORDINATOR_RATE_PER_MINUTE": ("nan", "greater than 0"),
    "COORDINATOR_RATE_BURST": ("0", "greater than or equal to 1"),
    "COORDINATOR_USER_CONCURRENCY": ("0", "greater than or equal to 1"),
    "COORDINATOR_HEAVY_CONCURRENCY": ("many", "integer"),
    "COORDINATOR_HEAVY_BYTES": ("0", "greater than or equal to 1"),
    "COORDINATOR_HEAVY_OFFLOAD": ("maybe", "boolean"),
    "COORDINATOR_MAX_BODY_BYTES": ("-5", "greater than or equal to 1"),
    "COORDINATOR_MAX_STATE_DELTA_BYTES": ("-1", "greater than or equal to 0"),
    "COORDINATOR_MAX_STATE_DELTA_KEYS": ("1.5", "integer"),
    "COORDINATOR_BODY_TIMEOUT": ("-1", "greater than 0"),
    "COORDINATOR_HEADER_TIMEOUT": ("-1", "greater than 0"),
    "COORDINATOR_MAX_SESSIONS_PER_USER": ("0", "greater than or equal to 1"),
    "COORDINATOR_DATABASE_URL": ("garbage", "not a database URL"),
}
# Path settings: checked where they are used (an `ask` builds everything).
PATH_SETTINGS = {
    "COORDINATOR_ROUTES": ("{tmp}/fifo", "fifo: a FIFO"),
    "COORDINATOR_ROUTER_MODEL": ("{tmp}/adir", "adir: no manifest.json"),
    "COORDINATOR_DATA_DIR": ("{tmp}/doc.txt", "COORDINATOR_DATA_DIR=.*not a directory"),
    "COORDINATOR_SESSION_DB": ("sqlite:////nonexistent-dir/s.db", "COORDINATOR_SESSION_DB="),
}
# Path settings only `coordinator serve` reads: checked before it binds a port.
SERVE_PATH_SETTINGS = {
    "COORDINATOR_API_KEYS_FILE": ("{tmp}/missing-keys.txt", "missing-keys.txt"),
    "COORDINATOR_JWT_KEYS_FILE": ("{tmp}/missing-jwks.json", "missing-jwks.json"),
}


def test_every_coordinator_setting_has_a_bad_value_case():
    keys = {f.alias for f in Settings.model_fields.values() if f.alias}
    ours = {k for k in keys if k.startswith("COORDINATOR_")}
    assert ours == set(BAD_SETTINGS) | set(PATH_SETTINGS) | set(SERVE_PATH_SETTINGS)


@pytest.mark.parametrize("source", ["env", "dotenv"])
@pytest.mark.parametrize("key", BAD_SETTINGS)
def test_invalid_setting_is_named_in_one_line(key, source, tmp_path):
    value, why = BAD_SETTINGS[key]
    (tmp_path / "doc.txt").write_text(DOC)
    env, drop = {}, ()
    if source == "env":
        env[key] = value
    else:  # the key only in .env (the test's COORDINATOR_MODE=offline would win)
        (tmp_path / ".env").write_text(f"{key}={value}\n")
        drop = (key,)
    code, err = _cli(["review", "doc.txt"], tmp_path, env=env, drop=drop)
    _one_error(code, err, f"invalid setting {key}=.*{re.escape(why)}")


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("nosuch_app.agents:build_app", "no module 'nosuch_app.agents'"),
        ("agents.app:no_such_factory", "has no function 'no_such_factory'"),
        ("coordinator.errors:UsageError", "returned UsageError, not an AppSpec"),
    ],
)
@pytest.mark.parametrize("command", ["ask", "review"])
def test_an_app_that_cannot_be_loaded_is_named_in_one_line(target, why, command, tmp_path):
    """COORDINATOR_APP is well formed but names nothing usable: refused where it is loaded."""
    (tmp_path / "doc.txt").write_text(DOC)
    args = ["ask", "I was charged twice"] if command == "ask" else ["review", "doc.txt"]
    code, err = _cli(args, tmp_path, env={"COORDINATOR_APP": target})
    _one_error(code, err, f"invalid setting COORDINATOR_APP=.*{re.escape(why)}")


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("not a url", "not a database URL"),
        ("mysql://app:s3cret-pw@127.0.0.1/db", "unsupported database 'mysql'"),
        ("sqlite://", "in-memory SQLite database cannot be shared"),
        ("postgresql://app:s3cret-pw@127.0.0.1:{port}/db", "cannot connect: .*refused"),
        ("postgresql+psycopg://app:s3cret-pw@127.0.0.1:notaport/db", "unusable database URL"),
    ],
)
def test_bad_database_url_is_one_line_without_the_password(url, why, tmp_path):
    url = url.format(port=_closed_port())
    code, err = _cli(["ask", "I was charged twice"], tmp_path,
                     env={"COORDINATOR_DATABASE_URL": url})
    _one_error(code, err, f"COORDINATOR_DATABASE_URL=.*{why}")
    assert "s3cret-pw" not in err


@pytest.mark.parametrize("key", PATH_SETTINGS)
def test_unusable_path_setting_is_named_in_one_line(key, hostile, tmp_path):
    value, why = PATH_SETTINGS[key]
    code, err = _cli(["ask", "hello"], tmp_path, env={key: value.format(tmp=tmp_path)})
    _one_error(code, err, why)


@pytest.mark.parametrize("key", SERVE_PATH_SETTINGS)
def test_unusable_serve_path_setting_is_named_in_one_line(key, tmp_path):
    value, why = SERVE_PATH_SETTINGS[key]
    env = {key: value.format(tmp=tmp_path)}
    if key == "COORDINATOR_JWT_KEYS_FILE":
        env["COORDINATOR_JWT_ALGORITHMS"] = "RS256"
    with socket.socket() as sock:  # a free port: were the check missing, serve would start
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, err = _cli(["serve", "--port", str(port)], tmp_path, env=env)
    _one_error(code, err, why)


def test_data_dir_under_a_missing_parent_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "file" / "sub" / "data"
    code, err = _cli(["ask", "hello"], tmp_path, env={"COORDINATOR_DATA_DIR": str(bad)})
    _one_error(code, err, "COORDINATOR_DATA_DIR=.*unusable data dir")


@pytest.mark.parametrize("out", ["/dev/null/model", "{tmp}/doc.txt"])
def test_bad_out_for_routes_train(out, tmp_path):
    (tmp_path / "doc.txt").write_text(DOC)
    code, err = _cli(["routes", "train", "--out", out.format(tmp=tmp_path)], tmp_path)
    _one_error(code, err, "--out .*cannot write there")


# --- full and read-only disks -------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 kB tmpfs (full after the first SQLite pages); skipped where mount is refused."""
    mounts = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        target.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
            capture_output=True,
        )
        if proc.returncode != 0:
            pytest.skip("mounting a tmpfs is not permitted here")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", str(target)], check=False)


def test_full_disk_under_the_data_dir(tiny_disk, tmp_path):
    full = tiny_disk("full", "size=64k")
    code, err = _cli(
        ["ask", "I was charged twice"], tmp_path, env={"COORDINATOR_DATA_DIR": str(full)}
    )
    _one_error(code, err, "storage: .*(disk is full|disk full|No space)")


def test_read_only_data_dir(tiny_disk, tmp_path):
    ro = tiny_disk("ro", "size=64k,ro")
    code, err = _cli(["ask", "hello"], tmp_path, env={"COORDINATOR_DATA_DIR": str(ro / "d")})
    _one_error(code, err, "COORDINATOR_DATA_DIR=.*read-only file system")


def test_routes_train_out_on_a_read_only_disk(tiny_disk, tmp_path):
    ro = tiny_disk("ro", "size=64k,ro")
    code, err = _cli(["routes", "train", "--out", str(ro / "model")], tmp_path)
    _one_error(code, err, "--out .*cannot write there: Read-only file system")


def test_routes_train_out_on_a_full_disk(tiny_disk, tmp_path):
    full = tiny_disk("full", "size=16k")
    code, err = _cli(["routes", "train", "--out", str(full / "model")], tmp_path)
    _one_error(code, err, "--out .*cannot write the model: No space left on device")
    assert not (full / "model" / "manifest.json").exists()  # never looks like a model


def test_full_disk_at_the_os_boundary_without_mount(tmp_path):
    """Where tmpfs cannot be mounted: every SQLite open fails as a full disk would."""
    script = (
        "import sqlite3, sys\n"
        "def full(*a, **k):\n"
        "    raise sqlite3.OperationalError('database or disk is full')\n"
        "sqlite3.connect = full\n"
        "from coordinator.cli import main\n"
        "sys.exit(main(['ask', 'I was charged twice']))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "COORDINATOR_"))}
    env.update(COORDINATOR_MODE="offline", COORDINATOR_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    _one_error(proc.returncode, proc.stderr, "storage: database or disk is full")


# --- the Python API -------------------------------------------------------------------------


def test_python_api_names_a_bad_setting(monkeypatch):
    from coordinator import ConfigError, Coordinator
    from coordinator.settings import reset_settings

    monkeypatch.setenv("COORDINATOR_MAX_CONCURRENCY", "abc")
    reset_settings()
    with pytest.raises(ConfigError, match="invalid setting COORDINATOR_MAX_CONCURRENCY='abc'"):
        Coordinator()


def test_python_api_names_an_unusable_data_dir(monkeypatch, tmp_path):
    from coordinator import ConfigError, Coordinator
    from coordinator.settings import reset_settings

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("COORDINATOR_DATA_DIR", str(tmp_path / "a-file"))
    reset_settings()
    with pytest.raises(ConfigError, match=r"COORDINATOR_DATA_DIR=.*not a directory"):
        Coordinator(warm_up=False)
