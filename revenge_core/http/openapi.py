"""The OpenAPI 3.1 document, built from the routes registered right now (plugins included)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from revenge_hookspecs.types import PUBLIC

from .. import __version__
from .keys import HOST, ROUTES, STATE
from .routing import RouteEntry

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")

ERROR_SCHEMA = {
    "type": "object",
    "required": ["code", "message", "details", "request_id"],
    "properties": {
        "code": {"type": "string", "description": "Stable machine-readable error code."},
        "message": {"type": "string", "description": "What went wrong, for people."},
        "details": {"type": "object"},
        "request_id": {"type": "string"},
    },
}


def _operation(entry: RouteEntry) -> dict[str, Any]:
    route = entry.route
    tags = list(route.tags) or ([entry.owner] if entry.owner != "core" else ["core"])
    if entry.owner != "core" and entry.owner not in tags:
        tags.append(entry.owner)
    handler_doc = (route.handler.__doc__ or "").strip()
    op: dict[str, Any] = {
        "operationId": f"{entry.owner}_{route.method.lower()}_{_slug(entry.full_path)}",
        "summary": route.summary or (handler_doc.splitlines()[0] if handler_doc else ""),
        "tags": tags,
        "x-revenge-permission": route.permission,
        "x-revenge-owner": entry.owner,
        "responses": {
            "200": {"description": "Success",
                    "content": {"application/json": {"schema": dict(route.response_schema or {})}}},
            "default": {"description": "Error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }
    if route.description:
        op["description"] = route.description
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PLACEHOLDER.findall(entry.full_path)]
    if params:
        op["parameters"] = params
    if route.request_schema is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": dict(route.request_schema)}}}
    op["security"] = [] if route.permission == PUBLIC else [{"bearerAuth": []}, {"apiKeyAuth": []}]
    return op


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", _PLACEHOLDER.sub(r"\1", path)).strip("_")


def build_openapi(entries: list[RouteEntry]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for entry in entries:
        path = _PLACEHOLDER.sub(r"{\1}", entry.full_path)
        paths.setdefault(path, {})[entry.route.method.lower()] = _operation(entry)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Revenge API",
            "version": __version__,
            "description": "The HTTP API of a Revenge media server, including every enabled plugin's routes.",
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def current_entries(app: web.Application) -> list[RouteEntry]:
    entries = list(app[ROUTES].entries)
    router = app[STATE].get("plugin_router")
    if router is not None:
        entries.extend(router.entries())
    return entries


async def openapi_handler(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this server's API."""
    _ = request.app[HOST]
    return web.json_response(build_openapi(current_entries(request.app)))


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Revenge API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.op{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.5rem .75rem}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
.GET{color:#0a7}.POST{color:#06c}.PUT,.PATCH{color:#a60}.DELETE{color:#c22}
code{font-size:.95em}.perm{float:right;color:#666;font-size:.85em}
</style></head><body>
<h1>Revenge API</h1>
<p>Generated from the routes this server has right now.
Raw document: <a href="/api/openapi.json">/api/openapi.json</a>.</p>
<div id="ops">Loading&hellip;</div>
<script>
fetch('/api/openapi.json').then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops))
      (byTag[op.tags[0]] = byTag[op.tags[0]] || []).push({path, method: method.toUpperCase(), op});
  const root = document.getElementById('ops'); root.textContent = '';
  for (const tag of Object.keys(byTag).sort()) {
    const h = document.createElement('h2'); h.textContent = tag; root.appendChild(h);
    for (const {path, method, op} of byTag[tag]) {
      const d = document.createElement('div'); d.className = 'op';
      const m = document.createElement('span'); m.className = 'm ' + method; m.textContent = method;
      const p = document.createElement('code'); p.textContent = path;
      const perm = document.createElement('span'); perm.className = 'perm';
      perm.textContent = op['x-revenge-permission'];
      const s = document.createElement('div'); s.textContent = op.summary || '';
      d.append(perm, m, p, s); root.appendChild(d);
    }
  }
});
</script></body></html>
"""


async def docs_handler(request: web.Request) -> web.Response:
    """A readable listing of the API, rendered from the OpenAPI document."""
    return web.Response(text=DOCS_PAGE, content_type="text/html")
