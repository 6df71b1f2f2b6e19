"""Contract of the agency web services (issue 17 parts 1 and 4, docs/design/sharing.md): what a
machine client's agreement (MoU/PKS) may allow, the queries of `GET /api/agency/employees` and
`GET /api/agency/employees/<nip>`, their answers, and the grant the gateway passes to records
(the agreement's cut, checked again by records).

Every answer is cut to the agreement: the fields it lists (confidential ones - NIK, health
notes - only when listed by name), its population (instansi, OPDs), one of its purposes named
in the request, while it is in force and not suspended, within its rate and daily quota."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.reference import instansi

#: what an agreement may release of an employee's data pokok (`nip` is always the key)
AGENCY_FIELDS = ("nip", "nik", "name", "gelar_depan", "gelar_belakang", "birth_place",
                 "date_of_birth", "gender", "religion", "marital_status", "address", "email",
                 "phone", "status", "tmt_cpns", "tmt_pns", "instansi", "opd_id", "opd_name",
                 "unit", "golongan", "education_id", "catatan_kesehatan")
#: never released unless the agreement names them (and the registration says so, field by field)
CONFIDENTIAL_AGENCY_FIELDS = ("nik", "catatan_kesehatan")
#: the scope each agency route needs (identity's CLIENT_SCOPES holds them)
SCOPE_LIST, SCOPE_READ = "agency:list", "agency:read"
AGENCY_SCOPES = (SCOPE_LIST, SCOPE_READ)
_OPD = r"^(35\d\d\.)?[a-z0-9-]{2,40}$"
_PURPOSE = r"^[a-z0-9][a-z0-9_-]{1,59}$"


def _purpose(**kw):
    return fields.String(validate=validate.Regexp(
        _PURPOSE, error="kode tujuan: huruf kecil, angka, _ -"), **kw)

MAX_PAGE = 100


def _instansi_code():
    return fields.String(validate=validate.OneOf(
        sorted(instansi()), error="kode instansi tidak dikenal (35 atau kode BPS kab/kota)"))


class AgreementTerms(Schema):
    """The terms of an agreement beyond its kind, number and dates: what it releases, of whom,
    what for, how often. Part of ClientCreate (identity)."""

    allowed_fields = fields.List(fields.String(validate=validate.OneOf(AGENCY_FIELDS)),
                                 load_default=list, validate=validate.Length(max=len(
                                     AGENCY_FIELDS)), metadata={
                                     "description": "kolom yang boleh diberikan"})
    confidential_fields = fields.List(
        fields.String(validate=validate.OneOf(CONFIDENTIAL_AGENCY_FIELDS)), load_default=list,
        metadata={"description": "kolom rahasia yang secara tegas diizinkan perjanjian (juga "
                                 "harus ada di allowed_fields)"})
    population_instansi = fields.List(_instansi_code(), load_default=list, metadata={
        "description": "instansi yang datanya boleh diberikan (35: provinsi)"})
    population_opds = fields.List(fields.String(validate=validate.Regexp(_OPD)),
                                  load_default=list, metadata={
                                      "description": "OPD yang datanya boleh diberikan (kosong: "
                                                     "seluruh OPD instansi itu)"})
    purposes = fields.List(_purpose(), load_default=list, validate=validate.Length(max=20),
                           metadata={"description": "tujuan penggunaan yang disepakati"})
    rate_per_minute = fields.Integer(load_default=60, validate=validate.Range(1, 6000))
    quota_per_day = fields.Integer(load_default=10_000, validate=validate.Range(1, 10_000_000))

    @validates_schema
    def _consistent(self, data, **_):
        listed = set(data.get("allowed_fields") or ())
        for name in data.get("confidential_fields") or ():
            if name not in listed:
                raise ValidationError("kolom rahasia harus juga ada di allowed_fields",
                                      "confidential_fields")
        for name in sorted(listed & set(CONFIDENTIAL_AGENCY_FIELDS)):
            if name not in (data.get("confidential_fields") or ()):
                raise ValidationError(f"{name} adalah kolom rahasia: sebutkan juga di "
                                      "confidential_fields", "allowed_fields")


def agency_terms_problems(data: dict) -> tuple[str, str] | None:
    """(field, message) when a client with an agency scope lacks what the scope needs."""
    if not set(data.get("scopes") or ()) & set(AGENCY_SCOPES):
        return None
    for name, message in (("allowed_fields", "sebutkan kolom yang boleh diberikan"),
                          ("purposes", "sebutkan tujuan penggunaan yang disepakati"),
                          ("population_instansi", "sebutkan instansi yang datanya boleh "
                                                  "diberikan")):
        if not data.get(name):
            return name, message
    return None


# -- the routes ------------------------------------------------------------------------------

class AgencyEmployeeQuery(Schema):
    """`GET /api/agency/employees/<nip>?purpose=...&fields=...`"""

    purpose = fields.String(required=True, validate=validate.Length(1, 60), metadata={
        "description": "tujuan penggunaan (salah satu yang disepakati perjanjian)"})
    fields_wanted = fields.String(data_key="fields", attribute="fields",
                                  validate=validate.Length(1, 600), metadata={
                                      "description": "kolom yang diminta, dipisah koma (tanpa: "
                                                     "semua yang diizinkan)"})


class AgencyEmployeeSearch(AgencyEmployeeQuery):
    """`GET /api/agency/employees?purpose=...`: one page of the agreement's population."""

    instansi = fields.String(validate=validate.Length(2, 4))
    opd_id = fields.String(validate=validate.Regexp(_OPD))
    name = fields.String(validate=validate.Length(2, 100), metadata={
        "description": "awal nama (tanpa membedakan huruf besar/kecil)"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class AgencyGrant(Schema):
    """What the gateway hands records with an agency read: the client (the caller token
    vouches for the same account), its agreement and the checked cut of this request."""

    client_id = fields.String(required=True, validate=validate.Length(1, 64))
    client_kind = fields.String(required=True, validate=validate.OneOf(["kabkota", "agency"]))
    name = fields.String(allow_none=True)
    agreement_kind = fields.String(required=True, validate=validate.OneOf(["MoU", "PKS"]))
    agreement_number = fields.String(required=True, validate=validate.Length(1, 120))
    purpose = _purpose(required=True)
    fields_released = fields.List(fields.String(validate=validate.OneOf(AGENCY_FIELDS)),
                                  data_key="fields", attribute="fields", required=True,
                                  validate=validate.Length(1, len(AGENCY_FIELDS)))
    instansi = fields.List(fields.String(), required=True, validate=validate.Length(min=1))
    opds = fields.List(fields.String(), load_default=list)


class AgencyEmployee(Schema):
    """One employee as an agreement releases it: only the fields it allows (and asked for)."""

    class Meta:
        ordered = True

    nip = fields.String()
    locals().update({name: fields.Raw(allow_none=True) for name in AGENCY_FIELDS
                     if name != "nip"})


class AgencyEmployeePage(Schema):
    items = fields.List(fields.Nested(AgencyEmployee))
    limit = fields.Integer()
    offset = fields.Integer()
    has_more = fields.Boolean()
    disclosure_id = fields.String(allow_none=True, metadata={
        "description": "catatan pengungkapan jawaban ini (tanpa baris: tidak ada)"})
