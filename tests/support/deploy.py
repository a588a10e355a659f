"""The deployment example's topology (`examples/deploy/local_cluster.py`), for the tests: the same code
starts PostgreSQL and the `bakeoff serve --store ducklake` replicas in both."""

from __future__ import annotations

import sys
from pathlib import Path

_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "deploy"
if str(_EXAMPLE) not in sys.path:
    sys.path.insert(0, str(_EXAMPLE))

from local_cluster import LocalCluster, Replica, free_port  # noqa: E402

__all__ = ["LocalCluster", "Replica", "free_port"]
