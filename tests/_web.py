"""Run `coordinator web` (ADK's dev UI + local icon fonts) as a real subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests._servers import ADK_WEB_DIR, AdkServer, free_port, launch

__all__ = ["run_coordinator_web"]


@contextmanager
def run_coordinator_web(workdir: Path, ready_timeout: float = 60.0) -> Iterator[AdkServer]:
    """`coordinator web` on a free loopback port with in-memory sessions; always stopped."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / f"coordinator-web-{port}.log"
    args = [
        sys.executable,
        "-m",
        "coordinator",
        "web",
        "--port",
        str(port),
        "--agents-dir",
        str(ADK_WEB_DIR),
        "--session-service-uri",
        "memory://",
        "--artifact-service-uri",
        "memory://",
    ]
    with launch(args, workdir, port, log_path, ready_timeout=ready_timeout) as server:
        yield server
