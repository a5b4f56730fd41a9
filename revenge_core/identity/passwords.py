"""Password hashing with bcrypt, and login that takes the same time for unknown users.

bcrypt reads at most 72 bytes. Rather than let it truncate silently, every password is first
reduced with HMAC-SHA256 (keyed with a fixed, public pepper label) to 44 base64 bytes, so
the whole password always counts and no input is cut. The hash records the scheme
(``$rv1$...``) so it can change later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import bcrypt

SCHEME = "$rv1$"
MAX_LENGTH = 1024  # characters; beyond this a password is refused, not truncated
BCRYPT_ROUNDS = 12


class PasswordPolicyError(ValueError):
    """A password does not meet the policy; the message says why."""


def _prehash(password: str) -> bytes:
    digest = hmac.new(b"revenge-password-v1", password.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest)


def check_policy(password: str, min_length: int) -> None:
    if not isinstance(password, str):
        raise PasswordPolicyError("The password must be text.")
    if len(password) < min_length:
        raise PasswordPolicyError(f"The password must have at least {min_length} characters.")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"The password must have at most {MAX_LENGTH} characters.")


def hash_password(password: str, rounds: int | None = None) -> str:
    # BCRYPT_ROUNDS is read at call time so tests can lower the cost.
    salted = bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds or BCRYPT_ROUNDS))
    return SCHEME + salted.decode("ascii")


def verify_password(password: str, stored: str) -> bool:
    if not stored.startswith(SCHEME) or not isinstance(password, str) or len(password) > MAX_LENGTH:
        return False
    return bcrypt.checkpw(_prehash(password), stored[len(SCHEME):].encode("ascii"))


# Verified against when the user does not exist, so a wrong username costs the same bcrypt
# work as a wrong password.
_DUMMY = hash_password("revenge-timing-equaliser")


def verify_or_burn(password: str, stored: str | None) -> bool:
    """Verify, or spend the same time failing when there is no stored hash."""
    if stored is None:
        verify_password(password, _DUMMY)
        return False
    return verify_password(password, stored)
