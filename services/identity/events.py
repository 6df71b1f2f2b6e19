"""Event types of the identity log. Secrets never enter an event: password hashes, TOTP secrets
and tokens live in the credentials tables; the log records that they changed, by whom, why."""

from marshmallow import Schema, fields, validate

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("identity", streams=(
    "account:<account_id>",         # an account: the NIP of a pegawai, else the login name
    "login:<account_id>",           # its logins: succeeded, failed, locked, sessions revoked
    "access-request:<request_id>",  # a request for a role or an OPD scope, and its decision
    "access-review:<review_id>",    # a periodic access review and its sign-off
))

ROLES = ["pegawai", "fasilitator", "administrator", "auditor", "machine"]
_role = fields.String(required=True, validate=validate.OneOf(ROLES))


@REGISTRY.event("AccountRegistered", version=1)
class AccountRegistered(Schema):
    account_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["pegawai", "staff", "machine"]))
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
    #: the integrity pact the grant rests on (issue 17): its pact id; absent before issue 17
    #: and for auditors (who sign none)
    pact_id = fields.String(allow_none=True, load_default=None)


@REGISTRY.event("RoleRevoked", version=1)
class RoleRevoked(Schema):
    role = _role


_pact_role = fields.String(required=True, validate=validate.OneOf(["fasilitator", "administrator"]))


@REGISTRY.event("IntegrityPactSigned", version=1)
class IntegrityPactSigned(Schema):
    """The person signed the integrity pact (pakta integritas) for a staff role from their own
    session, re-authenticated by password: the PDF the signing service rendered and signed is
    `document_id` (issue 17 part 5)."""

    pact_id = fields.String(required=True)
    role = _pact_role
    opd_scope = fields.List(fields.String(), load_default=list)
    document_id = fields.String(required=True)


@REGISTRY.event("IntegrityPactRecorded", version=1)
class IntegrityPactRecorded(Schema):
    """A pact signed on paper, recorded by the bootstrap (the first administrator of an
    installation, the demo seed, the tests' staff), which cannot call the signing service."""

    pact_id = fields.String(required=True)
    role = _pact_role
    paper_reference = fields.String(required=True)
    recorded_by = fields.String(required=True)


@REGISTRY.event("IntegrityPactWithdrawn", version=1)
class IntegrityPactWithdrawn(Schema):
    """The pact no longer holds (`cause`: the person withdrew it, or its signed document was
    revoked): the role it carried stops working at once (fenced: shared/auth.py
    ACCESS_CHANGES)."""

    pact_id = fields.String(required=True)
    role = _pact_role
    cause = fields.String(required=True, validate=validate.OneOf(["owner", "document_revoked"]))


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


@REGISTRY.event("TotpReset", version=1)
class TotpReset(Schema):
    pass


@REGISTRY.event("OpdScopeChanged", version=1)
class OpdScopeChanged(Schema):
    opd_scope = fields.List(fields.String(), required=True)


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
    """A failed attempt on the account (the client address is in the metadata); `failures` are
    the consecutive ones from that address (before issue 12: from anywhere). `throttled`: refused
    unchecked while the address waits; `locked` is only found in logs from before issue 12."""

    reason = fields.String(required=True, validate=validate.OneOf(
        ["bad_password", "bad_otp", "bad_current_password", "throttled", "locked", "disabled",
         "no_password", "bad_unlock_password", "bad_unlock_otp"]))
    failures = fields.Integer(required=True)


@REGISTRY.event("SessionUnlocked", version=1)
class SessionUnlocked(Schema):
    """The session's owner re-entered their password (and OTP) on a page the clear-screen lock
    had locked (issue 16, `POST /api/auth/unlock`); no token was issued."""

    session_id = fields.String(required=True)


@REGISTRY.event("LoginThrottled", version=1)
class LoginThrottled(Schema):
    """The client address in the metadata must wait until `until` before trying this login
    again (the account itself stays usable from elsewhere)."""

    until = fields.String(required=True)
    failures = fields.Integer(required=True)


@REGISTRY.event("AccountLocked", version=1)
class AccountLocked(Schema):
    """Only in logs from before issue 12: five failures from anywhere locked the account."""

    until = fields.String(required=True)
    failures = fields.Integer(required=True)


@REGISTRY.event("SessionRevoked", version=1)
class SessionRevoked(Schema):
    session_id = fields.String(required=True)
    cause = fields.String(required=True, validate=validate.OneOf(
        ["logout", "owner", "administrator", "password_changed", "account_disabled",
         "refresh_reuse", "totp_enrolled"]))


@REGISTRY.event("AccessRequested", version=1)
class AccessRequested(Schema):
    request_id = fields.String(required=True)
    role = _role
    opd_scope = fields.List(fields.String(), required=True)
    subject_login = fields.String(required=True)
    subject = fields.Dict(required=True)
    justification = fields.String(required=True)


@REGISTRY.event("AccessRequestApproved", version=1)
class AccessRequestApproved(Schema):
    account_id = fields.String(required=True)
    note = fields.String(required=True)


@REGISTRY.event("AccessRequestRefused", version=1)
class AccessRequestRefused(Schema):
    note = fields.String(required=True)


@REGISTRY.event("AccessReviewGenerated", version=1)
class AccessReviewGenerated(Schema):
    review_id = fields.String(required=True)
    stale_days = fields.Integer(required=True)
    summary = fields.Dict(required=True)
    flagged = fields.List(fields.Dict(), required=True)


@REGISTRY.event("AccessReviewSignedOff", version=1)
class AccessReviewSignedOff(Schema):
    note = fields.String(required=True)


@REGISTRY.event("ClientRegistered", version=1)
class ClientRegistered(Schema):
    client_kind = fields.String(required=True, validate=validate.OneOf(["kabkota", "agency"]))
    kabkota_code = fields.String(allow_none=True)
    agreement_kind = fields.String(required=True, validate=validate.OneOf(["MoU", "PKS"]))
    agreement_number = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    valid_from = fields.String(required=True)
    valid_until = fields.String(required=True)


@REGISTRY.event("ClientRegistered", version=2)
class ClientRegisteredWithTerms(ClientRegistered):
    """A machine client and its agreement's terms (issue 17): the fields it may receive (the
    confidential ones named again), the population (instansi, OPDs), the purposes, the rate per
    minute and the quota per day (shared/contracts/agency.py AgreementTerms)."""

    allowed_fields = fields.List(fields.String(), required=True)
    confidential_fields = fields.List(fields.String(), required=True)
    population_instansi = fields.List(fields.String(), required=True)
    population_opds = fields.List(fields.String(), required=True)
    purposes = fields.List(fields.String(), required=True)
    rate_per_minute = fields.Integer(required=True)
    quota_per_day = fields.Integer(required=True)


@REGISTRY.upcaster("ClientRegistered", from_version=1)
def _registered_without_terms(payload: dict) -> dict:
    # before issue 17 an agreement named no terms: such a client reaches no agency route
    return {**payload, "allowed_fields": [], "confidential_fields": [],
            "population_instansi": [], "population_opds": [], "purposes": [],
            "rate_per_minute": 60, "quota_per_day": 10_000}


@REGISTRY.event("ClientSuspended", version=1)
class ClientSuspended(Schema):
    """BKD suspended the client's agreement (`reason`): every request is refused at once
    (agreement_suspended) until it is reinstated; its sessions stay, its cached ones are
    fenced (shared/auth.py ACCESS_CHANGES)."""

    reason = fields.String(required=True)


@REGISTRY.event("ClientReinstated", version=1)
class ClientReinstated(Schema):
    reason = fields.String(required=True)


@REGISTRY.event("ClientSecretRotated", version=1)
class ClientSecretRotated(Schema):
    pass
