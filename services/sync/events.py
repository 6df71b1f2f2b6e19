"""Event types the sync service records in its log (past tense, versioned schemas).

One stream per region, `region:<BPS code>`: its onboarding and keys, every batch and every
event it sent (with the raw payload, before anything is applied), what became of each event
(applied, quarantined, skipped, deferred), gaps reported and silences. The raw payloads and NIPs
concern employees: the bus carries them without (the log keeps them)."""

from marshmallow import Schema, fields

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("sync", streams=("region:<BPS code>",))

_region = fields.String(required=True)
_reason = fields.String(required=True)


@REGISTRY.event("RegionOnboarded", version=1)
class RegionOnboarded(Schema):
    region = _region
    name = fields.String(required=True)
    key_id = fields.String(required=True)
    reason = _reason


@REGISTRY.event("RegionKeyAdded", version=1)
class RegionKeyAdded(Schema):
    region = _region
    key_id = fields.String(required=True)
    reason = _reason


@REGISTRY.event("RegionKeyRetired", version=1)
class RegionKeyRetired(Schema):
    region = _region
    key_id = fields.String(required=True)
    reason = _reason


@REGISTRY.event("SyncBatchReceived", version=1)
class SyncBatchReceived(Schema):
    region = _region
    batch_id = fields.String(required=True)
    key_id = fields.String(required=True)
    body_sha256 = fields.String(required=True)
    event_count = fields.Integer(required=True)


@REGISTRY.event("SyncEventReceived", version=1)
class SyncEventReceived(Schema):
    """An event as the region sent it (`raw`: its JSON text, exactly), before it is applied;
    `replaces`: the event id of a quarantined event this corrected one takes the place of."""

    region = _region
    batch_id = fields.String(required=True)
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    kind = fields.String(required=True)
    nip = fields.String(required=True)
    raw = fields.String(required=True)
    waiting_for_gap = fields.Boolean(required=True)
    replaces = fields.String(load_default=None, allow_none=True)


@REGISTRY.event("SyncEventDuplicated", version=1)
class SyncEventDuplicated(Schema):
    """The same event (region, sequence, event id) sent again: acknowledged, nothing done."""

    region = _region
    batch_id = fields.String(required=True)
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)


@REGISTRY.event("SyncEventRefused", version=1)
class SyncEventRefused(Schema):
    """Refused: another event id for a sequence held by an event that is not quarantined
    (`sequence_taken`), or an event id the region already used for another sequence
    (`event_id_reused`); the raw payload is kept here."""

    region = _region
    batch_id = fields.String(required=True)
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    code = fields.String(required=True)
    existing_event_id = fields.String(required=True)
    raw = fields.String(required=True)


@REGISTRY.event("SyncEventApplied", version=1)
class SyncEventApplied(Schema):
    """Records took the event (`outcome` "applied", or "duplicate" when records had already
    applied this event id, e.g. before a crash)."""

    region = _region
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    nip = fields.String(required=True)
    outcome = fields.String(required=True)
    employee_version = fields.Integer(load_default=None, allow_none=True)


@REGISTRY.event("SyncEventQuarantined", version=1)
class SyncEventQuarantined(Schema):
    """Records refused the event: the reasons, field by field, as records gave them."""

    region = _region
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    nip = fields.String(required=True)
    code = fields.String(required=True)
    status = fields.Integer(required=True)
    message = fields.String(required=True)
    field = fields.String(load_default=None, allow_none=True)
    details = fields.Raw(load_default=None, allow_none=True)


@REGISTRY.event("SyncApplyDeferred", version=1)
class SyncApplyDeferred(Schema):
    """Records could not be reached or failed transiently: the region's feed is tried again
    after `retry_seconds` (never quarantined for this)."""

    region = _region
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    code = fields.String(required=True)
    attempts = fields.Integer(required=True)
    retry_seconds = fields.Integer(required=True)


@REGISTRY.event("SyncQuarantineSkipped", version=1)
class SyncQuarantineSkipped(Schema):
    """An administrator decided a quarantined event is not to be applied."""

    region = _region
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    reason = _reason


@REGISTRY.event("SyncQuarantineRetried", version=1)
class SyncQuarantineRetried(Schema):
    """An administrator sent a quarantined event back to be applied as it is (e.g. once the
    data it depended on was corrected)."""

    region = _region
    sequence = fields.Integer(required=True)
    event_id = fields.String(required=True)
    reason = _reason


@REGISTRY.event("SyncGapReported", version=1)
class SyncGapReported(Schema):
    """Sequences still missing after the gap timeout: the region must send them again."""

    region = _region
    missing = fields.List(fields.List(fields.Integer()), required=True)
    held = fields.Integer(required=True)
    open_seconds = fields.Integer(required=True)


@REGISTRY.event("SyncGapClosed", version=1)
class SyncGapClosed(Schema):
    region = _region
    received_through = fields.Integer(required=True)


@REGISTRY.event("RegionWentSilent", version=1)
class RegionWentSilent(Schema):
    region = _region
    last_received_at = fields.String(load_default=None, allow_none=True)
    silent_seconds = fields.Integer(required=True)


@REGISTRY.event("SyncAmqpMessageRejected", version=1)
class SyncAmqpMessageRejected(Schema):
    """A batch published on the region's exchange that was refused (the AMQP dead letter): the
    refusal as the HTTP route would answer it, the signed headers and the body's digest."""

    region = _region
    code = fields.String(required=True)
    message = fields.String(required=True)
    field = fields.String(load_default=None, allow_none=True)
    headers = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    body_sha256 = fields.String(required=True)
    body_bytes = fields.Integer(required=True)


@REGISTRY.event("RegionResumed", version=1)
class RegionResumed(Schema):
    region = _region
    batch_id = fields.String(required=True)


# -- decisions on a reconciliation's differences, applying them, the berita acara -------------

_reconciliation = fields.String(required=True)


@REGISTRY.event("ReconciliationDecisionsRecorded", version=1)
class ReconciliationDecisionsRecorded(Schema):
    """One decision taken on the listed differences (`difference_ids`) of a reconciliation, by
    id or in bulk (`selector`: the kind and field chosen); `changed_ids`: those that had another
    decision before (a decision changes until it is applied). One event per decision a call
    takes."""

    region = _region
    reconciliation_id = _reconciliation
    decision = fields.String(required=True)
    difference_ids = fields.List(fields.Integer(), required=True)
    changed_ids = fields.List(fields.Integer(), required=True)
    note = fields.String(load_default=None, allow_none=True)
    selector = fields.Dict(load_default=None, allow_none=True)


@REGISTRY.event("ReconciliationApplyStarted", version=1)
class ReconciliationApplyStarted(Schema):
    """An administrator asked for the take_region decisions to be applied to the records."""

    region = _region
    reconciliation_id = _reconciliation
    to_apply = fields.Integer(required=True)


@REGISTRY.event("ReconciliationDecisionsApplied", version=1)
class ReconciliationDecisionsApplied(Schema):
    """A chunk of take_region decisions through records: each one's outcome (`applied`, with
    records' answer and the employee's version, or `refused` with records' code, status, field
    and message); `event_id` is the change's id at records (uuid5 of the reconciliation and the
    difference: the same on a re-run)."""

    region = _region
    reconciliation_id = _reconciliation
    outcomes = fields.List(fields.Dict(), required=True)


@REGISTRY.event("ReconciliationApplied", version=1)
class ReconciliationApplied(Schema):
    """Every take_region decision went through records: how many were applied and refused."""

    region = _region
    reconciliation_id = _reconciliation
    applied = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    figures = fields.Dict(required=True)


@REGISTRY.event("BeritaAcaraRequested", version=1)
class BeritaAcaraRequested(Schema):
    """An administrator asked for the meeting's berita acara: the reconciliation is closing (its
    decisions no longer change) while signing produces and signs it."""

    region = _region
    reconciliation_id = _reconciliation
    meeting_date = fields.String(required=True)
    place = fields.String(required=True)
    participants = fields.List(fields.Dict(), required=True)
    signer = fields.String(required=True)


@REGISTRY.event("BeritaAcaraRefused", version=1)
class BeritaAcaraRefused(Schema):
    """Signing refused the berita acara (e.g. the signer has no certificate): the
    reconciliation is back to applied, its decisions open again."""

    region = _region
    reconciliation_id = _reconciliation
    code = fields.String(required=True)
    message = fields.String(required=True)
    field = fields.String(load_default=None, allow_none=True)


@REGISTRY.event("ReconciliationClosed", version=1)
class ReconciliationClosed(Schema):
    """The meeting's berita acara is signed (signing's document): the reconciliation is over."""

    region = _region
    reconciliation_id = _reconciliation
    berita_acara = fields.String(required=True)
    number = fields.String(load_default=None, allow_none=True)
    meeting_date = fields.String(required=True)
    place = fields.String(required=True)
    participants = fields.List(fields.Dict(), required=True)
    signer = fields.String(required=True)
    figures = fields.Dict(required=True)

@REGISTRY.event("SnapshotReceived", version=1)
class SnapshotReceived(Schema):
    """A region's full snapshot of its employees, stored in the object store under its SHA-256
    (signed over that digest, checked as it streamed in); the loader reads it next."""

    region = _region
    snapshot_id = fields.String(required=True)
    key_id = fields.String(required=True)
    format = fields.String(required=True)
    sha256 = fields.String(required=True)
    size_bytes = fields.Integer(required=True)


@REGISTRY.event("SnapshotLoaded", version=1)
class SnapshotLoaded(Schema):
    """Every row of the snapshot is in snapshot_rows, with its problems; `invalid`: rows with
    at least one."""

    region = _region
    snapshot_id = fields.String(required=True)
    rows = fields.Integer(required=True)
    invalid = fields.Integer(required=True)
    columns = fields.List(fields.String(), required=True)


@REGISTRY.event("SnapshotFailed", version=1)
class SnapshotFailed(Schema):
    """The snapshot cannot be read as what it claims (not CSV, not UTF-8, unknown or missing
    columns, not JSON lines): `code` and `reason` say why; the region uploads a fixed file under
    a new snapshot id."""

    region = _region
    snapshot_id = fields.String(required=True)
    code = fields.String(required=True)
    reason = fields.String(required=True)


@REGISTRY.event("ReconciliationStarted", version=1)
class ReconciliationStarted(Schema):
    region = _region
    reconciliation_id = fields.String(required=True)
    snapshot_id = fields.String(required=True)
    year = fields.Integer(required=True)


@REGISTRY.event("ReconciliationReported", version=1)
class ReconciliationReported(Schema):
    """The report is ready: `figures` per kind, rows compared, and `differences_sha256`, the
    SHA-256 of the ordered differences list (docs/design/sync.md says how it is made), so the
    berita acara can name exactly the list the meeting decided on."""

    region = _region
    reconciliation_id = fields.String(required=True)
    figures = fields.Dict(required=True)
    differences_sha256 = fields.String(required=True)


@REGISTRY.event("ReconciliationFailed", version=1)
class ReconciliationFailed(Schema):
    region = _region
    reconciliation_id = fields.String(required=True)
    code = fields.String(required=True)
    reason = fields.String(required=True)


@REGISTRY.redactor("SyncEventReceived")
def _received_public(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k not in ("raw", "nip")}


@REGISTRY.redactor("SyncEventRefused")
def _refused_public(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "raw"}


@REGISTRY.redactor("SyncEventApplied")
def _applied_public(payload: dict) -> dict:
    return {k: v for k, v in payload.items() if k != "nip"}


@REGISTRY.redactor("SyncEventQuarantined")
def _quarantined_public(payload: dict) -> dict:
    # the reasons may quote the refused values
    return {k: v for k, v in payload.items() if k not in ("nip", "message", "details")}


@REGISTRY.redactor("ReconciliationDecisionsApplied")
def _outcomes_public(payload: dict) -> dict:
    # records' reasons may quote the refused values
    return {**payload, "outcomes": [{k: v for k, v in o.items() if k not in ("message",
                                                                           "details")}
                                    for o in payload["outcomes"]]}
