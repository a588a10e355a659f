"""One registry for what a config names by a word: metrics and provider kinds.

Built-ins are registered as ``"module:attr"`` strings and imported only when first used, so naming
``exact_match`` never imports the judge and a config with only OpenAI providers never imports the
Anthropic one. Third parties add theirs through an entry-point group (``bakeoff.metrics``,
``bakeoff.providers``): an installed distribution whose ``entry_points.txt`` lists
``name = package.module:attr`` under that group. A built-in name wins over an entry point of the
same name.

    RegistryError (LookupError)
    ├── UnknownName (KeyError)   no such name; the message suggests the nearest known one
    └── (itself)                 the name is known but its target cannot be imported
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar, cast

from bakeoff.config_file import did_you_mean

T = TypeVar("T")


class RegistryError(LookupError):
    """A name that cannot be resolved; the message is one line meant for the user."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownName(RegistryError, KeyError):
    """No entry of that name, built in or installed (a KeyError whose text is not quoted)."""


def import_target(target: str) -> object:
    """The object a ``"module:attr"`` (or ``"module:attr.sub"``) string points at."""
    module_name, _, attribute = target.partition(":")
    value: object = importlib.import_module(module_name)
    for part in attribute.split(".") if attribute else ():
        value = getattr(value, part)
    return value


class Registry(Generic[T]):
    """Names to things of one kind, resolved lazily.

    Args:
        kind: what the entries are, for messages (``"metric"``, ``"provider"``).
        group: the entry-point group third parties register under.
        builtins: name -> ``"module:attr"`` of the entries that ship with bakeoff.
    """

    def __init__(self, kind: str, group: str, builtins: Mapping[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._targets: dict[str, str | T] = dict(builtins)
        self._loaded: dict[str, T] = {}

    def register(self, name: str, target: str | T) -> None:
        """Add (or replace) an entry: a ``"module:attr"`` string, or the object itself."""
        self._targets[name] = target
        self._loaded.pop(name, None)

    def _entry_points(self) -> dict[str, EntryPoint]:
        # Read on every lookup rather than cached: a plug-in installed while the process runs (or put
        # on sys.path by a test) is found, and the scan only happens when a config is loaded.
        return {point.name: point for point in entry_points(group=self.group)}

    def names(self) -> list[str]:
        """Every name that resolves: the built-ins, then the installed plug-ins."""
        return [*self._targets, *(n for n in self._entry_points() if n not in self._targets)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._targets or name in self._entry_points())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        """The entry called `name`, imported on first use.

        Raises:
            UnknownName: no such entry; the message names the nearest one, plug-ins included.
            RegistryError: the entry exists but its module or attribute cannot be imported.
        """
        if name in self._loaded:
            return self._loaded[name]
        target = self._targets.get(name)
        if target is None:
            point = self._entry_points().get(name)
            if point is None:
                raise UnknownName(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}")
            target = point.value
        try:
            value = cast(T, import_target(target) if isinstance(target, str) else target)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"{self.kind} {name!r}: cannot load {target!r}: {exc}") from None
        self._loaded[name] = value
        return value
