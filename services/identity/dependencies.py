"""The identity service's composition point: credential tooling built from validated config in
`setup()` (never at import time)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates
from nameko.extensions import DependencyProvider

from services.identity.domain import PasswordPolicy, ThrottlePolicy
from services.identity.security import AccessTokens, Passwords, SecretBox
from shared.errors import ConfigError


class IdentityConfigSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    TOKEN_SIGNING_KEY = fields.String(required=True, validate=validate.Length(min=32))
    SECRET_ENCRYPTION_KEY = fields.String(required=True)
    ACCESS_TOKEN_TTL = fields.Integer(load_default=900, validate=validate.Range(60, 3600))
    REFRESH_TOKEN_TTL = fields.Integer(load_default=14 * 86400,
                                       validate=validate.Range(3600, 90 * 86400))
    RESET_TOKEN_TTL = fields.Integer(load_default=3600, validate=validate.Range(300, 86400))
    #: failed attempts per (client address, login) before that source must wait, how long it
    #: waits then, doubling per further failure, and the longest wait (domain.ThrottlePolicy)
    LOGIN_THROTTLE_FREE_ATTEMPTS = fields.Integer(load_default=5, validate=validate.Range(3, 20))
    LOGIN_THROTTLE_BASE_SECONDS = fields.Integer(load_default=30,
                                                 validate=validate.Range(1, 3600))
    LOGIN_THROTTLE_MAX_SECONDS = fields.Integer(load_default=900,
                                                validate=validate.Range(1, 86400))
    ARGON2_TIME_COST = fields.Integer(load_default=3, validate=validate.Range(1, 10))
    ARGON2_MEMORY_KIB = fields.Integer(load_default=65536, validate=validate.Range(8, 1 << 21))
    NOTIFICATION_OUTBOX = fields.String(load_default="var/notifications.jsonl")
    #: how long a caching gateway replica's lease lasts (services/identity/fences.py); the most
    #: an access change waits for a replica that stopped answering
    SESSION_LEASE_SECONDS = fields.Integer(load_default=6, validate=validate.Range(2, 60))

    @validates("SECRET_ENCRYPTION_KEY")
    def _fernet(self, value, **kwargs):
        try:
            Fernet(value.encode())
        except (ValueError, TypeError):
            raise ValidationError("must be a Fernet key (32 url-safe base64-encoded bytes); "
                                  "make one with `simasn keys`") from None


class Outbox:
    """Where identity's mail goes when no SMTP relay is set (SMTP_HOST empty): a local JSON-lines
    file a developer reads. Messages reach it through `mailer.deliver`, like the relay."""

    def __init__(self, path: str):
        self.path = path

    def send(self, to: str, subject: str, body: str, kind: str) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        line = json.dumps({"to": to, "subject": subject, "body": body, "kind": kind,
                           "queued_at": datetime.now(UTC).isoformat()}, ensure_ascii=False)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


@dataclass(frozen=True)
class IdentityKit:
    passwords: Passwords
    tokens: AccessTokens
    box: SecretBox
    password_policy: PasswordPolicy
    throttle: ThrottlePolicy
    refresh_ttl: timedelta
    reset_ttl: timedelta
    outbox: Outbox
    lease_seconds: int


def build_kit(config: dict) -> IdentityKit:
    """Validate the identity keys of a config mapping and build the tooling; a bad or missing
    key fails naming it."""
    try:
        c = IdentityConfigSchema().load(config)
    except ValidationError as exc:
        key = sorted(exc.messages)[0]
        raise ConfigError(f"config key {key}: {exc.messages[key][0]}", field=key) from None
    return IdentityKit(
        passwords=Passwords(c["ARGON2_TIME_COST"], c["ARGON2_MEMORY_KIB"]),
        tokens=AccessTokens(c["TOKEN_SIGNING_KEY"], c["ACCESS_TOKEN_TTL"]),
        box=SecretBox(c["SECRET_ENCRYPTION_KEY"]),
        password_policy=PasswordPolicy(),
        throttle=ThrottlePolicy(c["LOGIN_THROTTLE_FREE_ATTEMPTS"],
                                timedelta(seconds=c["LOGIN_THROTTLE_BASE_SECONDS"]),
                                timedelta(seconds=c["LOGIN_THROTTLE_MAX_SECONDS"])),
        refresh_ttl=timedelta(seconds=c["REFRESH_TOKEN_TTL"]),
        reset_ttl=timedelta(seconds=c["RESET_TOKEN_TTL"]),
        outbox=Outbox(c["NOTIFICATION_OUTBOX"]),
        lease_seconds=c["SESSION_LEASE_SECONDS"],
    )


class Identity(DependencyProvider):
    def setup(self):
        self.kit = build_kit(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.kit
