"""Run `adk web` / `adk api_server` as a real subprocess for end-to-end tests.

Why a subprocess and not the FastAPI app in-process: the point of these tests is that the
commands a person types work, with their own process, port and session store. The harness
isolates everything the server could write (HOME for ADK's ~/.adk telemetry files, the
coordinator's data dir, the session database) into a temp dir, forces offline mode, and
always kills the whole process group, even when a test fails half-way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

__all__ = [
    "ADK_WEB_DIR",
    "REPO_ROOT",
    "AdkServer",
    "adk_executable",
    "coordinator_executable",
    "free_port",
    "launch",
    "require_adk",
    "run_adk_server",
    "run_coordinator_serve",
    "server_env",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
ADK_WEB_DIR = REPO_ROOT / "adk_web"

# Variables that would switch the server to Gemini or another backend; tests run offline.
_CREDENTIAL_VARS = (
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "COORDINATOR_GEMINI_BASE_URL",
)


def adk_executable() -> str | None:
    """The `adk` console script of this interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "adk"
    if beside.exists():
        return str(beside)
    return shutil.which("adk")


def require_adk() -> str:
    """Skip the calling test when the `adk` CLI is not installed."""
    exe = adk_executable()
    if exe is None:
        pytest.skip("the `adk` command is not installed (pip install google-adk)")
    return exe


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(workdir: Path) -> dict[str, str]:
    """Environment for a server subprocess: offline, private data dir and HOME, no credentials."""
    env = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARS}
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),  # ADK keeps telemetry consent and queues under ~/.adk
        COORDINATOR_MODE="offline",
        COORDINATOR_DATA_DIR=str(workdir / "data"),
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


class AdkServer:
    """One running `adk` server process; `base_url` is where it listens."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's combined stdout/stderr, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    def wait_ready(self, timeout: float, path: str = "/list-apps") -> None:
        """Poll GET `path` until it answers 200, the process dies, or time runs out."""
        deadline = time.monotonic() + timeout
        last_error = "no answer yet"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"adk server exited with {self.proc.returncode} before it was ready:\n"
                        + self.log_tail()
                    )
                try:
                    resp = client.get(f"{self.base_url}{path}")
                    if resp.status_code == 200:
                        return
                    last_error = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    last_error = repr(exc)
                time.sleep(0.1)
        raise TimeoutError(
            f"adk server not ready after {timeout:.0f} s ({last_error}):\n" + self.log_tail()
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group (uvicorn shuts down gracefully), then SIGKILL if it lingers.

        SIGTERM rather than SIGINT: after SIGINT the `adk` click wrapper spends seconds
        aborting, while SIGTERM exits right after uvicorn's graceful shutdown.
        """
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


@contextmanager
def run_adk_server(
    command: str,
    workdir: Path,
    *,
    agents_dir: Path = ADK_WEB_DIR,
    extra_args: Sequence[str] = (),
    port: int | None = None,
    ready_timeout: float = 60.0,
    log_name: str | None = None,
) -> Iterator[AdkServer]:
    """Start `adk <command> <agents_dir>` on a free loopback port; stop it on exit, always.

    `command` is "web" or "api_server". The server's cwd is `workdir`, so nothing it writes
    by default lands in the checkout.
    """
    exe = require_adk()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = workdir / (log_name or f"adk-{command}-{port}.log")
    args = [
        exe,
        command,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-reload",
        *extra_args,
        str(agents_dir),
    ]
    with launch(args, workdir, port, log_path, ready_timeout=ready_timeout) as server:
        yield server


@contextmanager
def launch(
    args: Sequence[str],
    workdir: Path,
    port: int,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    ready_timeout: float = 90.0,
    ready_path: str = "/list-apps",
) -> Iterator[AdkServer]:
    """Start a server process (output to `log_path`), wait until it answers, always stop it."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(args),
            cwd=workdir,
            env=env if env is not None else server_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: one killpg stops it all
        )
    server = AdkServer(proc, port, log_path)
    try:
        server.wait_ready(ready_timeout, path=ready_path)
        yield server
    finally:
        server.stop()


def coordinator_executable() -> list[str]:
    """`coordinator` as this interpreter runs it (no reliance on PATH)."""
    return [sys.executable, "-m", "coordinator"]


@contextmanager
def run_coordinator_serve(
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 90.0,
    log_name: str = "serve.log",
) -> Iterator[AdkServer]:
    """Start `coordinator serve` on a free loopback port; ready when GET /health answers."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / log_name
    args = [
        *coordinator_executable(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *extra_args,
    ]
    full_env = {**server_env(workdir), **(env or {})}
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    with launch(
        args,
        workdir,
        port,
        log_path,
        env=full_env,
        ready_timeout=ready_timeout,
        ready_path="/health",
    ) as server:
        yield server
