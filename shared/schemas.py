"""Marshmallow schemas shared by every service's edges."""

from marshmallow import Schema, fields, validate


class HealthSchema(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded"]))
    database = fields.String(required=True)
    log_position = fields.Integer()


def load(schema: Schema, data) -> dict:
    """Validate `data` (unknown fields refused) or raise ValidationFailed naming the field."""
    from marshmallow import ValidationError

    from shared.errors import ValidationFailed

    if not isinstance(data, dict):
        raise ValidationFailed("badan permintaan harus berupa objek JSON", field="body")
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ValidationFailed.from_marshmallow(exc.messages) from None
