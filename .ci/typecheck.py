"""Type-check the `bakeoff` package as it is installed: sdk/ as bakeoff, collector/ and replay/ inside it.

mypy cannot map repository folders onto package names, so this lays the import tree out as symlinks in a
temporary folder, runs mypy on it, and prints paths as they are in the repository.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Repository folder -> package path, as pyproject.toml maps them (written there once).
_PACKAGE_DIR = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
LAYOUT = {folder: package.replace(".", "/") for package, folder in _PACKAGE_DIR.items()}


def build_tree(target: Path) -> dict[str, str]:
    """Symlink every .py file of the three folders into `target`; return tree path -> repository path."""
    mapping: dict[str, str] = {}
    for folder, package in LAYOUT.items():
        for source in (ROOT / folder).rglob("*.py"):
            dest = target / package / source.relative_to(ROOT / folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(source)
            mapping[str(dest.relative_to(target))] = str(source.relative_to(ROOT))
    return mapping


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp)
        mapping = build_tree(tree)
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "-p", "bakeoff"],
            cwd=tree,
            capture_output=True,
            text=True,
        )
        output = proc.stdout + proc.stderr
        for tree_path, repo_path in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            output = output.replace(tree_path, repo_path)
        print(output, end="")
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
