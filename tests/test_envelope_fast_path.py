"""The envelope check without marshmallow (shared/consumer.py `_plain_envelope`) gives exactly
what the schema gives, and leaves every other envelope to the schema (which refuses it)."""

import uuid

import pytest
from marshmallow import ValidationError

from shared.consumer import _ENVELOPE, ReceivedEvent, _plain_envelope


def envelope(**changes):
    base = {"source": "records", "position": 7, "event_id": str(uuid.uuid4()),
            "stream_id": "employee:199001012020121001", "stream_type": "Employee",
            "version": 2, "event_type": "HistoryEntryRecorded", "schema_version": 1,
            "payload": {"history": "pangkat", "entry": {"golongan": "III/b"}},
            "metadata": {"actor_id": "admin"}, "recorded_at": "2026-12-05T23:00:00.000000Z",
            "hash": "ab" * 32, "routing": "ignored"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def by_schema(value):
    data = _ENVELOPE.load(value)
    data["event_id"] = str(data["event_id"])
    return ReceivedEvent(**data)


@pytest.mark.parametrize("changes", [
    {}, {"redacted": True}, {"redacted": False}, {"routing": ...},
    {"event_id": str(uuid.uuid4()).upper()}, {"payload": {}, "metadata": {}},
])
def test_a_plain_envelope_gives_what_the_schema_gives(changes):
    value = envelope(**changes)
    assert _plain_envelope(value) is not None
    fast = ReceivedEvent.from_envelope(value)
    assert fast == by_schema(value)
    assert fast.payload is not value["payload"]  # a copy, as the schema makes one


@pytest.mark.parametrize("changes", [
    {"position": "7"}, {"position": True}, {"position": 7.0}, {"version": None},
    {"event_id": "not-a-uuid"}, {"payload": []}, {"metadata": None}, {"hash": ...},
    {"source": 35}, {"redacted": "yes"},
])
def test_anything_else_is_left_to_the_schema(changes):
    value = envelope(**changes)
    assert _plain_envelope(value) is None
    try:
        expected = by_schema(value)
    except ValidationError:
        with pytest.raises(ValidationError):
            ReceivedEvent.from_envelope(value)
    else:
        assert ReceivedEvent.from_envelope(value) == expected
