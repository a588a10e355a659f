"""The OpenAPI document: request bodies of the routes that read their body themselves, and the bearer key.

Ingest routes decode their bodies with msgspec (or by content type, for OTLP) rather than through
FastAPI's parameters, so FastAPI cannot see them; this adds their schemas, so that clients and the
fuzz tests know the bodies (event batches, feedback, runs, OTLP exports), and documents the API key.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from pydantic import BaseModel

from bakeoff.collector.routes_events import EventBatch
from bakeoff.collector.routes_feedback import FeedbackBody
from bakeoff.collector.routes_runs import RunBody

_REF = "#/components/schemas/{name}"
# path -> the body's schema name; each is a JSON body
_BODIES: dict[str, type[msgspec.Struct] | type[BaseModel]] = {
    "/v1/events": EventBatch,
    "/v1/feedback": FeedbackBody,
    "/v1/runs": RunBody,
}


def _otlp_body(resources: str) -> dict[str, Any]:
    """An OTLP/HTTP export: protobuf, or JSON whose top-level list is `resources`."""
    return {
        "required": True,
        "content": {
            "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "object", "properties": {resources: {"type": "array"}}}},
        },
    }


_OTLP_BODIES = {"/v1/traces": _otlp_body("resourceSpans"), "/v1/logs": _otlp_body("resourceLogs")}


def _schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(path -> body schema, components) for the bodies above."""
    structs = [t for t in _BODIES.values() if isinstance(t, type) and issubclass(t, msgspec.Struct)]
    refs, components = msgspec.json.schema_components(structs, ref_template=_REF)
    bodies: dict[str, dict[str, Any]] = {}
    found = dict(zip(structs, refs, strict=True))
    for path, model in _BODIES.items():
        if model in found:
            bodies[path] = found[model]
        else:
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[union-attr]
            components.update(schema.pop("$defs", {}))
            components[model.__name__] = schema
            bodies[path] = {"$ref": _REF.format(name=model.__name__)}
    return bodies, components


def install(app: FastAPI) -> None:
    """Complete the app's OpenAPI document (built once, on the first request for it)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = default()
        bodies, components = _schemas()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(components)
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a key given to `--api-key`"}
        }
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if path.startswith("/v1/"):
                    operation["security"] = [{"bearer": []}]
                if method != "post":
                    continue
                if path in bodies:
                    operation["requestBody"] = {
                        "required": True,
                        "content": {"application/json": {"schema": bodies[path]}},
                    }
                elif path in _OTLP_BODIES:
                    operation["requestBody"] = _OTLP_BODIES[path]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
