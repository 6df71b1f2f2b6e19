"""The identity service's composition point, its Nameko DependencyProviders: the credential
tooling (`Identity`), where mail goes (`Mail`) and the fenced database (`FencedDatabase`), each
built in `setup()` from validated config (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates
from nameko.extensions import DependencyProvider

from services.identity.domain import PasswordPolicy, ThrottlePolicy
from services.identity.fences import Announcer, FencedServiceDatabase, scope_of
from services.identity.mailer import Outbox, SmtpRelay
from services.identity.security import AccessTokens, Passwords, SecretBox
from shared.db import Database
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
    #: the BKD official (a signer of the signing service's keystore) whose certificate signs the
    #: integrity pacts staff sign (issue 17 part 5, usecases/pacts.py)
    INTEGRITY_PACT_SIGNER = fields.String(load_default="admin.bkd",
                                          validate=validate.Length(1, 80))

    @validates("SECRET_ENCRYPTION_KEY")
    def _fernet(self, value, **kwargs):
        try:
            Fernet(value.encode())
        except (ValueError, TypeError):
            raise ValidationError("must be a Fernet key (32 url-safe base64-encoded bytes); "
                                  "make one with `simasn keys`") from None


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
    pact_signer: str = "admin.bkd"


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
        pact_signer=c["INTEGRITY_PACT_SIGNER"],
    )


class Identity(DependencyProvider):
    def setup(self):
        self.kit = build_kit(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.kit


class Mail(DependencyProvider):
    """Where identity's mail goes (request notifications, activation, reset): an SMTP relay
    (SMTP_HOST, SMTP_PORT, SMTP_SENDER, SMTP_STARTTLS, SMTP_USERNAME/SMTP_PASSWORD) or, by
    default, the local outbox file."""

    def setup(self):
        config = self.container.config
        host = config.get("SMTP_HOST")
        if not host:
            self.transport = build_kit(config).outbox
            return
        try:
            port = int(config.get("SMTP_PORT") or 587)
        except (TypeError, ValueError):
            raise ConfigError("SMTP_PORT harus angka", field="SMTP_PORT") from None
        self.transport = SmtpRelay(
            host, port, config.get("SMTP_SENDER") or "simasn@bkd.jatimprov.go.id",
            str(config.get("SMTP_STARTTLS", "true")).lower() in ("1", "true", "yes"),
            config.get("SMTP_USERNAME") or None, config.get("SMTP_PASSWORD") or None)

    def get_dependency(self, worker_ctx):
        return self.transport


class FencedDatabase(Database):
    """`db = FencedDatabase(REGISTRY)`: identity's database dependency, whose transactions that
    change access are fenced (services/identity/fences.py)."""

    def setup(self):
        super().setup()
        amqp_uri = self.container.config["AMQP_URI"]
        self.announcer = Announcer(amqp_uri, scope_of(amqp_uri), self.engine)

    def get_dependency(self, worker_ctx):
        return FencedServiceDatabase(self.engine, self.store, worker_ctx.data, self.config,
                                     self.announcer)
