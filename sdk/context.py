"""Per-context state: the tags in force and the id of the last recorded event.

Both live in :mod:`contextvars`, so nested :func:`tag` blocks add up, asyncio tasks inherit the tags of
the code that created them, and threads started through `contextvars.copy_context().run` do too. While
bakeoff instruments, work handed to a `concurrent.futures.ThreadPoolExecutor` (`submit`, `map`) runs in
a copy of the submitter's context (:func:`submit_in_context`), so its calls carry the submitter's tags.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from bakeoff.config import Scalar

F = TypeVar("F", bound=Callable[..., Any])


class HasEventId(Protocol):
    """What the last recorded call is kept as: its id is written out only when asked for."""

    @property
    def event_id(self) -> str: ...


# Read directly by the recorder on every call (a function around each would be one more to run).
tags_var: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("bakeoff_tags", default=())
# The default is never mutated: every tag block sets a new dict.
_NO_ATTRIBUTES: dict[str, Scalar] = {}
attributes_var: contextvars.ContextVar[dict[str, Scalar]] = contextvars.ContextVar("bakeoff_attributes")
last_event_var: contextvars.ContextVar[HasEventId | None] = contextvars.ContextVar(
    "bakeoff_last_event", default=None
)
_tags, _attributes = tags_var, attributes_var


def current_tags() -> tuple[str, ...]:
    """The tags of every enclosing :func:`tag` block, outermost first, without repeats."""
    return _tags.get()


def current_attributes() -> dict[str, Scalar]:
    """The attributes of every enclosing :func:`tag` block; inner values win."""
    return _attributes.get(_NO_ATTRIBUTES)


def last_event_id() -> str | None:
    """The id of the last event recorded in the current context, or `None`."""
    last = last_event_var.get()
    return None if last is None else last.event_id


def submit_in_context(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: Any) -> Any:
    """A wrapt wrapper of `ThreadPoolExecutor.submit`: the task runs in a copy of the caller's context."""
    if not args:
        return wrapped(*args, **kwargs)
    fn, *rest = args
    return wrapped(contextvars.copy_context().run, fn, *rest, **kwargs)


class tag:
    """Attach tags (and attributes) to every LLM call made inside; nested blocks add up.

    Works as a context manager (`with bakeoff.tag("support", tier="gold"):`) and as a decorator of
    sync and async functions (`@bakeoff.tag("support")`).
    """

    def __init__(self, *names: str, **attributes: Scalar) -> None:
        self.names = tuple(str(n) for n in names)
        self.attributes = attributes
        self._tokens: list[tuple[contextvars.Token[Any], contextvars.Token[Any]]] = []

    def __enter__(self) -> tag:
        outer = _tags.get()
        merged = outer + tuple(n for n in self.names if n not in outer)
        outer_attrs = _attributes.get(_NO_ATTRIBUTES)
        attrs = {**outer_attrs, **self.attributes} if self.attributes else outer_attrs
        self._tokens.append((_tags.set(merged), _attributes.set(attrs)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        tags_token, attrs_token = self._tokens.pop()
        _attributes.reset(attrs_token)
        _tags.reset(tags_token)

    def __call__(self, func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @contextmanager
    def _fresh(self) -> Iterator[None]:
        # A decorated function may run in several threads or tasks at once: each call gets its own block.
        with tag(*self.names, **self.attributes):
            yield
