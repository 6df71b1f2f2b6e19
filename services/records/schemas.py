"""The records service's own edge checks, beside the RPC contract in shared/contracts/records.py:
the ones whose answers predate the contract and must stay as they are (the registration body
checked by the EmployeeRegistered fields, the `as_of` moment, the list of document hashes)."""

from __future__ import annotations

from datetime import datetime

from marshmallow import fields, post_load, validate

from services.records.events import EmployeeRegistered
from shared.errors import ValidationFailed
from shared.reference import PROVINCE, instansi
from shared.schemas import load

#: the most document hashes one ownership question may name
MAX_HASHES = 100


class Registration(EmployeeRegistered):
    """register_employee's body, checked as it always was: the EmployeeRegistered fields,
    dates given back as ISO text, as the event stores them; no instansi: the province's."""

    instansi = fields.String(load_default=PROVINCE, validate=validate.OneOf(sorted(instansi())))

    @post_load
    def _iso_dates(self, data, **_):
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


_REGISTRATION = Registration()  # built once: building a schema costs more than a load


def registration(payload) -> dict:
    """The checked registration body; a `reason` inside it is ignored (not even checked): the
    reason travels as its own argument."""
    if isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k != "reason"}
    return load(_REGISTRATION, payload)


def moment(as_of) -> datetime | None:
    """The record's point in time (`as_of`, ISO 8601), or None for now."""
    if as_of is None:
        return None
    try:
        return datetime.fromisoformat(str(as_of))
    except ValueError:
        raise ValidationFailed("as_of harus waktu ISO 8601", field="as_of") from None


def document_hashes(hashes) -> list[str]:
    """The hashes of one ownership question (at most MAX_HASHES, each cut to 64 characters)."""
    if not isinstance(hashes, list) or len(hashes) > MAX_HASHES:
        raise ValidationFailed("daftar hash dokumen (maksimal 100)", field="documents")
    return [str(h)[:64] for h in hashes]
