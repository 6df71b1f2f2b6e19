"""Marshmallow schemas for the gateway's HTTP bodies."""

from marshmallow import Schema, fields

from shared.schemas import HealthSchema


class ProblemSchema(Schema):
    """RFC 7807 problem details, plus our stable `code` and the offending `field`."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True)
    field = fields.String(allow_none=True)
    instance = fields.String()
    request_id = fields.String()
    errors = fields.Raw()


class ReadinessSchema(Schema):
    """What anyone may see of the backends (the route needs no login): each one's status and
    database, not its log position or its relay's lag, leader and held events (those are for
    operators: `simasn health`, `simasn relay status`)."""

    status = fields.String(required=True)
    services = fields.Dict(keys=fields.String(), values=fields.Nested(
        HealthSchema(only=("service", "status", "database"))))


class OpdSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
