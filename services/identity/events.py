"""Event types of the identity log. Secrets never enter an event: password hashes, TOTP secrets
and tokens live in the credentials tables; the log records that they changed, by whom, why."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("identity")

ROLES = ["pegawai", "fasilitator", "administrator", "auditor"]
_role = fields.String(required=True, validate=validate.OneOf(ROLES))


@REGISTRY.event("AccountRegistered", version=1)
class AccountRegistered(Schema):
    account_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["pegawai", "staff"]))
    display_name = fields.String(required=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    home_opd = fields.String(allow_none=True)
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True)
    opd_scope = fields.List(fields.String(), load_default=list)


@REGISTRY.event("RoleGranted", version=1)
class RoleGranted(Schema):
    role = _role
    opd_scope = fields.List(fields.String(), load_default=list)


@REGISTRY.event("RoleRevoked", version=1)
class RoleRevoked(Schema):
    role = _role


@REGISTRY.event("PasswordChanged", version=1)
class PasswordChanged(Schema):
    method = fields.String(required=True, validate=validate.OneOf(["self", "reset", "initial"]))


@REGISTRY.event("PasswordResetRequested", version=1)
class PasswordResetRequested(Schema):
    expires_at = fields.String(required=True)
    delivered_to = fields.String(required=True)


@REGISTRY.event("ContactChanged", version=1)
class ContactChanged(Schema):
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


@REGISTRY.event("TotpEnrolled", version=1)
class TotpEnrolled(Schema):
    pass


@REGISTRY.event("AccountDisabled", version=1)
class AccountDisabled(Schema):
    pass


@REGISTRY.event("AccountEnabled", version=1)
class AccountEnabled(Schema):
    pass


@REGISTRY.event("LoginSucceeded", version=1)
class LoginSucceeded(Schema):
    session_id = fields.String(required=True)
    device = fields.String(required=True)


@REGISTRY.event("LoginFailed", version=1)
class LoginFailed(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(
        ["bad_password", "bad_otp", "locked", "disabled", "no_password"]))
    failures = fields.Integer(required=True)


@REGISTRY.event("AccountLocked", version=1)
class AccountLocked(Schema):
    until = fields.String(required=True)
    failures = fields.Integer(required=True)


@REGISTRY.event("SessionRevoked", version=1)
class SessionRevoked(Schema):
    session_id = fields.String(required=True)
    cause = fields.String(required=True, validate=validate.OneOf(
        ["logout", "owner", "administrator", "password_changed", "account_disabled",
         "refresh_reuse"]))
