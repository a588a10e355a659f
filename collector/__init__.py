"""The bakeoff collector: ingest over HTTP (our batches and OTLP), DuckDB storage, sampling, dashboard."""
