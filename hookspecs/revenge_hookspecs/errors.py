"""Errors a plugin's route handler may raise to answer with Revenge's JSON error body.

The host turns them into ``{"code": ..., "message": ..., "details": ..., "request_id": ...}``
with the given HTTP status. Any other exception becomes a 500 ``internal_error`` whose
details stay in the server log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An error meant for the API client.

    :param status: HTTP status code.
    :param code: stable machine-readable code, e.g. ``not_found``.
    :param message: a sentence saying what was wrong and what to do.
    :param details: optional structured details (field errors, limits...).
    :param headers: response headers to send with it (``Retry-After``...).
    """

    def __init__(self, status: int, code: str, message: str, details: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


class NotFound(ApiError):
    def __init__(self, message: str = "Not found.", details: Mapping[str, Any] | None = None):
        super().__init__(404, "not_found", message, details)


class BadRequest(ApiError):
    def __init__(self, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(400, "bad_request", message, details)


class Conflict(ApiError):
    def __init__(self, message: str, details: Mapping[str, Any] | None = None):
        super().__init__(409, "conflict", message, details)
