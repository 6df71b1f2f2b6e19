"""Contract of the disclosure log (issue 17 part 3), owned by the records service: every release
of personal data - an agency API answer, an approved data request, an export, an auditor's read
- is recorded as `PersonalDataDisclosed` (records' log, stream `disclosure:<uuid>`) naming who
received what and why (docs/design/sharing.md "Disclosure log").

`records.record_disclosure(payload)` takes a `DisclosureRecord`; it is for services that release
data (shared/brokerauth.py RPC_CALLS; the caller acts as itself, role `system`). A caller records
*before* it answers and answers nothing if the call fails. `disclosure_id` makes a retry safe:
the same id is one disclosure (the first one recorded is answered again)."""

from marshmallow import Schema, fields, validate

#: how the data left: the agency web services, an approved data request, a report export, an
#: auditor reading a person's record
CHANNELS = ("agency_api", "data_request", "export", "auditor_read")
#: who received it
RECIPIENT_KINDS = ("kabkota", "agency", "account", "auditor", "requester")
#: on what basis: a cooperation agreement (MoU/PKS and its number), an approved data request
#: (its id), an export of a report (its id), the auditor's mandate
BASIS_KINDS = ("MoU", "PKS", "data_request", "export", "audit")
MAX_NIPS = 200_000  # an export of every employee of the province and its regions
NIP = fields.String(validate=validate.Regexp(r"^\d{18}$", error="NIP 18 digit angka"))
_FIELD = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_.]{0,59}$",
                                                error="nama kolom: huruf kecil, angka, _ ."))


class Recipient(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(RECIPIENT_KINDS))
    id = fields.String(required=True, validate=validate.Length(1, 120))
    name = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(1, 200))


class Basis(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(BASIS_KINDS))
    reference = fields.String(required=True, validate=validate.Length(1, 200), metadata={
        "description": "nomor MoU/PKS, id permintaan data, id ekspor, akun auditor"})


class DisclosureRecord(Schema):
    """`records.record_disclosure(payload)`: one release of personal data."""

    disclosure_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "given by the caller for a safe retry (e.g. the export id)"})
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    recipient = fields.Nested(Recipient, required=True)
    basis = fields.Nested(Basis, required=True)
    purpose = fields.String(required=True, validate=validate.Length(3, 500))
    # (the class attribute cannot be called `fields`: it would shadow marshmallow's module)
    fields_released = fields.List(_FIELD, data_key="fields", attribute="fields", required=True,
                                  validate=validate.Length(1, 200))
    nips = fields.List(NIP, required=True, validate=validate.Length(1, MAX_NIPS))
    reference = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(1, 300), metadata={
                                  "description": "what was released: a route, export:<id>, "
                                                 "request:<id>"})


class RecordedDisclosure(Schema):
    disclosure_id = fields.String()
    channel = fields.String()
    subjects = fields.Integer(metadata={"description": "berapa pegawai yang datanya dibuka"})
    disclosed_at = fields.String()
    recorded = fields.Boolean(metadata={"description": "false: id ini sudah tercatat"})


class _Page(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500, error="1-500"))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000,
                                                                    error="0-100000"))


class MyDisclosureQuery(_Page):
    """`GET /api/me/disclosures`: the releases of the pegawai's own data, newest first."""


class DisclosureQuery(_Page):
    """`GET /api/disclosures`: BKD and auditors, newest first, with filters."""

    nip = NIP
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    recipient_kind = fields.String(validate=validate.OneOf(RECIPIENT_KINDS))
    recipient_id = fields.String(validate=validate.Length(1, 120))
    purpose = fields.String(validate=validate.Length(1, 500))
    since = fields.Date(metadata={"description": "sejak tanggal (WIB), inklusif"})
    until = fields.Date(metadata={"description": "sampai tanggal (WIB), inklusif"})


class DisclosureReportQuery(Schema):
    """`GET /api/disclosures/report`: BKD's report per recipient and purpose."""

    channel = fields.String(validate=validate.OneOf(CHANNELS))
    recipient_kind = fields.String(validate=validate.OneOf(RECIPIENT_KINDS))
    since = fields.Date()
    until = fields.Date()


class _RecipientView(Schema):
    kind = fields.String()
    id = fields.String()
    name = fields.String(allow_none=True)


class _BasisView(Schema):
    kind = fields.String()
    reference = fields.String()


class MyDisclosure(Schema):
    """One release of the pegawai's data: who received it, when, which fields, why."""

    disclosure_id = fields.String()
    channel = fields.String()
    recipient = fields.Nested(_RecipientView)
    basis = fields.Nested(_BasisView)
    purpose = fields.String()
    fields_released = fields.List(fields.String(), data_key="fields", attribute="fields")
    disclosed_at = fields.String()


class Disclosure(MyDisclosure):
    reference = fields.String(allow_none=True)
    subjects = fields.Integer()
    actor_id = fields.String(allow_none=True, metadata={
        "description": "proses atau akun yang mencatat pengungkapan"})


class DisclosureReportRow(Schema):
    recipient = fields.Nested(_RecipientView)
    purpose = fields.String()
    channel = fields.String()
    disclosures = fields.Integer()
    subjects = fields.Integer(metadata={"description": "pegawai berbeda yang datanya dibuka"})
    first_at = fields.String()
    last_at = fields.String()


class DisclosureReport(Schema):
    title = fields.String()
    filters = fields.Dict()
    per_recipient = fields.List(fields.Nested(DisclosureReportRow))
    per_purpose = fields.List(fields.Dict())
    total_disclosures = fields.Integer()
    generated_at = fields.String()
