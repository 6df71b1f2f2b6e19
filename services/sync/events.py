"""Event types the sync service records in its log (past tense, versioned schemas)."""

from shared.eventtypes import EventRegistry

REGISTRY = EventRegistry("sync")
