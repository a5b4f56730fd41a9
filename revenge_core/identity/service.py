"""The identity services of one server instance, built lazily on first use.

Each service is a class taking this container, so it can reach the database, the cache,
the configuration and its sibling services (``identity.rbac`` from ``identity.users``...).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..services import Services


class Identity:
    def __init__(self, services: Services):
        self.services = services
        self.db = services.db
        self.config = services.config
        self.cache = services.cache

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on a database thread with the identity models bound."""
        from .models import IDENTITY_MODELS

        def call() -> Any:
            self.db.bind(IDENTITY_MODELS)
            return fn(*args)

        return await self.db.run(call)

    # --- authentication -----------------------------------------------------------------
    @cached_property
    def tokens(self) -> Any:
        from .tokens import Tokens

        return Tokens(self)

    @cached_property
    def secret_box(self) -> Any:
        """Encryption at rest (``encryption.key``, or the key generated in the data folder)."""
        from .crypto import SecretBox

        return SecretBox.from_config(self.config)

    @cached_property
    def sessions(self) -> Any:
        from .sessions import Sessions

        return Sessions(self)

    @cached_property
    def api_keys(self) -> Any:
        from .apikeys import ApiKeys

        return ApiKeys(self)

    @cached_property
    def lockout(self) -> Any:
        from .lockout import Lockout

        return Lockout(self)

    @cached_property
    def totp(self) -> Any:
        from .totp import Totp

        return Totp(self)

    @cached_property
    def authn(self) -> Any:
        from .authn import Authenticator

        return Authenticator(self)

    # --- authorization ------------------------------------------------------------------
    @cached_property
    def rbac(self) -> Any:
        from .rbac import Rbac

        return Rbac(self)

    @cached_property
    def grants(self) -> Any:
        from .grants import Grants

        return Grants(self)

    # --- people and the server -------------------------------------------------------------
    @cached_property
    def users(self) -> Any:
        from .users import Users

        return Users(self)

    @cached_property
    def activity(self) -> Any:
        from .activity import ActivityLog

        return ActivityLog(self)

    @cached_property
    def settings(self) -> Any:
        from .settings import Settings

        return Settings(self)

    @cached_property
    def setup(self) -> Any:
        from .setup import Setup

        return Setup(self)

    @cached_property
    def signed_urls(self) -> Any:
        from .signed_urls import SignedUrls

        return SignedUrls(self)
