"""How a stream type's state is rebuilt from its events, registered by the service domains that
own the stream types. Plain Python on purpose: a domain module registers its fold without
pulling the event store, the broker client or the database driver into the domain."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.eventstore import RecordedEvent

Fold = Callable[[dict, "RecordedEvent"], dict]
_FOLDS: dict[str, Fold] = {}


def register_fold(stream_type: str) -> Callable[[Fold], Fold]:
    """Register how a stream type's state is rebuilt from its events (in a service's domain)."""

    def register(fn: Fold) -> Fold:
        _FOLDS[stream_type] = fn
        return fn

    return register


def merge_fold(state: dict, event: Any) -> dict:
    """Default rebuild for stream types without their own fold: later payload fields win."""
    return {**state, **event.payload}


def fold_for(stream_type: str) -> Fold:
    return _FOLDS.get(stream_type, merge_fold)
