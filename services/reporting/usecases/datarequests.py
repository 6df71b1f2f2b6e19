"""Data requests (permintaan data, issue 17 part 2): someone outside an agreement (another
agency, a researcher, an OPD asking for another OPD's data) asks for employees' data; BKD
approves or refuses it; each person concerned gives or refuses consent; the release is an
export (usecases/exports.py) of the consenting persons only, of the requested fields only,
signed by the approving administrator and downloadable by the requester until it expires.

Every step is an event on `datarequest:<id>`; `data_requests` and `data_request_consents` are
its current state, written in the same transaction under the request row's lock (consents of
many people arrive side by side: the lock orders their appends). Nothing about a person leaves
without the approved request and their own consent: the export reads the consents given
(`_rows` below); the release freezes them (an answer is refused once the request is
released), so the file, its disclosure and the consents agree. See
docs/design/data-requests.md."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

from services.reporting import domain
from services.reporting.exceptions import ConsentMissing, DataRequestStep, FourEyes
from services.reporting.usecases import exports, reports
from shared.auth import Principal
from shared.calendar import WIB
from shared.errors import NotFound
from shared.eventstore import NO_STREAM, NewEvent

STREAM_TYPE = "DataRequest"
REPORT = "data_request"
#: how long a release may be downloaded at most (never past the period of use)
RELEASE_DAYS = 14
#: who may see every request (BKD decides them, auditors check them)
OVERSEERS = ("administrator", "auditor")
_COLUMNS = ("request_id, requester, requester_roles, organisation, purpose, fields, population, "
            "period_from, period_until, state, decided_by, decision_reason, signer, export_id, "
            "version, created_at")


def stream(request_id: str) -> str:
    return f"datarequest:{request_id}"


# -- the release as a report only this module exports ------------------------------------------

def _params():
    from marshmallow import Schema, fields

    class ReleaseParams(Schema):
        request_id = fields.UUID(required=True)
        fields_ = fields.List(fields.String(), required=True, data_key="fields")

    return ReleaseParams


def _columns(params: dict) -> list[reports.Column]:
    return [reports.Column(key, domain.REQUESTABLE_FIELDS[key],
                           "date" if key in domain.DATE_FIELDS else "text")
            for key in params["fields_"]]


def _rows(uow, actor, params, today):
    """The requested fields of the persons who consented, read now (the consents in this
    transaction decide); the requester's own scope does not matter: the approval does."""
    picked = ", ".join(f"e.{key}" for key in params["fields_"]
                       if key in domain.REQUESTABLE_FIELDS)
    yield from reports.stream(
        uow, f"SELECT {picked} FROM {{schema}}.employees e JOIN "  # noqa: S608 - whitelisted columns
             "{schema}.data_request_consents c ON c.nip = e.nip WHERE c.request_id = "
             "%(r)s::uuid AND c.consent = 'given' ORDER BY e.nip", {"r": str(params["request_id"])})


def _subjects(uow, export_id: str, params) -> None:
    """The persons the release holds, whether or not the NIP is one of its columns."""
    uow.execute("INSERT INTO disclosed_subjects (export_id, nip) SELECT CAST(:e AS uuid), nip "
                "FROM data_request_consents WHERE request_id = CAST(:r AS uuid) AND consent = "
                "'given' ON CONFLICT DO NOTHING",
                {"e": export_id, "r": str(params["request_id"])})


def _disclosure(uow, export: dict) -> dict:
    """The release in records' disclosure log: channel data_request, to the requester (and
    the organisation they asked for), on the basis of the approved request."""
    request_id = str(export["params"]["request_id"])
    organisation = uow.execute("SELECT organisation FROM data_requests WHERE request_id = "
                               "CAST(:id AS uuid)", {"id": request_id}).scalar_one()
    return {"channel": "data_request",
            "recipient": {"kind": "requester", "id": export["account_id"],
                          "name": organisation[:200]},
            "basis": {"kind": "data_request", "reference": request_id},
            "reference": f"datarequest:{request_id} export:{export['export_id']}"}


exports.INTERNAL[REPORT] = reports.Report(
    name=REPORT, title="Data pegawai atas permintaan data (dengan persetujuan)", personal=True,
    official=True, params=_params(), columns=_columns, rows=_rows, subjects=_subjects,
    disclosure=_disclosure)


# -- the workflow ------------------------------------------------------------------------------

def file(uow, actor: Principal, data: dict) -> dict:
    """Record a data request of `actor` (a loaded DataRequestCreate)."""
    actor.require(*domain.REQUESTERS)
    request_id = str(uuid.uuid4())
    population = {k: v for k, v in data["population"].items()}
    if "nips" in population:
        population["nips"] = sorted(set(population["nips"]))
    uow.execute(
        "INSERT INTO data_requests (request_id, requester, requester_roles, organisation, "
        "purpose, fields, population, period_from, period_until, state) VALUES "
        "(CAST(:id AS uuid), :who, :roles, :org, :purpose, :fields, CAST(:pop AS jsonb), :f, "
        ":u, 'submitted')",
        {"id": request_id, "who": actor.account_id, "roles": sorted(actor.roles),
         "org": data["organisation"], "purpose": data["purpose"], "fields": data["columns"],
         "pop": json.dumps(population), "f": data["period_from"], "u": data["period_until"]})
    uow.append(stream(request_id), STREAM_TYPE, NO_STREAM, [NewEvent("DataRequestFiled", {
        "request_id": request_id, "requester": actor.account_id,
        "requester_roles": sorted(actor.roles), "organisation": data["organisation"],
        "purpose": data["purpose"], "fields": data["columns"], "population": population,
        "period_from": data["period_from"].isoformat(),
        "period_until": data["period_until"].isoformat()})], reason=data["purpose"])
    return view(uow, _row(uow, request_id))


def _row(uow, request_id, lock: bool = False) -> dict:
    try:
        key = str(uuid.UUID(str(request_id)))
    except ValueError:
        raise NotFound("permintaan data tidak ditemukan", field="request_id") from None
    row = uow.execute(f"SELECT {_COLUMNS} FROM data_requests WHERE request_id = "  # noqa: S608 - fixed columns
                      "CAST(:id AS uuid)" + (" FOR UPDATE" if lock else ""),
                      {"id": key}).mappings().first()
    if row is None:
        raise NotFound("permintaan data tidak ditemukan", field="request_id")
    return dict(row)


def _visible(actor: Principal, row: dict) -> dict:
    """The request for its requester, BKD and auditors; anyone else: not found."""
    if row["requester"] != actor.account_id and not actor.has(*OVERSEERS):
        raise NotFound("permintaan data tidak ditemukan", field="request_id")
    return row


def _counts(uow, request_id) -> dict[str, int]:
    """How many persons concerned gave, refused, or have not answered yet."""
    counts = dict(uow.execute(
        "SELECT consent, count(*) FROM data_request_consents WHERE request_id = "
        "CAST(:id AS uuid) GROUP BY consent", {"id": str(request_id)}).all())
    return {k: counts.get(k, 0) for k in (domain.CONSENT_GIVEN, domain.CONSENT_REFUSED,
                                          domain.CONSENT_PENDING)}


def view(uow, row: dict) -> dict:
    counts = _counts(uow, row["request_id"])
    export = None
    if row["export_id"]:
        made = exports.view(exports._row(uow, str(row["export_id"])))
        expired = made["expires_at"] and datetime.fromisoformat(made["expires_at"]) <= \
            datetime.now(UTC)
        export = {"export_id": made["export_id"], "format": made["format"],
                  "status": "expired" if expired else made["status"], "rows": made["rows"],
                  "sha256": made["sha256"], "document_id": made["document_id"],
                  "expires_at": made["expires_at"]}
    return {"request_id": str(row["request_id"]), "requester": row["requester"],
            "organisation": row["organisation"], "purpose": row["purpose"],
            "columns": list(row["fields"]), "population": row["population"],
            "period_from": row["period_from"].isoformat(),
            "period_until": row["period_until"].isoformat(), "state": row["state"],
            "decided_by": row["decided_by"], "decision_reason": row["decision_reason"],
            "consents": counts,
            "export": export, "version": row["version"],
            "created_at": row["created_at"].isoformat()}


def get(uow, actor: Principal, request_id) -> dict:
    return view(uow, _visible(actor, _row(uow, request_id)))


def listing(uow, actor: Principal, query: dict) -> list[dict]:
    """The caller's own requests, newest first; BKD and auditors: everyone's."""
    where, params = [], {"limit": query["limit"], "offset": query["offset"]}
    if not actor.has(*OVERSEERS):
        where.append("requester = :me")
        params["me"] = actor.account_id
    if query.get("state"):
        where.append("state = :state")
        params["state"] = query["state"]
    rows = uow.execute(
        f"SELECT {_COLUMNS} FROM data_requests "  # noqa: S608 - fixed pieces, bound values
        + (("WHERE " + " AND ".join(where)) if where else "")
        + " ORDER BY created_at DESC, request_id LIMIT :limit OFFSET :offset",
        params).mappings().all()
    return [view(uow, dict(r)) for r in rows]


def _step(uow, row: dict, event_type: str, payload: dict, reason: str,
          more: list[NewEvent] = ()) -> None:
    """Append `event_type` (and `more`) to the locked request and move its state."""
    why_not = domain.data_request_step(row["state"], event_type)
    if why_not:
        raise DataRequestStep(why_not, field="state", details={"state": row["state"]})
    events = [NewEvent(event_type, {"request_id": str(row["request_id"]), **payload}), *more]
    uow.append(stream(str(row["request_id"])), STREAM_TYPE, row["version"], events,
               reason=reason)
    state = domain.DATA_REQUEST_TRANSITIONS[event_type][1]
    uow.execute("UPDATE data_requests SET state = :s, version = version + :n, updated_at = "
                "now() WHERE request_id = CAST(:id AS uuid)",
                {"s": state, "n": len(events), "id": str(row["request_id"])})
    row["state"], row["version"] = state, row["version"] + len(events)


def _population(uow, population: dict) -> list[str]:
    """The NIPs of the employee list the population names, now."""
    where, params = ["true"], {}
    if population.get("opd_id"):
        where.append("opd_id = :opd")
        params["opd"] = population["opd_id"]
    if population.get("instansi"):
        where.append("instansi = :instansi")
        params["instansi"] = population["instansi"]
    if population.get("nips"):
        where.append("nip = ANY(:nips)")
        params["nips"] = list(population["nips"])
    return [r[0] for r in uow.execute(
        "SELECT nip FROM employees WHERE " + " AND ".join(where)  # noqa: S608 - fixed pieces
        + " ORDER BY nip LIMIT 5001", params).all()]


def decide(uow, actor: Principal, request_id, data: dict) -> dict:
    """BKD approves (each person concerned is asked for consent) or refuses, saying why."""
    actor.require("administrator")
    row = _row(uow, request_id, lock=True)
    why_not = domain.data_request_four_eyes(row["requester"], actor.account_id)
    if why_not:
        raise FourEyes(why_not, field="actor")
    if not data["approve"]:
        _step(uow, row, "DataRequestRefused", {"reason": data["reason"]}, data["reason"])
    else:
        nips = _population(uow, row["population"])
        if not nips:
            raise DataRequestStep("populasi yang diminta tidak memuat seorang pegawai pun",
                                  field="population", code="population_empty")
        if len(nips) > 5000:
            raise DataRequestStep("populasi lebih dari 5000 pegawai: persempit permintaannya",
                                  field="population", code="population_too_large")
        asked = [NewEvent("ConsentRequested", {
            "request_id": str(row["request_id"]), "nip": nip,
            "organisation": row["organisation"], "purpose": row["purpose"],
            "fields": list(row["fields"])}) for nip in nips]
        _step(uow, row, "DataRequestApproved", {"reason": data["reason"], "subjects": len(nips)},
              data["reason"], asked)
        uow.execute("INSERT INTO data_request_consents (request_id, nip) SELECT "
                    "CAST(:id AS uuid), unnest(CAST(:nips AS text[]))",
                    {"id": str(row["request_id"]), "nips": nips})
    uow.execute("UPDATE data_requests SET decided_by = :who, decision_reason = :why, signer = "
                ":signer WHERE request_id = CAST(:id AS uuid)",
                {"who": actor.account_id, "why": data["reason"], "id": str(row["request_id"]),
                 "signer": actor.account_id if data["approve"] else None})
    return view(uow, _row(uow, request_id))


def consents(uow, actor: Principal) -> list[dict]:
    """The consents asked of the caller (a pegawai, by NIP), pending first, newest first."""
    rows = uow.execute(
        "SELECT r.request_id, r.organisation, r.requester, r.purpose, r.fields, r.period_from, "
        "r.period_until, c.consent, c.answered_at FROM data_request_consents c JOIN "
        "data_requests r USING (request_id) WHERE c.nip = :me ORDER BY c.consent <> 'pending', "
        "r.created_at DESC LIMIT 200", {"me": actor.account_id}).mappings().all()
    return [{"request_id": str(r["request_id"]), "organisation": r["organisation"],
             "requester": r["requester"], "purpose": r["purpose"], "columns": list(r["fields"]),
             "period_from": r["period_from"].isoformat(),
             "period_until": r["period_until"].isoformat(), "consent": r["consent"],
             "answered_at": r["answered_at"].isoformat() if r["answered_at"] else None}
            for r in rows]


def answer(uow, actor: Principal, request_id, data: dict) -> dict:
    """The caller gives or refuses consent to a request that concerns them. An answer may be
    changed until the data is released; then the answers are frozen."""
    row = _row(uow, request_id, lock=True)
    mine = uow.execute("SELECT consent FROM data_request_consents WHERE request_id = "
                       "CAST(:id AS uuid) AND nip = :me",
                       {"id": str(row["request_id"]), "me": actor.account_id}).first()
    if mine is None:
        raise NotFound("tidak ada permintaan persetujuan ini untuk Anda", field="request_id")
    if row["state"] != domain.DR_APPROVED:
        raise DataRequestStep("persetujuan tidak dapat diubah: permintaan berstatus "
                              + domain.DR_STATE_NAMES.get(row["state"], row["state"]),
                              field="state", details={"state": row["state"]})
    consent = domain.CONSENT_GIVEN if data["consent"] else domain.CONSENT_REFUSED
    payload = {"request_id": str(row["request_id"]), "nip": actor.account_id}
    if consent == domain.CONSENT_REFUSED:
        payload["reason"] = data.get("reason") or None
    uow.append(stream(str(row["request_id"])), STREAM_TYPE, row["version"], [NewEvent(
        "ConsentGiven" if data["consent"] else "ConsentRefused", payload)],
        reason="persetujuan pegawai" if data["consent"] else "penolakan pegawai")
    uow.execute("UPDATE data_requests SET version = version + 1 WHERE request_id = "
                "CAST(:id AS uuid)", {"id": str(row["request_id"])})
    uow.execute("UPDATE data_request_consents SET consent = :c, answered_by = :me, reason = "
                ":why, answered_at = now() WHERE request_id = CAST(:id AS uuid) AND nip = :me",
                {"c": consent, "me": actor.account_id, "why": data.get("reason") or None,
                 "id": str(row["request_id"])})
    return next(c for c in consents(uow, actor) if c["request_id"] == str(row["request_id"]))


def release(uow, actor: Principal, request_id, data: dict, now: datetime | None = None) -> dict:
    """The requester asks for the file: an export of the consenting persons' requested
    fields, signed by the approving administrator, downloadable until the earlier of
    RELEASE_DAYS and the end of the period of use. Refused while nobody has consented."""
    row = _row(uow, request_id, lock=True)
    if row["requester"] != actor.account_id:
        raise NotFound("permintaan data tidak ditemukan", field="request_id")
    why_not = domain.data_request_step(row["state"], "DataRequestReleased")
    if why_not:
        raise DataRequestStep(why_not, field="state", details={"state": row["state"]})
    counts = _counts(uow, row["request_id"])
    if not counts[domain.CONSENT_GIVEN]:
        raise ConsentMissing("belum ada pegawai yang memberi persetujuan: tidak ada data yang "
                             "dapat diserahkan", field="consents", details=counts)
    now = now or datetime.now(UTC)
    # the period is in days as East Java counts them: it ends at midnight WIB
    end_of_period = datetime.combine(row["period_until"] + timedelta(days=1), time(), WIB)
    expires_at = min(now + timedelta(days=RELEASE_DAYS), end_of_period)
    if expires_at <= now:
        raise DataRequestStep("periode penggunaan data sudah berakhir", field="period_until",
                              code="period_ended")
    report = exports.INTERNAL[REPORT]
    export_id = exports.enqueue(
        uow, report, data["format"], {"request_id": str(row["request_id"]),
                                      "fields": list(row["fields"])},
        row["purpose"], actor, official=True, signer=row["signer"], expires_at=expires_at)
    _step(uow, row, "DataRequestReleased", {
        "export_id": export_id, "format": data["format"],
        **counts,
        "expires_at": expires_at.isoformat()}, row["purpose"])
    uow.execute("UPDATE data_requests SET export_id = CAST(:e AS uuid) WHERE request_id = "
                "CAST(:id AS uuid)", {"e": export_id, "id": str(row["request_id"])})
    return view(uow, _row(uow, request_id))


def authorize_file(uow, actor: Principal, request_id) -> dict:
    """The released file, for the requester only, until it expires (`410 export_expired`)."""
    row = _row(uow, request_id)
    if row["requester"] != actor.account_id or row["export_id"] is None:
        raise NotFound("berkas permintaan data tidak ditemukan", field="request_id")
    return exports.authorize_download(uow, actor, REPORT, str(row["export_id"]), internal=True)
