"""What leaves a service's log: the envelope of one event as other services may see it.

The outbox relay (bus) and the events feed (`events_feed`, catch-up subscriptions) both answer
with `public_envelope`, so what a consumer reads live and what it reads when it catches up
cannot differ: the same redactors withhold the same confidential parts."""

from __future__ import annotations

import dataclasses

from shared.eventstore import RecordedEvent
from shared.eventtypes import EventRegistry


def public_metadata(metadata: dict) -> dict:
    """The metadata of a redacted event. A reason may name what was withheld; and a pegawai
    acting on a confidential matter can only be the employee it concerns (only they and BKD
    may), so their identity would tell what the payload withholds: both stay in the log. BKD
    staff and services stay named."""
    public = {k: v for k, v in metadata.items() if k != "reason"}
    if public.get("actor_role") == "pegawai":
        for key in ("actor_id", "opd_id", "client_address"):
            public.pop(key, None)
    return public


def public_envelope(event: RecordedEvent, service: str, registry: EventRegistry | None) -> dict:
    """The envelope consumers receive: the payload lifted to its type's current schema version
    by the service's upcasters (a no-op for an event read already upcast), then confidential
    parts withheld by its redactors. A redacted envelope says so (`redacted: true`); its `hash`
    still names the full event in the log, so an auditor can find it there. Raises whatever an
    upcaster or redactor raises (the relay holds such an event, shared/relay.py)."""
    if registry is not None and event.event_type in registry:
        current = registry.get(event.event_type)
        if event.schema_version < current.version:
            event = dataclasses.replace(
                event, payload=current.upcast(event.payload, event.schema_version),
                schema_version=current.version)
    envelope = event.envelope(service)
    if registry is not None:
        envelope["payload"], envelope["redacted"] = registry.public_payload(
            event.event_type, event.payload)
        if envelope["redacted"]:
            envelope["metadata"] = public_metadata(event.metadata)
    return envelope
