"""Turning instrumentation on and off: methods replaced on their classes, recorded so they can be undone.

Patches are installed by post-import hooks, so `openai`/`anthropic` imported before or after
`bakeoff.init()` are recorded alike; a second `init()` changes nothing; `uninstrument()` really
restores the original methods.

A patched method is a plain function put in the class's `__dict__` in place of the original (which it
names as `__wrapped__`, with its name, docstring and signature), not a `wrapt.FunctionWrapper`: a
wrapt wrapper builds a bound wrapper object at every attribute access and goes through its C proxy on
every call, which measured as a good part of what recording added to a call. The wrappers keep wrapt's
calling convention, `wrapper(wrapped, instance, args, kwargs)`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
from collections.abc import Callable
from typing import Any

import wrapt

from bakeoff import context
from bakeoff.config import Settings
from bakeoff.integrations import common
from bakeoff.internal_errors import internal_errors
from bakeoff.recorder import Recorder
from bakeoff.shipping.base import Sink

INTEGRATIONS = {"openai": "bakeoff.integrations.openai", "anthropic": "bakeoff.integrations.anthropic"}

_lock = threading.Lock()
_patched: list[tuple[Any, str, Any]] = []  # (owner class, attribute, original) for uninstrument
_hooks_registered: set[str] = set()


class State:
    """What `init()` set up: settings, sink and recorder (None until init)."""

    settings: Settings | None = None
    sink: Sink | None = None
    recorder: Recorder | None = None


state = State()


def _resolve(module_name: str, path: str) -> tuple[Any, str]:
    owner: Any = importlib.import_module(module_name)
    *parents, attribute = path.split(".")
    for name in parents:
        owner = getattr(owner, name)
    return owner, attribute


def _patch_library(library: str) -> None:
    """Apply one library's patches (called on import of the library, or at once if already imported)."""
    if state.recorder is None:
        return
    integration = importlib.import_module(INTEGRATIONS[library])
    with _lock:
        if any(owner.__module__.startswith(library) for owner, _, _ in _patched):
            return  # already patched: never stack wrappers
        for module_name, path, wrapper in integration.wrappers():
            with internal_errors(f"patching {module_name}.{path}"):
                owner, attribute = _resolve(module_name, path)
                original = owner.__dict__[attribute]
                _replace(owner, attribute, original, wrapper)


def patched_method(original: Any, wrapper: Callable[..., Any]) -> Any:
    """A function standing for the method `original` that calls `wrapper(bound original, self, args, kwargs)`.

    An `async def` original gets an `async def` replacement, so that `inspect.iscoroutinefunction`
    answers as before. What is not a plain function (a descriptor of some other kind) is wrapped by wrapt.
    """
    if not inspect.isfunction(original):
        return wrapt.FunctionWrapper(original, wrapper)
    if inspect.iscoroutinefunction(original):

        async def patched_async(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return await wrapper(original.__get__(self), self, args, kwargs)

        return functools.wraps(original)(patched_async)

    def patched(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        return wrapper(original.__get__(self), self, args, kwargs)

    return functools.wraps(original)(patched)


def _replace(owner: Any, attribute: str, original: Any, wrapper: Callable[..., Any]) -> None:
    setattr(owner, attribute, patched_method(original, wrapper))
    _patched.append((owner, attribute, original))


def _hook(library: str) -> Callable[[Any], None]:
    def on_import(_module: Any) -> None:
        with internal_errors(f"instrumenting {library}"):
            _patch_library(library)

    return on_import


def instrument(settings: Settings, sink: Sink) -> None:
    """Start recording every installed client library's calls into `sink` (idempotent)."""
    if state.recorder is not None:
        return
    state.settings, state.sink = settings, sink
    state.recorder = Recorder(settings, sink)
    common.active_recorder[:] = [state.recorder]
    _patch_executor()
    for library in INTEGRATIONS:
        if library in _hooks_registered:
            # The hook already fired once; a re-init after uninstrument patches directly if imported.
            if library in sys.modules:
                _patch_library(library)
            continue
        _hooks_registered.add(library)
        wrapt.register_post_import_hook(_hook(library), library)


def _patch_executor() -> None:
    """Carry the submitter's context (tags, the current span) into `ThreadPoolExecutor` tasks."""
    import concurrent.futures

    owner = concurrent.futures.ThreadPoolExecutor
    with _lock, internal_errors("patching ThreadPoolExecutor.submit"):
        if any(o is owner for o, _, _ in _patched):
            return
        _replace(owner, "submit", owner.__dict__["submit"], context.submit_in_context)


def uninstrument() -> None:
    """Restore every patched method and stop recording; what was recorded so far still ships."""
    with _lock:
        while _patched:
            owner, attribute, original = _patched.pop()
            setattr(owner, attribute, original)
    common.active_recorder.clear()
    state.recorder = None
