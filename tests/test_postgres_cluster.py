"""The throwaway PostgreSQL fixtures: a real server, one empty database per test."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.postgres


def test_fresh_databases_are_separate_and_empty(fresh_database_url, postgres_url):
    import sqlalchemy as sa

    assert fresh_database_url.startswith("postgresql+psycopg://")
    assert fresh_database_url.rsplit("/", 1)[1] != "postgres"
    engine = sa.create_engine(fresh_database_url)
    try:
        with engine.begin() as conn:
            assert sa.inspect(conn).get_table_names() == []
            conn.execute(sa.text("CREATE TABLE t (x int)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 1
            # The server listens on loopback only.
            addr = conn.execute(sa.text("SELECT current_setting('listen_addresses')")).scalar_one()
            assert addr == "127.0.0.1"
    finally:
        engine.dispose()
    admin = sa.create_engine(postgres_url)
    try:
        with admin.connect() as conn:
            assert "t" not in sa.inspect(conn).get_table_names()
    finally:
        admin.dispose()
