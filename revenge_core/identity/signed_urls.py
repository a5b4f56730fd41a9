"""Short-lived signed URLs, for players that cannot send headers (``<video src>``, TV players).

A signed URL carries ``?sig=<token>``. The token names a path prefix, the user, the login
session it was issued under (``None`` for API keys) and an expiry, and is MACed with a key
derived from the server's signing secret. It authenticates only GET and HEAD requests whose
path starts with that prefix, as a read-only credential (scope ``read``), and stops working
when it expires, when its login session ends, or when the account is disabled. Whatever the
route serves under the prefix still checks its own rules (the session is the caller's, the
item is still visible), exactly as for a header-authenticated request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

import attrs

from revenge_hookspecs.errors import ApiError

if TYPE_CHECKING:
    from .service import Identity

QUERY_PARAMETER = "sig"
SIGNED_METHODS = frozenset({"GET", "HEAD"})
MAX_TOKEN_LENGTH = 1024


def invalid_signature(message: str) -> ApiError:
    return ApiError(401, "invalid_signature", message)


@attrs.frozen
class SignedClaims:
    prefix: str
    user_id: int
    session_id: str | None
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedUrls:
    def __init__(self, identity: Identity):
        self.identity = identity

    def _mac(self, body: str) -> str:
        key = self.identity.tokens.derived_secret("signed-url")
        return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())

    def sign(self, prefix: str, user_id: int, session_id: str | None, ttl: int) -> tuple[str, int]:
        """A token for GET/HEAD below ``prefix`` and its expiry (Unix seconds)."""
        if not prefix.startswith("/") or not prefix.endswith("/") or ".." in prefix:
            raise ValueError(f"a signed prefix is a normalised folder path, not {prefix!r}")
        expires = int(time.time()) + int(ttl)
        body = _b64(json.dumps({"p": prefix, "u": user_id, "s": session_id, "e": expires},
                               separators=(",", ":")).encode())
        return f"{body}.{self._mac(body)}", expires

    def claims(self, token: str, path: str, method: str) -> SignedClaims:
        """The claims of a token that is genuine, unexpired and valid for this request; else 401."""
        if method not in SIGNED_METHODS:
            raise invalid_signature("Signed URLs work for GET and HEAD only.")
        body, _, mac = token.partition(".")
        if not body or not mac or len(token) > MAX_TOKEN_LENGTH:
            raise invalid_signature("The signature of this URL is malformed.")
        if not hmac.compare_digest(mac.encode("ascii", "replace"), self._mac(body).encode()):
            raise invalid_signature("The signature of this URL is not valid.")
        try:
            data = json.loads(_unb64(body))
            claims = SignedClaims(prefix=str(data["p"]), user_id=int(data["u"]),
                                  session_id=None if data["s"] is None else str(data["s"]), expires=int(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise invalid_signature("The signature of this URL is malformed.") from None
        if claims.expires <= time.time():
            raise invalid_signature("This signed URL has expired; ask for a new one.")
        if not path.startswith(claims.prefix):
            raise invalid_signature("This signed URL is not valid for this path.")
        return claims
