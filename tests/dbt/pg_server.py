"""A throwaway PostgreSQL cluster for tests, and a copy of a DuckDB raw layer into it.

`postgres_binaries()` finds initdb / pg_ctl (on PATH, else the newest /usr/lib/postgresql/*/bin);
`throwaway_cluster()` runs initdb in a fresh temp folder, starts the server on 127.0.0.1 and a free
port (trust auth for loopback TCP only, no Unix socket outside the data folder), yields its
connection settings, and always stops it (immediate shutdown) and deletes the folder. As root
(initdb refuses to run as root) the cluster runs as the `postgres` OS user.

`copy_raw_layer()` copies every table of the raw schemas (`raw_store`, `raw_crm`) of a DuckDB
warehouse to PostgreSQL with COPY, keeping the Destinations V2 column names; JSON columns become
jsonb, as Airbyte's Postgres destination types them.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg2

RAW_SCHEMAS = ("raw_store", "raw_crm")
SERVER_USER = "postgres"
START_TIMEOUT_SECONDS = 60
START_ATTEMPTS = 3
# Durability is pointless for a cluster deleted after the test.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass(frozen=True)
class PostgresBinaries:
    """The folder holding initdb, pg_ctl and postgres."""

    bin_dir: Path

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


@dataclass(frozen=True)
class PostgresServer:
    """Connection settings of a running throwaway server."""

    host: str
    port: int
    user: str
    dbname: str

    def connect(self, dbname: str | None = None) -> psycopg2.extensions.connection:
        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=dbname or self.dbname)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def postgres_binaries() -> PostgresBinaries | None:
    """initdb + pg_ctl + postgres in one folder: PATH's pg_ctl first, else the newest Debian-style install."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bin_dir in candidates:
        if all((bin_dir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return PostgresBinaries(bin_dir)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVER_USER, "--", *command]


def _run(command: list[str]) -> None:
    result = subprocess.run(_as_server_user(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr or result.stdout}")


def _start(binaries: PostgresBinaries, data_dir: Path, log_file: Path) -> int:
    """Start the server on a free port (another process may take the port first: try again)."""
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories={data_dir}",
                "-c timezone=UTC",
                *(f"-c {setting}" for setting in FAST_SETTINGS),
            ]
        )
        try:
            _run(
                [
                    binaries.tool("pg_ctl"),
                    "start",
                    "--pgdata",
                    str(data_dir),
                    "--log",
                    str(log_file),
                    "--wait",
                    "--timeout",
                    str(START_TIMEOUT_SECONDS),
                    "-o",
                    options,
                ]
            )
        except RuntimeError as error:
            log = log_file.read_text(encoding="utf-8", errors="replace") if log_file.exists() else ""
            if "could not bind" not in log or attempt == START_ATTEMPTS - 1:
                raise RuntimeError(f"{error}\nserver log:\n{log}") from error
            continue
        return port
    raise AssertionError("unreachable")


@contextlib.contextmanager
def throwaway_cluster(binaries: PostgresBinaries, dbname: str = "store2crm") -> Iterator[PostgresServer]:
    """A fresh cluster on 127.0.0.1:<free port> with database `dbname`; stopped and deleted on exit."""
    root = Path(tempfile.mkdtemp(prefix="store2crm-pg-"))
    data_dir = root / "data"
    log_file = root / "server.log"
    if os.geteuid() == 0:
        server_user = pwd.getpwnam(SERVER_USER)
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    try:
        _run(
            [
                binaries.tool("initdb"),
                "--pgdata",
                str(data_dir),
                "--username",
                SERVER_USER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                # Byte-order text, as DuckDB's (README.md "Running on PostgreSQL": collation).
                "--locale",
                "C",
                "--no-instructions",
            ]
        )
        # Trust, for TCP from loopback only: no other host can connect, and no Unix socket is
        # served outside the data folder.
        (data_dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n", encoding="utf-8"
        )
        port = _start(binaries, data_dir, log_file)
        server = PostgresServer(host="127.0.0.1", port=port, user=SERVER_USER, dbname=dbname)
        admin = server.connect(dbname="postgres")
        try:
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f'create database "{dbname}"')
        finally:
            admin.close()
        yield server
    finally:
        try:
            # Also after a start that timed out: a postmaster.pid means a server may be running.
            if (data_dir / "postmaster.pid").exists():
                _run([binaries.tool("pg_ctl"), "stop", "--pgdata", str(data_dir), "--mode", "immediate", "--wait"])
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _postgres_type(duckdb_type: str) -> str:
    upper = duckdb_type.upper()
    if upper == "JSON":
        return "jsonb"
    if upper == "VARCHAR":
        return "text"
    if upper in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "timestamp with time zone"
    if upper.startswith("DECIMAL"):
        return upper.replace("DECIMAL", "numeric").lower()
    if upper in ("BIGINT", "INTEGER", "BOOLEAN", "DATE", "DOUBLE"):
        return {"DOUBLE": "double precision"}.get(upper, upper.lower())
    raise ValueError(f"raw layer column type {duckdb_type} has no PostgreSQL mapping here")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _csv_field(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def copy_raw_layer(warehouse: Path, server: PostgresServer, extracted_after: str | None = None) -> dict[str, int]:
    """Copy the raw tables of `warehouse` to `server`; returns rows copied per schema.table.

    Tables are created when missing. With `extracted_after` (an ISO timestamp) only the rows
    extracted after it are copied: a later sync appended to a raw layer copied before.
    """
    copied: dict[str, int] = {}
    # Not read_only: dbt-duckdb keeps its connection to the warehouse open in this process, and
    # DuckDB refuses a second connection to one file with another configuration.
    source = duckdb.connect(str(warehouse))
    target = server.connect()
    try:
        source.execute("set TimeZone = 'UTC'")
        tables = source.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in (?, ?) and table_type = 'BASE TABLE' order by 1, 2",
            list(RAW_SCHEMAS),
        ).fetchall()
        with target, target.cursor() as cursor:
            for schema, table in tables:
                columns = source.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                qualified = f"{_quote(schema)}.{_quote(table)}"
                cursor.execute(f"create schema if not exists {_quote(schema)}")
                cursor.execute(
                    f"create table if not exists {qualified} ("
                    + ", ".join(f"{_quote(name)} {_postgres_type(kind)}" for name, kind in columns)
                    + ")"
                )
                # Every value as its text (JSON as JSON text, timestamps in ISO form in UTC); COPY's
                # CSV reads an unquoted empty field as null and a quoted one as ''.
                select = ", ".join(
                    f"strftime({_quote(name)}, '%Y-%m-%dT%H:%M:%S.%f+00')"
                    if kind.upper() == "TIMESTAMP WITH TIME ZONE"
                    else f"cast({_quote(name)} as varchar)"
                    for name, kind in columns
                )
                where, parameters = "", []
                if extracted_after is not None:
                    where, parameters = " where _airbyte_extracted_at > cast(? as timestamptz)", [extracted_after]
                rows = source.execute(f"select {select} from {qualified}{where}", parameters).fetchall()
                buffer = io.StringIO()
                for row in rows:
                    buffer.write(",".join(_csv_field(value) for value in row) + "\n")
                buffer.seek(0)
                cursor.copy_expert(f"copy {qualified} from stdin with (format csv)", buffer)
                copied[f"{schema}.{table}"] = len(rows)
    finally:
        target.close()
        source.close()
    return copied
