"""Several collectors as one, with local processes: a PostgreSQL catalog, N `bakeoff serve` replicas on it
and one shared data path, each replica on its own port with its own journal.

    python examples/deploy/local_cluster.py --replicas 3 --dir /tmp/cluster

prints the replicas' URLs and runs until Ctrl-C, then stops the replicas (each commits what it has
acknowledged) and PostgreSQL. Under `--dir`: `data/` (the Parquet files of the lake), `replica-N/journal`
(what replica N acknowledged and has not committed yet) and `replica-N/serve.log`.

The PostgreSQL cluster is the one the tests start (`tests/support/postgres.py`): a throwaway, tuned for
tests (no fsync). A real deployment points `--catalog` at a PostgreSQL of its own; see README.md here.
The tests start the same topology through :class:`LocalCluster`.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from support.ports import free_port  # noqa: E402
from support.postgres import Cluster, start_cluster  # noqa: E402

CATALOG_DB = "bakeoff"


class Replica:
    """One `bakeoff serve --store ducklake` process: started, killed (-9) and started again on its journal."""

    def __init__(
        self,
        name: str,
        catalog: str,
        data_path: Path | str,
        folder: Path,
        port: int,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.catalog = catalog
        self.data_path = data_path
        self.folder = folder
        self.journal = folder / "journal"
        self.log = folder / "serve.log"
        self.port = port
        self.extra_args = tuple(extra_args)
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The `bakeoff serve` command line of this replica."""
        return [
            sys.executable,
            "-m",
            "bakeoff.cli",
            "serve",
            "--store",
            "ducklake",
            "--catalog",
            self.catalog,
            "--data-path",
            str(self.data_path),
            "--journal",
            str(self.journal),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.extra_args,
        ]

    def launch(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_healthy`)."""
        with self.log.open("a") as log:  # the child keeps its own copy of the file
            environ = {**os.environ, **self.env} if self.env is not None else None
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, env=environ)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until `/healthz` answers; raise with the replica's log if it exits or never answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.log.read_text()}")

    def start(self, timeout: float = 60.0) -> Replica:
        self.launch()
        self.wait_healthy(timeout)
        return self

    def kill(self) -> None:
        """kill -9: no shutdown, nothing committed on the way out (the journal keeps what was acked)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown (SIGTERM: what was acknowledged is committed), falling back to kill -9."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None


class LocalCluster:
    """PostgreSQL + `replicas` collectors on one catalog and one data path, under `folder`.

    `ports` fixes the replicas' ports (default: free ones); `extra_args` go to every `bakeoff serve`.
    `data_path` is the lake's files (default `folder/data`; an `s3://BUCKET/PREFIX/` URL puts them on an
    object store, with the credentials of `env`, variables added to every replica's environment).
    With `postgres`, a running cluster, the catalog is a new database on it (left running at stop);
    without, a PostgreSQL cluster of its own is started and stopped with the replicas.
    """

    def __init__(
        self,
        folder: Path,
        replicas: int = 3,
        ports: Sequence[int] | None = None,
        extra_args: Sequence[str] = (),
        postgres: Cluster | None = None,
        data_path: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, got {replicas}")
        if ports is not None and len(ports) != replicas:
            raise ValueError(f"{replicas} replicas need {replicas} ports, got {len(ports)}")
        self.folder = folder
        self.count = replicas
        self.ports = list(ports) if ports is not None else None
        self.extra_args = tuple(extra_args)
        self.data_path: Path | str = data_path if data_path is not None else folder / "data"
        self.env = env
        self.postgres: Cluster | None = postgres
        self._own_postgres = postgres is None
        self.catalog = ""
        self.replicas: list[Replica] = []

    def start(self, timeout: float = 90.0) -> LocalCluster:
        """Start PostgreSQL, create the catalog database, then every replica; wait until all answer."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if isinstance(self.data_path, Path):
            self.data_path.mkdir(exist_ok=True)
        if self.postgres is None:
            self.postgres = start_cluster(self.folder / "postgres")
        try:
            # On a cluster of its own the catalog is `bakeoff`; on a shared one, a database of its own.
            database = CATALOG_DB if self._own_postgres else f"{CATALOG_DB}_{uuid.uuid4().hex[:12]}"
            self.catalog = self.postgres.createdb(database)
            ports = self.ports or [free_port() for _ in range(self.count)]
            self.replicas = [
                Replica(
                    f"replica-{i}",
                    self.catalog,
                    self.data_path,
                    self.folder / f"replica-{i}",
                    port,
                    self.extra_args,
                    self.env,
                )
                for i, port in enumerate(ports)
            ]
            for replica in self.replicas:  # started together: the first attach of a catalog is raced
                replica.launch()
            for replica in self.replicas:
                replica.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def urls(self) -> list[str]:
        return [replica.url for replica in self.replicas]

    def stop(self) -> None:
        """Stop every replica (in parallel: each commits its acknowledged events), then PostgreSQL."""
        for replica in self.replicas:
            if replica.process is not None and replica.process.poll() is None:
                replica.process.terminate()
        for replica in self.replicas:
            replica.stop()
        if self._own_postgres and self.postgres is not None:
            self.postgres.stop()
            self.postgres = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--replicas", type=int, default=3, help="collectors to start (default 3)")
    parser.add_argument("--dir", type=Path, required=True, help="folder for the data path, journals, logs")
    parser.add_argument(
        "--port", type=int, default=7800, help="the first replica's port; the others follow (default 7800)"
    )
    parser.add_argument(
        "--data-path",
        help="the lake's files: s3://BUCKET/PREFIX/ for an object store (credentials from the AWS_* "
        "variables), default DIR/data",
    )
    parser.add_argument("serve_args", nargs="*", help="more `bakeoff serve` flags, after --")
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error(f"--replicas must be at least 1, got {args.replicas}")
    ports = [args.port + i for i in range(args.replicas)]
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the cluster as Ctrl-C does
    cluster = LocalCluster(
        args.dir.resolve(), args.replicas, ports, args.serve_args, data_path=args.data_path
    )
    try:
        cluster.start()
        print(f"catalog   {cluster.catalog}")
        print(f"data path {cluster.data_path}")
        for replica in cluster.replicas:
            print(f"{replica.name} {replica.url}  (journal {replica.journal}, log {replica.log})")
        print("Ctrl-C stops them all.", flush=True)
        while all(r.process is not None and r.process.poll() is None for r in cluster.replicas):
            time.sleep(0.5)
        print("a replica exited; see its log. Stopping.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping...", flush=True)
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
