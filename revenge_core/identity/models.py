"""Identity and access tables, all in the ``shared`` schema.

Secrets are never stored as given: passwords as bcrypt hashes, refresh tokens, API keys and
backup codes as SHA-256 digests of high-entropy random values. Secrets the server must read
back (TOTP secrets, secret settings) are encrypted (see ``crypto``).
"""

from __future__ import annotations

import peewee

from revenge_hookspecs.db import Model

from ..db.models import utcnow


class Shared(Model):
    class Meta:
        schema = "shared"


class User(Shared):
    username = peewee.CharField(max_length=64)
    username_key = peewee.CharField(max_length=64, unique=True)  # case-folded, for lookups
    email = peewee.CharField(max_length=254, null=True)
    email_key = peewee.CharField(max_length=254, null=True, unique=True)
    display_name = peewee.CharField(max_length=128, default="")
    avatar_url = peewee.CharField(max_length=1024, default="")
    password_hash = peewee.CharField(max_length=128)
    enabled = peewee.BooleanField(default=True)
    totp_secret = peewee.CharField(max_length=255, null=True)  # encrypted (crypto.SecretBox)
    totp_enabled = peewee.BooleanField(default=False)
    password_changed_at = peewee.DateTimeField(default=utcnow)
    created_at = peewee.DateTimeField(default=utcnow)
    last_login_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "users"


class Session(Shared):
    id = peewee.CharField(primary_key=True, max_length=36)
    user = peewee.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    device = peewee.CharField(max_length=128, default="")
    ip = peewee.CharField(max_length=64, default="")
    user_agent = peewee.CharField(max_length=512, default="")
    cookie_mode = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    last_activity_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()
    revoked_at = peewee.DateTimeField(null=True)
    revoked_reason = peewee.CharField(max_length=64, default="")

    class Meta:
        table_name = "sessions"


class RefreshToken(Shared):
    token_hash = peewee.CharField(primary_key=True, max_length=64)
    session = peewee.ForeignKeyField(Session, backref="refresh_tokens", on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    used_at = peewee.DateTimeField(null=True)  # set when rotated; presenting it again is reuse

    class Meta:
        table_name = "refresh_tokens"


class UsedToken(Shared):
    """A single-use token (an MFA token's ``jti``) already spent, kept until it would expire.

    Inserting the row is the claim: the primary key lets exactly one request, on any
    instance, spend a token (migration 0006).
    """

    jti = peewee.CharField(primary_key=True, max_length=64)
    purpose = peewee.CharField(max_length=32)
    expires_at = peewee.DateTimeField(index=True)

    class Meta:
        table_name = "used_tokens"


class LoginAttempt(Shared):
    username_key = peewee.CharField(max_length=254, index=True)
    ip = peewee.CharField(max_length=64, index=True)
    success = peewee.BooleanField()
    at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "login_attempts"


class BackupCode(Shared):
    user = peewee.ForeignKeyField(User, backref="backup_codes", on_delete="CASCADE")
    code_hash = peewee.CharField(max_length=64, unique=True)
    used_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "backup_codes"


class ApiKey(Shared):
    user = peewee.ForeignKeyField(User, backref="api_keys", on_delete="CASCADE")
    name = peewee.CharField(max_length=128)
    prefix = peewee.CharField(max_length=16, index=True)
    key_hash = peewee.CharField(max_length=64, unique=True)
    scopes = peewee.CharField(max_length=256)  # comma-separated: read,write,admin,legacy:read
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(null=True)
    last_used_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "api_keys"


class Group(Shared):
    name = peewee.CharField(max_length=64, unique=True)
    description = peewee.CharField(max_length=256, default="")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "groups"


class GroupMember(Shared):
    group = peewee.ForeignKeyField(Group, backref="members", on_delete="CASCADE")
    user = peewee.ForeignKeyField(User, backref="memberships", on_delete="CASCADE")

    class Meta:
        table_name = "group_members"
        indexes = ((("group", "user"), True),)


class CasbinRule(Shared):
    """casbin policy lines: ``p, role, permission`` and ``g, user:<id>, role``."""

    ptype = peewee.CharField(max_length=8)
    v0 = peewee.CharField(max_length=256, default="")
    v1 = peewee.CharField(max_length=256, default="")
    v2 = peewee.CharField(max_length=256, default="")
    v3 = peewee.CharField(max_length=256, default="")
    v4 = peewee.CharField(max_length=256, default="")
    v5 = peewee.CharField(max_length=256, default="")

    class Meta:
        table_name = "casbin_rules"


class Grant(Shared):
    """Access to a library or an item for a user or a group, optionally until a date."""

    subject_type = peewee.CharField(max_length=8)  # user | group
    subject_id = peewee.BigIntegerField()
    resource_type = peewee.CharField(max_length=16)  # library | item
    resource_id = peewee.CharField(max_length=64)
    permission = peewee.CharField(max_length=16)  # view | download | manage
    expires_at = peewee.DateTimeField(null=True)
    created_by = peewee.BigIntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "grants"
        indexes = ((("subject_type", "subject_id"), False), (("resource_type", "resource_id"), False))


class Activity(Shared):
    at = peewee.DateTimeField(default=utcnow, index=True)
    actor_id = peewee.BigIntegerField(null=True, index=True)
    actor = peewee.CharField(max_length=128, default="")
    action = peewee.CharField(max_length=64, index=True)
    target_type = peewee.CharField(max_length=32, default="")
    target_id = peewee.CharField(max_length=64, default="")
    ip = peewee.CharField(max_length=64, default="")
    user_agent = peewee.CharField(max_length=512, default="")
    success = peewee.BooleanField(default=True)
    before = peewee.TextField(null=True)  # JSON
    after = peewee.TextField(null=True)  # JSON
    details = peewee.TextField(null=True)  # JSON

    class Meta:
        table_name = "activity_log"


class ServerSetting(Shared):
    key = peewee.CharField(primary_key=True, max_length=128)
    value = peewee.TextField()  # JSON
    updated_at = peewee.DateTimeField(default=utcnow)
    updated_by = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = "server_settings"


class UserPreference(Shared):
    user = peewee.ForeignKeyField(User, backref="preferences", on_delete="CASCADE")
    key = peewee.CharField(max_length=64)
    value = peewee.TextField()  # JSON

    class Meta:
        table_name = "user_preferences"
        indexes = ((("user", "key"), True),)


class SetupStep(Shared):
    step = peewee.CharField(primary_key=True, max_length=32)
    data = peewee.TextField(default="{}")  # JSON, secrets removed
    completed_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        table_name = "setup_steps"


IDENTITY_MODELS: list[type[peewee.Model]] = [
    User, Session, RefreshToken, UsedToken, LoginAttempt, BackupCode, ApiKey, Group, GroupMember, CasbinRule, Grant,
    Activity, ServerSetting, UserPreference, SetupStep,
]
