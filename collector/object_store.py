"""The DuckLake's data files on an S3 object store: `--data-path s3://BUCKET/PREFIX/`.

Credentials come from the variables every AWS tool reads — `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`) — and an S3-compatible server (MinIO, R2, Ceph)
is named by `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`; such servers are addressed by path
(`http://HOST/BUCKET/KEY`), AWS itself by virtual host. DuckDB's `httpfs` extension reads and writes the
files; only the Parquet files go there: each replica's journal, the acknowledgement point, stays on its
local disk, and the catalog stays in PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import duckdb

from bakeoff.collector.ducklake import load_extension, sql_text

SCHEME = "s3://"
SECRET_NAME = "bakeoff_data_path"


class DataPathError(ValueError):
    """A data path that cannot hold the lake's files (a scheme not supported, an unreachable bucket)."""


def is_object_store(data_path: str) -> bool:
    """True for an object-store URL (`s3://...`), False for a local or shared folder."""
    return data_path.startswith(SCHEME)


def check_form(data_path: str) -> None:
    """Raise DataPathError unless `data_path` is a folder path or `s3://BUCKET/...`."""
    if "://" not in data_path:
        return
    if not is_object_store(data_path):
        scheme = data_path.split("://", 1)[0]
        raise DataPathError(
            f"--data-path {data_path}: {scheme}:// is not supported; give a folder or s3://BUCKET/PREFIX/"
        )
    if not urlsplit(data_path).netloc:
        raise DataPathError(f"--data-path {data_path}: no bucket; give s3://BUCKET/PREFIX/")


def with_slash(data_path: str) -> str:
    """The URL as a folder: DuckLake joins file names to it."""
    return data_path if data_path.endswith("/") else data_path + "/"


def secret_sql(environ: Mapping[str, str] | None = None) -> str:
    """`CREATE OR REPLACE SECRET` for S3 from the AWS variables of `environ` (default: the process's)."""
    env = os.environ if environ is None else environ
    options = {"TYPE": "s3", "REGION": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"}
    for variable, option in (
        ("AWS_ACCESS_KEY_ID", "KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "SESSION_TOKEN"),
    ):
        if env.get(variable):
            options[option] = env[variable]
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
        options["ENDPOINT"] = parts.netloc
        options["USE_SSL"] = "true" if parts.scheme == "https" else "false"
        options["URL_STYLE"] = "path"
    listed = ", ".join(
        f"{name} {value}" if name in ("TYPE", "USE_SSL") else f"{name} '{sql_text(value)}'"
        for name, value in options.items()
    )
    return f"CREATE OR REPLACE SECRET {SECRET_NAME} ({listed})"


def prepare(connection: duckdb.DuckDBPyConnection, environ: Mapping[str, str] | None = None) -> None:
    """Load `httpfs` on `connection` and give it the S3 credentials."""
    load_extension(connection, "httpfs")
    connection.execute(secret_sql(environ))


def check_reachable(data_path: str, environ: Mapping[str, str] | None = None) -> None:
    """List the data path once; raise DataPathError with the store's one-line reason when it fails (no
    such bucket, refused credentials, no endpoint)."""
    connection = duckdb.connect(":memory:")
    try:
        prepare(connection, environ)
        connection.execute(f"SELECT count(*) FROM glob('{sql_text(with_slash(data_path))}*')").fetchall()
    except duckdb.Error as exc:
        reason = next((line for line in str(exc).splitlines()[1:] if line.strip()), str(exc).splitlines()[0])
        raise DataPathError(f"--data-path {data_path}: cannot list it: {reason.strip()}") from None
    finally:
        connection.close()
