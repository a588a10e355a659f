"""Run at interpreter start-up by `bakeoff run`: instrument the program from `BAKEOFF_*` variables.

Any other `sitecustomize` further down the path still runs, as it would have without bakeoff.
"""

from __future__ import annotations

import importlib.util
import os
import sys


def _chain_next_sitecustomize() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if os.path.abspath(entry or ".") == here:
            continue
        candidate = os.path.join(entry or ".", "sitecustomize.py")
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("_bakeoff_next_sitecustomize", candidate)
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


def _init() -> None:
    try:
        import bakeoff

        bakeoff.init()
    except Exception as exc:  # the program runs, recorded or not
        print(f"bakeoff: could not instrument this program: {exc}", file=sys.stderr)


_init()
_chain_next_sitecustomize()
