"""The distribution installs one import tree, `bakeoff`, and nothing generic beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Repository folder -> import name, read from pyproject.toml, where the mapping is written once.
FOLDERS = {folder: package for package, folder in _SETUPTOOLS["package-dir"].items()}


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_packages_list_covers_every_package_folder() -> None:
    declared = set(_SETUPTOOLS["packages"])
    found = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]))
    assert found == declared


def test_import_tree_from_another_directory(tmp_path: Path) -> None:
    ok = _run_python(
        "import bakeoff, bakeoff.collector, bakeoff.replay; print(bakeoff.__version__)", tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    for generic in ("sdk", "collector", "replay"):
        failed = _run_python(f"import {generic}", tmp_path)
        assert failed.returncode != 0
        assert "ModuleNotFoundError" in failed.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (built,) = folder.glob("bakeoff-*.whl")
    return built


def test_wheel_holds_only_the_bakeoff_tree(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"bakeoff"}
    for module in (
        "bakeoff/__init__.py",
        "bakeoff/collector/__init__.py",
        "bakeoff/replay/__init__.py",
        "bakeoff/collector/static/index.html",
        "bakeoff/bootstrap/sitecustomize.py",
        "bakeoff/replay/simulator/support_app.py",
    ):
        assert module in names
    assert not any(name.startswith("bakeoff/tests") for name in names)


def test_demo_runs_from_the_wheel_away_from_the_clone(wheel: Path, tmp_path: Path) -> None:
    """What `pip install bakeoff-*.whl[all] && bakeoff demo` does: nothing is read from the repository."""
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The wheel's copy comes first on the path; the dependencies come from this environment.
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import bakeoff.replay.cli.demo as d; print(d.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr
    demo = subprocess.run(
        [sys.executable, "-m", "bakeoff.cli", "demo", "--dir", str(tmp_path / "out"), "--calls", "30"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "recommended:" in demo.stdout and (tmp_path / "out" / "report.html").is_file()
