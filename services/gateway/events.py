"""Event types the gateway records. It keeps no business data; its log is the record of what
auditors read (Pergub 73/2020: auditor access is itself audited)."""

from marshmallow import Schema, fields

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("gateway", streams=(
    "auditor:<account_id>",  # what an auditor read through the gateway
))


@REGISTRY.event("AuditorRead", version=1)
class AuditorRead(Schema):
    method = fields.String(required=True)
    path = fields.String(required=True)
    query = fields.String(required=True)
