"""Marshmallow schemas shared by every service's edges."""

from marshmallow import Schema, fields, validate


class RelayLagSchema(Schema):
    """How far the outbox relay of a service's log is behind (shared/relayops.py)."""

    head = fields.Integer(required=True)
    position = fields.Integer(required=True)
    lag = fields.Integer(required=True)
    held = fields.Integer(required=True)
    leader = fields.Boolean(required=True)


class HealthSchema(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded"]))
    database = fields.String(required=True)
    log_position = fields.Integer()
    relay = fields.Nested(RelayLagSchema)
    #: the read models a service keeps and whether they keep up (reporting: usecases/watch.py)
    projections = fields.List(fields.Dict())


def _nul_at(value, where: str) -> str | None:
    """Where a NUL character is in `value` (a key or a text), else None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else (
        enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        inner = f"{where}.{key}" if where else str(key)
        found = _nul_at(key, inner) if isinstance(key, str) else None
        found = found or _nul_at(item, inner)
        if found:
            return found
    return None


def load(schema: Schema, data) -> dict:
    """Validate `data` (unknown fields refused) or raise ValidationFailed naming the field. A NUL
    character is refused anywhere: PostgreSQL stores none, in text or in jsonb."""
    from marshmallow import ValidationError

    from shared.errors import ValidationFailed

    if not isinstance(data, dict):
        raise ValidationFailed("badan permintaan harus berupa objek JSON", field="body")
    nul = _nul_at(data, "")
    if nul:
        raise ValidationFailed(f"{nul}: karakter NUL (\\u0000) tidak diizinkan", field=nul)
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed.from_marshmallow(exc.messages) from None
