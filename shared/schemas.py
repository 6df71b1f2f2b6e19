"""Marshmallow schemas shared by every service's edges."""

from marshmallow import Schema, fields, validate


class HealthSchema(Schema):
    service = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(["ok", "degraded"]))
    database = fields.String(required=True)
    log_position = fields.Integer()
