"""Test-wide guards: offline settings, a private data dir, and no network but loopback."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from coordinator.settings import reset_settings
from tests.postgres_cluster import (  # noqa: F401  (fixtures: a throwaway PostgreSQL)
    _postgres_cluster,
    fresh_database_url,
    postgres_url,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request, tmp_path) -> str:
    """A database URL for each backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("fresh_database_url")


def _is_loopback(address) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any connection to a non-loopback address fails the test that made it."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def _offline_settings(monkeypatch, tmp_path):
    """Each test gets offline mode and its own data dir, whatever the developer's .env says."""
    for key in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI",
                "GOOGLE_CLOUD_PROJECT", "COORDINATOR_GEMINI_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("COORDINATOR_MODE", "offline")
    monkeypatch.setenv("COORDINATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # a stray .env in the checkout must not leak in
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="module")
def _root():
    """The real coordinator tree, built once per test module (it takes a second)."""
    from agents.coordinator.agent import build_root_agent

    return build_root_agent()


@pytest.fixture
def coordinator(_root):
    """A Coordinator over the shared tree, with this test's own sessions and data dir."""
    from agents.coordinator.agent import build_plugins
    from coordinator import Coordinator

    # the support app's own plugins and name, as Coordinator() with no agent gives them
    return Coordinator(_root, warm_up=False, plugins=build_plugins(), app_name="support")
