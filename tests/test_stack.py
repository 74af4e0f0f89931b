"""The deployment files run as written: compose's replica settings on PostgreSQL behind nginx.

`compose.yaml` cannot run here (no container runtime in CI), so this test runs what it
describes with the same values: two `coordinator serve` processes started with the compose
file's own command line and environment (only the database URL, keys file and ports are
swapped for the test's), on a throwaway PostgreSQL cluster, behind nginx configured by
`deploy/nginx.conf` itself (upstream names and the listen port rewritten to loopback). A
session's turns go through nginx, land on both replicas, and read back as one history.
The Cloud Run form of the database URL (a Unix socket directory in `?host=`) is exercised
against the same cluster's socket.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from coordinator.settings import Settings
from tests._servers import REPO_ROOT, AdkServer, free_port, launch, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

COMPOSE = REPO_ROOT / "compose.yaml"
NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"
DOCKERFILE = REPO_ROOT / "Dockerfile"
KEY = "stack-test-key-0123456789abcdef"


def _compose_replica() -> dict[str, Any]:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    replicas = [s for name, s in services.items() if name.startswith("coordinator-")]
    assert len(replicas) == 2, "compose.yaml runs two replicas"
    assert replicas[0] == replicas[1], "both replicas are configured alike"
    return replicas[0]


def _dockerfile_env() -> dict[str, str]:
    """The `ENV k=v \\ k=v` block of the Dockerfile."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    block = re.search(r"^ENV (.+)$", text, re.M)
    assert block, "the Dockerfile sets the replica's environment"
    return dict(pair.split("=", 1) for pair in block.group(1).split())


def _known_settings() -> set[str]:
    return {f.alias for f in Settings.model_fields.values() if f.alias}


def test_every_setting_in_the_deployment_files_is_a_real_setting():
    """A typo in compose.yaml or the Dockerfile would silently fall back to a default."""
    env = {**_dockerfile_env(), **_compose_replica()["environment"]}
    ours = {k for k in env if k.startswith("COORDINATOR_")}
    assert ours >= {"COORDINATOR_DATABASE_URL", "COORDINATOR_API_KEYS_FILE", "COORDINATOR_MODE"}
    assert ours <= _known_settings(), ours - _known_settings()
    url = _compose_replica()["environment"]["COORDINATOR_DATABASE_URL"]
    assert url.startswith("postgresql+psycopg://")


def _serve_args(command: list[str], port: int) -> list[str]:
    """compose's `coordinator serve ...` with loopback host and a free port."""
    assert command[:2] == ["coordinator", "serve"]
    args = list(command[2:])
    for flag, value in (("--host", "127.0.0.1"), ("--port", str(port))):
        args[args.index(flag) + 1] = value
    return [sys.executable, "-m", "coordinator", "serve", *args]


@contextmanager
def _replicas(tmp_path: Path, database_url: str) -> Any:
    replica = _compose_replica()
    keys = tmp_path / "keys.txt"
    keys.write_text(f"alice {hashlib.sha256(KEY.encode()).hexdigest()}\n")
    with ExitStack() as stack:
        servers: list[AdkServer] = []
        for name in ("a", "b"):
            workdir = tmp_path / f"replica-{name}"
            workdir.mkdir()
            env = server_env(workdir)
            env.update(_dockerfile_env())
            env.update(replica["environment"])
            env.update(
                COORDINATOR_DATA_DIR=str(workdir / "data"),  # nothing shared through files
                COORDINATOR_DATABASE_URL=database_url,
                COORDINATOR_API_KEYS_FILE=str(keys),
                PYTHONPATH=str(REPO_ROOT),
            )
            port = free_port()
            servers.append(
                stack.enter_context(
                    launch(
                        _serve_args(replica["command"], port),
                        workdir,
                        port,
                        workdir / "serve.log",
                        env=env,
                        ready_path="/health",
                    )
                )
            )
        yield servers


def _nginx() -> str:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed: .ci/run installs it")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return exe


@contextmanager
def _nginx_in_front(tmp_path: Path, servers: list[AdkServer]) -> Any:
    conf = NGINX_CONF.read_text()
    names = re.findall(r"server (coordinator-[ab]):8080;", conf)
    assert names == ["coordinator-a", "coordinator-b"]
    for name, server in zip(names, servers, strict=True):
        conf = conf.replace(f"server {name}:8080;", f"server 127.0.0.1:{server.port};")
    port = free_port()
    assert conf.count("listen 8080;") == 1
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    conf = f"pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n" + conf
    if os.geteuid() == 0:
        conf = "user root;\n" + conf  # temp files under the test's own prefix
    path = prefix / "nginx.conf"
    path.write_text(conf)
    check = subprocess.run([_nginx(), "-t", "-p", str(prefix), "-c", str(path)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    with launch(
        [_nginx(), "-p", str(prefix), "-c", str(path), "-g", "daemon off;"],
        tmp_path,
        port,
        prefix / "logs" / "stdout.log",
        env=dict(os.environ),
        ready_path="/health",
    ) as proxy:
        yield proxy


def _turn(client: httpx.Client, base: str, session: str, text: str) -> httpx.Response:
    return client.post(
        f"{base}/run",
        json={
            "appName": "support",
            "userId": "alice",
            "sessionId": session,
            "newMessage": {"role": "user", "parts": [{"text": text}]},
        },
    )


def test_compose_stack_serves_one_session_from_both_replicas(tmp_path, fresh_database_url):
    with _replicas(tmp_path, fresh_database_url) as servers, _nginx_in_front(
        tmp_path, servers
    ) as proxy, httpx.Client(
        timeout=120, trust_env=False, headers={"Authorization": f"Bearer {KEY}"}
    ) as client:
        base = proxy.base_url
        created = client.post(f"{base}/apps/support/users/alice/sessions/s1", json={})
        assert created.status_code == 200
        upstreams = set()
        asks = ["show my last invoice", "which orders do I have?", "how do I reset my password?",
                "show my last invoice"]
        for text in asks:
            resp = _turn(client, base, "s1", text)
            assert resp.status_code == 200, resp.text
            assert resp.json(), "the turn produced events"
            upstreams.add(resp.headers["X-Upstream"])
        assert upstreams == {f"127.0.0.1:{s.port}" for s in servers}, upstreams

        # The same history, whichever replica reads it.
        histories = []
        for server in servers:
            got = client.get(f"{server.base_url}/apps/support/users/alice/sessions/s1")
            assert got.status_code == 200
            histories.append([e["id"] for e in got.json()["events"]])
        assert histories[0] == histories[1]
        user_turns = [
            e for e in got.json()["events"] if e.get("author") == "user"
        ]
        assert [e["content"]["parts"][0]["text"] for e in user_turns] == asks

        # Streaming passes through the proxy as events, ending with the final answer.
        with client.stream(
            "POST",
            f"{base}/run_sse",
            json={
                "appName": "support",
                "userId": "alice",
                "sessionId": "s1",
                "newMessage": {"role": "user", "parts": [{"text": "show my last invoice"}]},
                "streaming": True,
            },
        ) as stream:
            assert stream.status_code == 200
            data = [line for line in stream.iter_lines() if line.startswith("data:")]
        assert data and "invoice" in data[-1].lower()

        # No credentials through the proxy: the replica's 401, not a proxy page.
        anonymous = httpx.post(f"{base}/run", json={}, trust_env=False, timeout=30)
        assert anonymous.status_code == 401


def test_cloud_run_socket_url_form_reaches_the_database(
    tmp_path, fresh_database_url, _postgres_cluster
):
    """Cloud SQL's connector is a Unix socket directory: `...@/db?host=/cloudsql/...`."""
    database = fresh_database_url.rsplit("/", 1)[1]
    cluster = _postgres_cluster
    url = (
        f"postgresql+psycopg://postgres@/{database}"
        f"?host={cluster.sockdir}&port={cluster.port}"
    )
    workdir = tmp_path / "cli"
    workdir.mkdir()
    env = server_env(workdir)
    env.update(COORDINATOR_DATABASE_URL=url, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "coordinator", "ask", "show my last invoice", "--user", "alice"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "invoice" in done.stdout.lower()
    import sqlalchemy as sa

    engine = sa.create_engine(fresh_database_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        assert {"customers", "invoices", "sessions", "events"} <= tables, tables
        assert conn.execute(sa.text("select count(*) from events")).scalar() >= 2
    engine.dispose()


@pytest.mark.parametrize(
    "url, ok",
    [
        ("postgresql+psycopg://u:pw@/coordinator?host=/cloudsql/p:r:i", True),
        ("postgresql://u@/coordinator?sslmode=disable&host=/var/run/pg", True),
        ("postgresql+psycopg://u:pw@/coordinator", False),
        ("postgresql+psycopg://u:pw@/coordinator?host=", False),
    ],
)
def test_a_socket_directory_counts_as_the_host(url, ok):
    from coordinator.errors import ConfigError
    from coordinator.storage.database import normalize_url

    if ok:
        assert normalize_url(url).startswith("postgresql+psycopg://")
    else:
        with pytest.raises(ConfigError, match="names no host") as err:
            normalize_url(url)
        assert "pw" not in str(err.value)

