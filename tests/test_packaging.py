"""The distribution installs one import tree, `bakeoff`, and nothing generic beside it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"sdk": "bakeoff", "collector": "bakeoff.collector", "replay": "bakeoff.replay"}


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_packages_list_covers_every_package_folder() -> None:
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
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


def test_wheel_holds_only_the_bakeoff_tree(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("bakeoff-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"bakeoff"}
    for module in (
        "bakeoff/__init__.py",
        "bakeoff/collector/__init__.py",
        "bakeoff/replay/__init__.py",
        "bakeoff/collector/static/index.html",
        "bakeoff/bootstrap/sitecustomize.py",
    ):
        assert module in names
    assert not any(name.startswith("bakeoff/tests") for name in names)
