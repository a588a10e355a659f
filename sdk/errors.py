"""The exceptions bakeoff raises to its callers.

    BakeoffError                 every error of ours
    ├── UsageError               a user's mistake on the command line or in a config: exit 2, one line
    │   └── ConfigError          a config file or setting that cannot be used (names the key)
    └── MissingDependencyError   an optional extra is not installed (says what to pip install)

Errors of the LLM providers the application calls are never wrapped: the SDK re-raises them unchanged.
"""

from __future__ import annotations


class BakeoffError(Exception):
    """Base class of every error bakeoff raises."""


class UsageError(BakeoffError):
    """A user's mistake: the CLI prints it as one line and exits with status 2."""


class ConfigError(UsageError):
    """A configuration value that cannot be used; the message names the key and the problem."""


class MissingDependencyError(BakeoffError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed: pip install 'bakeoff[{extra}]'")
        self.module = module
        self.extra = extra
