"""Contract of the identity service (RPC) and its gateway routes (HTTP)."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.contracts.agency import AGENCY_SCOPES, AgreementTerms, agency_terms_problems

ROLES = ["pegawai", "fasilitator", "administrator", "auditor"]
STAFF_ROLES = ["fasilitator", "administrator", "auditor"]

_login = fields.String(required=True, validate=validate.Length(1, 64),
                       metadata={"description": "NIP (18 digit) untuk pegawai, nama pengguna "
                                                "untuk staf"})
_password = fields.String(required=True, load_only=True, validate=validate.Length(1, 256))
_otp = fields.String(validate=validate.Regexp(r"^\d{6}$", error="kode OTP 6 digit"))
_device = fields.String(validate=validate.Length(1, 100), load_default=None)
_reason = fields.String(required=True, validate=validate.Length(3, 500))
_opd = fields.String(validate=validate.Regexp(r"^[a-z0-9-]{2,40}$"))
_phone = fields.String(validate=validate.Regexp(r"^(\+62|0)\d{8,13}$",
                                                error="nomor telepon Indonesia, mis. 0812..."))


class LoginRequest(Schema):
    login = _login
    password = _password
    otp = _otp
    device = _device


class TokenResponse(Schema):
    status = fields.String(required=True)
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    refresh_token = fields.String()
    session_id = fields.String()
    account_id = fields.String()
    enrollment_token = fields.String()
    totp_uri = fields.String()
    totp_secret = fields.String()


class RefreshRequest(Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(1, 200))


class TotpConfirmRequest(Schema):
    enrollment_token = fields.String(required=True, validate=validate.Length(1, 200))
    otp = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"))
    device = _device


class UnlockRequest(Schema):
    """The clear-screen lock (issue 16): the password again, and an OTP when the account has
    TOTP."""

    password = _password
    otp = _otp


class IntegrityPactSign(Schema):
    """The person signs the integrity pact (pakta integritas) for a staff role (issue 17 part
    5), re-entering their password (and an OTP when the account has TOTP)."""

    role = fields.String(required=True, validate=validate.OneOf(["fasilitator", "administrator"]))
    opd_scope = fields.List(_opd, load_default=list, validate=validate.Length(max=50))
    password = _password
    otp = _otp


class IntegrityPact(Schema):
    pact_id = fields.String()
    account_id = fields.String()
    role = fields.String()
    opd_scope = fields.List(fields.String())
    document_id = fields.String(allow_none=True, metadata={
        "description": "dokumen PDF bertanda tangan (unduh lewat rute dokumen bertanda tangan)"})
    paper_reference = fields.String(allow_none=True, metadata={
        "description": "rujukan pakta kertas (akun dari bootstrap)"})
    signed_at = fields.DateTime()
    withdrawn_at = fields.DateTime(allow_none=True)
    withdrawn_reason = fields.String(allow_none=True)
    in_force = fields.Boolean()


class PasswordChangeRequest(Schema):
    current_password = _password
    new_password = fields.String(required=True, load_only=True,
                                 validate=validate.Length(1, 256))


class ContactChangeRequest(Schema):
    current_password = _password
    email = fields.Email(validate=validate.Length(max=200))
    phone = _phone


class PasswordResetComplete(Schema):
    token = fields.String(required=True, validate=validate.Length(1, 200))
    new_password = fields.String(required=True, load_only=True,
                                 validate=validate.Length(1, 256))


class AccountCreate(Schema):
    login = _login
    display_name = fields.String(required=True, validate=validate.Length(1, 150))
    email = fields.Email(required=True, validate=validate.Length(max=200))
    phone = _phone
    home_opd = _opd
    roles = fields.List(fields.String(validate=validate.OneOf(ROLES)), required=True,
                        validate=validate.Length(1, 3))
    opd_scope = fields.List(_opd, load_default=list, validate=validate.Length(max=50))
    reason = _reason


class Account(Schema):
    account_id = fields.String(required=True)
    kind = fields.String(required=True)
    display_name = fields.String(required=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    home_opd = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    opd_scope = fields.List(fields.String())
    status = fields.String()
    totp_enrolled = fields.Boolean()
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    version = fields.Integer()


class AccountList(Schema):
    items = fields.List(fields.Nested(Account))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class AccountQuery(Schema):
    opd_id = _opd
    role = fields.String(validate=validate.OneOf(ROLES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 10_000_000))


class ReasonRequest(Schema):
    reason = _reason


class RoleChange(Schema):
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    opd_scope = fields.List(_opd, load_default=list, validate=validate.Length(max=50))
    reason = _reason


class OpdScopeChange(Schema):
    opd_scope = fields.List(_opd, required=True, validate=validate.Length(1, 50))
    reason = _reason


class ResetTriggered(Schema):
    account_id = fields.String()
    delivered_to = fields.String()
    expires_at = fields.DateTime()


class Session(Schema):
    session_id = fields.String()
    device = fields.String()
    user_agent = fields.String(allow_none=True)
    client_address = fields.String(allow_none=True)
    created_at = fields.DateTime()
    refreshed_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime()
    current = fields.Boolean()


class AccessSubject(Schema):
    login = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9._-]{2,31}$", error="nama pengguna huruf kecil, 3-32 karakter"))
    display_name = fields.String(required=True, validate=validate.Length(1, 150))
    email = fields.Email(required=True, validate=validate.Length(max=200))
    phone = _phone


class AccessRequestCreate(Schema):
    role = fields.String(required=True, validate=validate.OneOf(STAFF_ROLES))
    opd_scope = fields.List(_opd, load_default=list, validate=validate.Length(max=50))
    subject = fields.Nested(AccessSubject, required=True)
    justification = _reason


class AccessRequest(Schema):
    request_id = fields.String()
    status = fields.String()
    role = fields.String()
    opd_scope = fields.List(fields.String())
    subject_login = fields.String()
    subject = fields.Dict()
    justification = fields.String()
    requested_by = fields.String()
    requested_at = fields.DateTime()
    decided_by = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)


class AccessRequestQuery(Schema):
    status = fields.String(validate=validate.OneOf(["pending", "approved", "refused"]))


class DecisionRequest(Schema):
    note = _reason


class ReviewQuery(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class ReviewCreate(Schema):
    stale_days = fields.Integer(load_default=90, validate=validate.Range(7, 730))


class ReviewItem(Schema):
    account_id = fields.String()
    kind = fields.String()
    roles = fields.List(fields.String())
    opd_scope = fields.List(fields.String())
    status = fields.String()
    last_login_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    findings = fields.List(fields.String())
    pacts = fields.List(fields.Dict(), metadata={
        "description": "pakta integritas tiap peran staf: pact_id, role, document_id, "
                       "paper_reference, signed_at, withdrawn_at"})


class Review(Schema):
    review_id = fields.String()
    generated_by = fields.String()
    generated_at = fields.DateTime()
    stale_days = fields.Integer()
    summary = fields.Dict()
    signed_off_by = fields.String(allow_none=True)
    signed_off_at = fields.DateTime(allow_none=True)
    sign_off_note = fields.String(allow_none=True)
    items = fields.List(fields.Nested(ReviewItem), metadata={
        "description": "akun yang ditinjau (tidak ada pada daftar peninjauan)"})


CLIENT_SCOPES = ["sync:push", "sync:read", "records:read", *AGENCY_SCOPES]


class ClientCreate(AgreementTerms):
    """A machine client and its agreement: kind, number, dates, scopes, and (AgreementTerms,
    shared/contracts/agency.py) the fields, population, purposes, rate and quota it allows."""

    client_kind = fields.String(required=True, validate=validate.OneOf(["kabkota", "agency"]))
    kabkota_code = fields.String(validate=validate.Regexp(r"^35\d{2}$",
                                                          error="kode BPS 4 digit, mis. 3578"))
    client_id = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9._-]{2,31}$"))
    name = fields.String(validate=validate.Length(1, 150),
                         metadata={"description": "nama instansi (tanpa nama: client_id)"})
    agreement_kind = fields.String(required=True, validate=validate.OneOf(["MoU", "PKS"]))
    agreement_number = fields.String(required=True, validate=validate.Length(3, 120))
    scopes = fields.List(fields.String(validate=validate.OneOf(CLIENT_SCOPES)), required=True,
                         validate=validate.Length(1, len(CLIENT_SCOPES)))
    valid_from = fields.Date(required=True)
    valid_until = fields.Date(required=True)
    contact_email = fields.Email(validate=validate.Length(max=200))
    reason = _reason

    @validates_schema
    def _agency_terms(self, data, **_):
        problem = agency_terms_problems(data)
        if problem is not None:
            raise ValidationError(problem[1], problem[0])


class Client(Schema):
    client_id = fields.String()
    name = fields.String()
    status = fields.String()
    client_kind = fields.String()
    kabkota_code = fields.String(allow_none=True)
    agreement_kind = fields.String()
    agreement_number = fields.String()
    scopes = fields.List(fields.String())
    valid_from = fields.Date()
    valid_until = fields.Date()
    last_login_at = fields.DateTime(allow_none=True)
    allowed_fields = fields.List(fields.String())
    confidential_fields = fields.List(fields.String())
    population_instansi = fields.List(fields.String())
    population_opds = fields.List(fields.String())
    purposes = fields.List(fields.String())
    rate_per_minute = fields.Integer()
    quota_per_day = fields.Integer()
    suspended = fields.Boolean(metadata={"description": "perjanjian ditangguhkan"})
    suspended_reason = fields.String(allow_none=True)
    client_secret = fields.String(metadata={"description": "hanya ditampilkan sekali"})


class ClientTokenRequest(Schema):
    client_id = fields.String(required=True, validate=validate.Length(1, 64))
    client_secret = fields.String(required=True, load_only=True,
                                  validate=validate.Length(1, 200))


class Principal(Schema):
    account_id = fields.String(required=True)
    kind = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    opd_scope = fields.List(fields.String())
    home_opd = fields.String(allow_none=True)
    scopes = fields.List(fields.String())
    session_id = fields.String()
    #: Unix time after which this answer may no longer hold without any change being recorded
    #: (the session's end, a machine client's agreement end): a cache keeps it no longer
    cache_until = fields.Float()
    #: a machine client's agreement: kind, number, fields, population, purposes, rate, quota
    #: (the gateway cuts agency answers to it, services/gateway/usecases/agency.py)
    agreement = fields.Dict(allow_none=True)


class LeaseRequest(Schema):
    """A caching gateway replica asking for (or giving back) its session-cache lease."""
    holder = fields.UUID(required=True)


class LeaseAnswer(Schema):
    lease_seconds = fields.Integer(required=True)
    #: fences of the last few lease periods: a holder that never received one empties its cache
    fences = fields.List(fields.Integer(), required=True)
