"""Config files as users write them: a YAML mapping read, and a validation error said in one line.

The replay config and the monitoring config are pydantic models; a mistake in either is one
:class:`~bakeoff.errors.ConfigError` line that names the key path (`replay.providers[0].modle`) and, for a
misspelt key or value, the nearest right one. Both parts read their files through here.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bakeoff.errors import ConfigError


def did_you_mean(word: str, choices: Collection[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest of `choices`, or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def read_yaml_mapping(path: str | Path, expected: str) -> dict[str, Any]:
    """The mapping a YAML file holds; a missing file, bad YAML or another shape is one ConfigError."""
    import yaml  # missing, the command line names the extra that installs it

    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected {expected}")
    return data


def _path(location: tuple[Any, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _keys_at(root: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    """The keys the section at `location` accepts (for a suggestion), found by walking the models."""
    model: type[BaseModel] | None = root
    for part in location:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _model_in(field.annotation) if field is not None else None
    return list(model.model_fields) if model is not None else []


def explain(error: ValidationError, root: type[BaseModel], union_tags: Collection[str] = ()) -> str:
    """The first problem of `error` as `key.path: what is wrong[; did you mean 'x'?]`.

    `union_tags` are the tags of discriminated unions, which pydantic puts in the path
    (`monitors.0.traffic.signal`) though no user wrote them.
    """
    problems = error.errors()
    # A misspelt key is also a required key missing (`modle:` for `model:`): the spelling is the news.
    problem = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
    location = tuple(
        p
        for p in problem["loc"]
        if not (isinstance(p, str) and (p.startswith("function-") or p in union_tags))
    )
    where = _path(location)
    if problem["type"] == "extra_forbidden":
        key = str(location[-1])
        return f"{where}: unknown key{did_you_mean(key, _keys_at(root, location[:-1]))}"
    if problem["type"] == "literal_error":
        value = str(problem.get("input"))
        choices = re.findall(r"'([^']*)'", str((problem.get("ctx") or {}).get("expected", "")))
        return f"{where}: {problem['msg']}, not {value!r}{did_you_mean(value, choices)}"
    if problem["type"] == "value_error":
        return f"{where}: {(problem.get('ctx') or {}).get('error', problem['msg'])}"
    return f"{where}: {problem['msg']}"
