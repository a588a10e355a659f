"""The drawing of the house holds: `collector -> bakeoff <- replay`, and replay's one door to the collector.

Imports are read from the source (every `import` and `from ... import`, at any depth), so a lazy import
inside a function counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The one module of replay that may reach the collector; it may import only what the collector's
# package exports (`bakeoff.collector.__all__`: open_local and the object it returns).
REPLAY_DOOR = ROOT / "replay" / "recorded.py"


def _imports(folder: str) -> dict[Path, set[str]]:
    found: dict[Path, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[path] = names
    return found


def _reaching(imports: dict[Path, set[str]], prefix: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): {n for n in names if n == prefix or n.startswith(prefix + ".")}
        for path, names in imports.items()
        if any(n == prefix or n.startswith(prefix + ".") for n in names)
    }


def test_the_sdk_imports_neither_the_collector_nor_replay() -> None:
    imports = _imports("sdk")
    # The command-line dispatcher names the commands' modules as strings, never imports them.
    assert _reaching(imports, "bakeoff.collector") == {}
    assert _reaching(imports, "bakeoff.replay") == {}


def test_the_collector_never_imports_replay() -> None:
    assert _reaching(_imports("collector"), "bakeoff.replay") == {}


def test_replay_reaches_the_collector_only_through_its_one_door() -> None:
    reaching = _reaching(_imports("replay"), "bakeoff.collector")
    door = str(REPLAY_DOOR.relative_to(ROOT))
    assert set(reaching) <= {door, "replay/cli/demo.py"}, reaching
    import bakeoff.collector

    exported = {f"bakeoff.collector.{name}" for name in bakeoff.collector.__all__}
    assert "bakeoff.collector.open_local" in reaching[door] <= exported
    # The demo starts a whole collector in its own process: the embedded server, nothing of its insides.
    assert reaching.get("replay/cli/demo.py", set()) <= {"bakeoff.collector.embedded.EmbeddedCollector"}
