"""A throwaway PostgreSQL cluster for tests: real server, loopback only, gone afterwards.

`PostgresCluster` runs initdb + `pg_ctl -w start` in a temp dir on a free 127.0.0.1 port with
trust auth on loopback only and the unix socket inside the temp dir, so nothing of the machine's
own PostgreSQL is touched. initdb refuses to run as root, so as root the cluster runs as the
`postgres` system user (Debian's package creates it) in a temp dir chowned to that user.

The pytest fixtures (`postgres_url`, `fresh_database_url`) live here and are registered in
tests/conftest.py. Binaries missing: skipped with a reason locally, a failure when CI is set
(CI must not silently skip the PostgreSQL tests).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._servers import free_port

__all__ = ["PostgresCluster", "find_bindir", "fresh_database_url", "postgres_url"]

_USER = "postgres"  # the cluster's superuser name (trust auth on loopback)


def find_bindir() -> Path | None:
    """Directory holding initdb/pg_ctl: PATH, `pg_config --bindir`, then Debian's layout."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
            if out:
                candidates.append(Path(out))
    # Debian/Ubuntu do not put initdb on PATH; newest major version first.
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                    else 0, reverse=True)
    candidates.extend(Path(p) for p in debian)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


class PostgresCluster:
    """initdb + pg_ctl in a private temp dir; `url(db)` gives a psycopg SQLAlchemy URL."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="coordinator-pg-"))
        self.datadir = self.root / "data"
        self.sockdir = self.root / "sock"
        self.logfile = self.root / "server.log"
        self.port = 0
        self._as_root = os.geteuid() == 0
        self._started = False

    # --- running the server's tools as a non-root user when we are root -------------------
    def _cmd(self, *args: str) -> list[str]:
        if not self._as_root:
            return list(args)
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", "postgres", "--", *args]
        setpriv = shutil.which("setpriv")
        if setpriv:
            import pwd

            pw = pwd.getpwnam("postgres")
            return [setpriv, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                    "--init-groups", *args]
        raise RuntimeError("running as root, and neither runuser nor setpriv is available "
                           "to run initdb as the postgres user")

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True,
                              timeout=timeout, cwd=self.root, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): "
                               f"{proc.stderr.strip()[-2000:]}\n{log}")

    def start(self) -> PostgresCluster:
        self.sockdir.mkdir()
        if self._as_root:
            import pwd

            pw = pwd.getpwnam("postgres")  # KeyError: no postgres user -> caller reports it
            for p in (self.root, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
            os.chmod(self.root, 0o700)
        self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", _USER,
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        # Loopback only, trust auth only from loopback and the private socket.
        (self.datadir / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 trust\n"
            "host all all ::1/128 trust\n"
        )
        if self._as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir / "pg_hba.conf", pw.pw_uid, pw.pw_gid)
        # A port can be taken between choosing and binding: try a few.
        last: Exception | None = None
        for _ in range(5):
            self.port = free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                    f"-c unix_socket_directories={self.sockdir} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off "
                    "-c max_connections=200 -c shared_buffers=16MB")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l",
                          str(self.logfile), "-w", "-t", "60", "-o", opts, "start")
                self._started = True
                return self
            except RuntimeError as exc:
                last = exc
        raise RuntimeError(f"pg_ctl start failed: {last}")

    def stop(self) -> None:
        try:
            if self._started:
                with contextlib.suppress(Exception):
                    self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir),
                              "-m", "immediate", "-w", "stop", timeout=60)
                self._started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL with the psycopg 3 driver (sync and async alike)."""
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=_USER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:16]
        self.admin(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        # WITH (FORCE) (PostgreSQL 13+) ends sessions a test left open, e.g. a killed child's.
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def _postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        _unavailable("no initdb/pg_ctl found (PATH, pg_config --bindir, "
                     "/usr/lib/postgresql/*/bin); install Debian's `postgresql` package")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed (pip install -e '.[dev]')")
    cluster = PostgresCluster(bindir)
    try:
        cluster.start()
    except (RuntimeError, KeyError, OSError, subprocess.SubprocessError) as exc:
        cluster.stop()
        _unavailable(f"could not start a throwaway cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(_postgres_cluster: PostgresCluster) -> str:
    """URL of the throwaway cluster's `postgres` database (shared by the whole session)."""
    return _postgres_cluster.url()


@pytest.fixture
def fresh_database_url(_postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A new empty database for one test, dropped afterwards."""
    name = _postgres_cluster.create_database()
    try:
        yield _postgres_cluster.url(name)
    finally:
        _postgres_cluster.drop_database(name)
