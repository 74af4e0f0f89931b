"""`coordinator serve` processes for the HTTP benchmarks, and their latency percentiles.

The load benchmarks measure real servers: each starts its own `coordinator serve`
subprocesses on free loopback ports, waits for `/health`, and always stops them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coordinator.errors import UsageError

__all__ = ["free_port", "percentile", "serve_processes"]


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (nearest rank) of `values`, 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 1)


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return lines[-1].removeprefix("coordinator: error: ")[:300] if lines else "no output"


@contextmanager
def serve_processes(
    workdir: Path, n: int, env: dict[str, str], *, ready_timeout: float = 180.0
) -> Iterator[list[str]]:
    """Start `n` `coordinator serve` processes at once with `env` (the whole environment);
    yield their base URLs once each answers `/health`; stop them, always.

    A process that exits or never answers is a `UsageError` quoting its last log line
    (almost always a setting: a bad database URL, no credentials)."""
    import httpx  # deferred: `coordinator bench` imports every benchmark for its parser

    procs: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for i in range(n):
            port = free_port()
            log_path = workdir / f"serve-{i}-{port}.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "coordinator", "serve",
                     "--host", "127.0.0.1", "--port", str(port)],
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append((proc, f"http://127.0.0.1:{port}", log_path))
        deadline = time.monotonic() + ready_timeout
        for proc, base, log_path in procs:
            while True:
                if proc.poll() is not None:
                    raise UsageError(
                        f"coordinator serve at {base} exited with {proc.returncode}: "
                        + _last_line(log_path)
                    )
                try:
                    if httpx.get(f"{base}/health", timeout=2, trust_env=False).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise UsageError(
                        f"coordinator serve at {base} did not start in {ready_timeout:.0f} s"
                    )
                time.sleep(0.1)
        yield [base for _, base, _ in procs]
    finally:
        for proc, _, _ in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc, _, _ in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
