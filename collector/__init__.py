"""The bakeoff collector: ingest over HTTP (our batches and OTLP), DuckDB storage, sampling, dashboard.

Other parts reach a DuckDB file's recorded data through :func:`open_local` (see
:mod:`bakeoff.collector.local`); importing this package loads none of the collector's dependencies.
"""

from bakeoff.collector.local import LocalCollector, open_local

__all__ = ["LocalCollector", "open_local"]
