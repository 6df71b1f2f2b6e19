"""Event types the verification service records in its log (past tense, versioned schemas)."""

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("verification")
