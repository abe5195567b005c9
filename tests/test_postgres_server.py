"""The PostgreSQL fixtures themselves: a real server, a new database per test, loopback only."""

import socket

import sqlalchemy as sa

from ._postgres import PostgresServer, fresh_database


def _database_name(url: str) -> str:
    return sa.make_url(url).database or ""


def test_server_answers_select_version_through_sqlalchemy_and_psycopg(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
        with engine.connect() as conn:
            version, database = conn.execute(sa.text("SELECT version(), current_database()")).one()
    finally:
        engine.dispose()
    assert version.startswith("PostgreSQL ")
    assert database == _database_name(postgres_url)


def test_each_database_is_new_and_dropped_afterwards_even_if_still_connected(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    first = _database_name(postgres_url)
    # fresh_database is the postgres_url fixture's own body, driven here so that its clean-up
    # can be watched from inside one test.
    with fresh_database(postgres_server) as second_url:
        second = _database_name(second_url)
        assert first != second
        assert {first, second} <= postgres_server.database_names()
        engine = sa.create_engine(second_url)
        conn = engine.connect()  # left open on purpose: the drop must not wait for it
        tables = conn.execute(
            sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        ).scalar_one()
        assert tables == 0
    try:
        names = postgres_server.database_names()
        assert second not in names
        assert first in names
    finally:
        conn.invalidate()  # its server process was ended by DROP DATABASE ... WITH (FORCE)
        engine.dispose()


def _refuses(family: socket.AddressFamily, host: str, port: int) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect((host, port))
        except ConnectionRefusedError:
            return True
        except OSError:  # no such address here (say, IPv6 disabled): nothing to reach either
            return True
    return False


def test_server_listens_on_127_0_0_1_only(postgres_server: PostgresServer) -> None:
    port = postgres_server.port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    # The rest of the loopback range and IPv6 loopback reach the same machine: a server bound to
    # a wildcard address or to "localhost" would answer there too.
    assert _refuses(socket.AF_INET, "127.0.0.2", port)
    assert _refuses(socket.AF_INET6, "::1", port)

    engine = sa.create_engine(postgres_server.url("postgres"))
    try:
        with engine.connect() as conn:
            listen = conn.execute(sa.text("SHOW listen_addresses")).scalar_one()
            sockets = conn.execute(sa.text("SHOW unix_socket_directories")).scalar_one()
    finally:
        engine.dispose()
    assert listen == "127.0.0.1"
    # Its unix socket lives in the server's own temp dir, not the shared /var/run/postgresql.
    assert sockets == str(postgres_server.base_dir)
