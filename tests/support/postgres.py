"""A real PostgreSQL cluster for the DuckLake store's catalog, started by the tests in a temporary folder.

PostgreSQL 15 is installed but not running; the tests start their own cluster with `initdb` / `pg_ctl`
(one per test session), then give each test a fresh database and data path::

    cluster = start_cluster(Path("/tmp/pg"))       # outside pytest (benchmarks, scripts)
    url = cluster.createdb("lake")                  # postgresql://bakeoff@127.0.0.1:PORT/lake
    ...
    cluster.stop()

In pytest, the `ducklake_target` fixture is a fresh database and data path on the session's cluster, with
the `bakeoff` flags that point at them (`target.args()`).

`initdb` refuses to run as root: as root, the cluster runs as `nobody` in a folder of its own under the
system's temporary folder (the test's folder may not be reachable by `nobody`), removed at `stop()`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.ports import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "bakeoff"

# The cluster serves tests: durability against a crash of the machine is not what they check (the
# collectors they kill are killed, not PostgreSQL), and fsync on a shared disk is slow.
_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=300 -c shared_buffers=32MB"
)


def _as_owner(command: list[str]) -> list[str]:
    """`command` run as `nobody` when this process is root (PostgreSQL refuses to run as root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "nobody", "--", *command]
    return command


@dataclass
class Cluster:
    """A running PostgreSQL cluster on 127.0.0.1:`port`, user `bakeoff`, no password (trust)."""

    data: Path
    port: int
    log: Path
    _owned_root: Path | None = None  # the folder made for `nobody`, removed at stop()

    def url(self, dbname: str) -> str:
        """The `postgresql://` URL of database `dbname` (the form `--catalog` takes)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def createdb(self, name: str) -> str:
        """Create database `name`; return its URL."""
        subprocess.run(
            [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def stop(self) -> None:
        """Stop the cluster (fast shutdown: open connections are ended) and remove a folder made for it."""
        subprocess.run(
            _as_owner([str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            check=False,
            capture_output=True,
        )
        if self._owned_root is not None:
            shutil.rmtree(self._owned_root, ignore_errors=True)


def start_cluster(folder: Path) -> Cluster:
    """initdb and start a cluster under `folder` (or, as root, under a folder of its own for `nobody`)."""
    folder.mkdir(parents=True, exist_ok=True)
    owned_root = None
    root = folder
    if os.geteuid() == 0:
        owned_root = root = Path(tempfile.mkdtemp(prefix="bakeoff-postgres-"))
        os.chown(root, 65534, 65534)  # nobody:nogroup
        root.chmod(0o700)
    data, log = root / "data", root / "postgres.log"
    subprocess.run(
        _as_owner([str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {root} {_SETTINGS}"
    started = subprocess.run(
        _as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
        check=False,
        capture_output=True,
        text=True,
    )
    if started.returncode != 0:
        detail = log.read_text() if log.exists() else started.stderr
        if owned_root is not None:
            shutil.rmtree(owned_root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail}")
    return Cluster(data, port, log, owned_root)


@dataclass(frozen=True)
class DuckLakeTarget:
    """A DuckLake store's place: a fresh catalog database and a data path."""

    catalog: str
    data_path: Path

    def args(self) -> list[str]:
        """The flags that point a `bakeoff` command at this store (instead of `--db PATH`)."""
        return ["--store", "ducklake", "--catalog", self.catalog, "--data-path", str(self.data_path)]


_numbers = itertools.count(1)


def new_target(cluster: Cluster, folder: Path) -> DuckLakeTarget:
    """A fresh database on `cluster` and an empty data path under `folder`."""
    name = f"lake_{next(_numbers)}_{uuid.uuid4().hex[:8]}"
    data_path = folder / name
    data_path.mkdir(parents=True)
    return DuckLakeTarget(cluster.createdb(name), data_path)


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One PostgreSQL cluster for the whole test session, stopped at its end."""
    cluster = start_cluster(tmp_path_factory.mktemp("postgres"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def ducklake_target(postgres_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> DuckLakeTarget:
    """A fresh catalog database on the session's cluster and an empty data path."""
    return new_target(postgres_cluster, tmp_path_factory.mktemp("lake"))
