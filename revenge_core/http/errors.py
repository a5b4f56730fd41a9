"""One JSON shape for every error the API returns, and the middleware that enforces it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from loguru import logger

from revenge_hookspecs.errors import ApiError

from ..db.database import DatabaseUnavailable
from .keys import REQUEST_ID

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
_MESSAGES = {
    404: "Nothing lives at this address.",
    405: "This address does not accept that method.",
}


def error_response(request: web.Request, status: int, code: str, message: str,
                   details: Mapping[str, Any] | None = None,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"code": code, "message": message, "details": dict(details or {}),
            "request_id": request.get(REQUEST_ID, "")}
    return web.json_response(body, status=status, headers=headers)


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    status = exc.status
    message = _MESSAGES.get(status) or (exc.text if exc.text and not exc.text.startswith(f"{status}:") else exc.reason)
    kept = ("allow", "retry-after", "www-authenticate", "location")
    headers = {k: v for k, v in exc.headers.items() if k.lower() in kept}
    return error_response(request, status, _CODES.get(status, f"http_{status}"), message, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn every failure into the JSON error body; never leak a stack trace."""
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status >= 500:
            logger.error("{} {} failed: {} {}", request.method, request.path, exc.code, exc.message)
        return error_response(request, exc.status, exc.code, exc.message, exc.details,
                              headers=getattr(exc, "headers", None))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _from_http_exception(request, exc)
    except json.JSONDecodeError:
        return error_response(request, 400, "invalid_json", "The request body is not valid JSON.")
    except DatabaseUnavailable as exc:
        logger.warning("{} {}: {}", request.method, request.path, exc)
        return error_response(request, 503, "database_unavailable",
                              "The database is unreachable; try again shortly.", headers={"Retry-After": "1"})
    except Exception as exc:
        logger.opt(exception=exc).error("{} {} raised", request.method, request.path)
        return error_response(request, 500, "internal_error",
                              "Something went wrong on the server; it has been logged.")
