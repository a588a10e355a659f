"""The dashboard: one static page (HTML, CSS, JS; no CDN, no build step) over the collector's /v1 API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")


def install(app: FastAPI) -> None:
    """Serve the page at `/` and its assets at `/static`."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")
