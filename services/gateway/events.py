"""Event types the gateway records (it keeps no business data; its log is for access events)."""

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("gateway")
