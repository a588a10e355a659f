"""Every collector test runs on both stores: the embedded DuckDB file and DuckLake (see `support.stores`).

A test about the DuckDB file itself (a full disk, a damaged journal next to the file, the file locked)
is marked `@pytest.mark.embedded_only("reason")` and runs once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import stores

STORE_KINDS = ["embedded", "ducklake"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "embedded_only(reason): about the DuckDB file itself; not run on DuckLake"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("embedded_only")
        # Module-scoped: a module's fixtures (a collector shared by its tests) are made once per store.
        metafunc.parametrize(
            "store_kind", ["embedded"] if only else STORE_KINDS, indirect=True, scope="module"
        )


@pytest.fixture(scope="module", autouse=True)
def store_kind(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The store this run of the test is on; on "ducklake", file paths stand for DuckLakes meanwhile."""
    kind: str = request.param
    if kind == "ducklake":
        stores.activate(request.getfixturevalue("postgres_cluster"), tmp_path_factory.mktemp("lakes"))
    try:
        yield kind
    finally:
        stores.deactivate()
